"""authorization server: OAuth clients

Revision ID: a0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "a0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("secret_hash", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_token_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('secretariat', 'government', 'icso')", name=op.f("ck_oauth_client_role")
        ),
        sa.CheckConstraint(
            "(role = 'icso' AND organisation IS NOT NULL) "
            "OR (role <> 'icso' AND organisation IS NULL)",
            name=op.f("ck_oauth_client_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_client_client_id")),
    )


def downgrade() -> None:
    op.drop_table("oauth_client")
