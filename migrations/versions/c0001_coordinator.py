"""coordinator registry, reference frames, official coverage

Revision ID: c0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "c0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("coordinator",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registered_node",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.String(length=12), nullable=True),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_registered_node")),
        sa.UniqueConstraint("url", name=op.f("uq_registered_node_url")),
    )
    op.create_table(
        "reference_frame",
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_reference_frame")),
    )
    op.create_table(
        "reference_frame_member",
        sa.Column("frame_slug", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_slug"],
            ["reference_frame.slug"],
            name=op.f("fk_reference_frame_member_frame_slug_reference_frame"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "frame_slug", "dimension", "code", name=op.f("pk_reference_frame_member")
        ),
    )
    op.create_table(
        "official_coverage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("indicator", sa.String(length=20), nullable=False),
        sa.Column("series", sa.String(length=100), nullable=False),
        sa.Column("ref_area", sa.String(length=3), nullable=False),
        sa.Column("sub_area", sa.String(length=20), nullable=False),
        sa.Column("group", sa.String(length=40), nullable=False),
        sa.Column("breakdown", sa.String(length=200), nullable=False),
        sa.Column("first_year", sa.Integer(), nullable=True),
        sa.Column("latest_year", sa.Integer(), nullable=True),
        sa.Column("cell_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_official_coverage")),
        sa.UniqueConstraint(
            "source",
            "indicator",
            "series",
            "ref_area",
            "sub_area",
            "group",
            "breakdown",
            name="uq_official_coverage_cell",
        ),
    )
    op.create_index(
        "ix_official_coverage_indicator_area",
        "official_coverage",
        ["indicator", "ref_area"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_official_coverage_indicator_area", table_name="official_coverage")
    op.drop_table("official_coverage")
    op.drop_table("reference_frame_member")
    op.drop_table("reference_frame")
    op.drop_table("registered_node")
