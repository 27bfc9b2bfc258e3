"""The coordinator's tables: node registry, reference frames, official coverage.

Alembic (`migrations/`, branch "coordinator") is the only way they are created or changed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CoordinatorBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class NodeRecord(CoordinatorBase):
    """A node the secretariat registered, the key it presented, and how it last answered."""

    __tablename__ = "registered_node"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    # The Ed25519 public key as a JWK: every answer of the node is verified against it.
    public_key: Mapped[dict[str, str]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_status: Mapped[str | None] = mapped_column(String(12))
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    last_message: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_keys: Mapped[list[RetiredKeyRecord]] = relationship(
        back_populates="node", cascade="all, delete-orphan", lazy="selectin"
    )


class RetiredKeyRecord(CoordinatorBase):
    """A node's previous key after a rotation the coordinator accepted: answers signed by it
    still verify until `valid_until` (the overlap the node announced)."""

    __tablename__ = "retired_node_key"

    node_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("registered_node.node_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[dict[str, str]] = mapped_column(JSON)
    retired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[NodeRecord] = relationship(back_populates="retired_keys")


class ReferenceFrame(CoordinatorBase):
    """A named frame for gap analysis: the cross product of its members per dimension."""

    __tablename__ = "reference_frame"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferenceFrameMember(CoordinatorBase):
    """One code of one dimension (`indicator`, `ref_area`, `group`) of a frame."""

    __tablename__ = "reference_frame_member"

    frame_slug: Mapped[str] = mapped_column(
        String(100), ForeignKey("reference_frame.slug", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(100), primary_key=True)


class OfficialCoverage(CoordinatorBase):
    """What official statistics already cover, one row per indicator × area × group × breakdown
    and source; loaded by the secretariat, laid beside node coverage in gap analysis."""

    __tablename__ = "official_coverage"
    __table_args__ = (
        UniqueConstraint(
            "source", "indicator", "series", "ref_area", "sub_area", "group", "breakdown",
            name="uq_official_coverage_cell",
        ),
        Index("ix_official_coverage_indicator_area", "indicator", "ref_area"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    indicator: Mapped[str] = mapped_column(String(20))
    series: Mapped[str] = mapped_column(String(100), default="")
    ref_area: Mapped[str] = mapped_column(String(3))
    sub_area: Mapped[str] = mapped_column(String(20), default="")
    group: Mapped[str] = mapped_column(String(40), default="_T")
    # Dimensions broken down, joined by "+" in a fixed order, as a node's coverage says it.
    breakdown: Mapped[str] = mapped_column(String(200), default="")
    first_year: Mapped[int | None] = mapped_column(Integer)
    latest_year: Mapped[int | None] = mapped_column(Integer)
    cell_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
