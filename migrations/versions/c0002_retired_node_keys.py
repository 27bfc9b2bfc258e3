"""retired node keys: a node's previous key stays valid during its announced overlap

Revision ID: c0002
Revises: c0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0002"
down_revision: str | Sequence[str] | None = "c0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retired_node_key",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.JSON(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["registered_node.node_id"],
            name=op.f("fk_retired_node_key_node_id_registered_node"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", "key_id", name=op.f("pk_retired_node_key")),
    )


def downgrade() -> None:
    op.drop_table("retired_node_key")
