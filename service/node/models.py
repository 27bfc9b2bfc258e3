"""The node's tables. Alembic (`migrations/`) is the only way they are created or changed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.db import NAMING_CONVENTION, utcnow


class NodeBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class NodeIdentity(NodeBase):
    """The one row that says who this node is. Its private key lives outside the database."""

    __tablename__ = "node_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(NodeBase):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str] = mapped_column(String(200))
    methodology: Mapped[str | None] = mapped_column(String(200))
    collection_period: Mapped[str | None] = mapped_column(String(100))
    licence: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200))
    release_level: Mapped[int] = mapped_column(Integer)
    discovery_level: Mapped[int] = mapped_column(Integer)
    # Already-published statistics (an import of official data): cells without n may be released.
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    # The version readers see; switched in the same transaction that stores a new version.
    current_version_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetVersion(NodeBase):
    """One ingest of a dataset. The dataset's `current_version_id` names the one readers see."""

    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source_file: Mapped[str] = mapped_column(String(500))
    source_format: Mapped[str] = mapped_column(String(20))
    source_sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    rows_excluded: Mapped[int] = mapped_column(Integer, default=0)
    loaded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Observation(NodeBase):
    """One aggregate cell. `table_key` groups the cells that disclosure control judges together."""

    __tablename__ = "observation"
    __table_args__ = (
        Index("ix_observation_version_indicator_area", "version_id", "indicator", "ref_area"),
        Index("ix_observation_version_table", "version_id", "table_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), index=False
    )
    source_row: Mapped[int] = mapped_column(Integer)
    indicator: Mapped[str] = mapped_column(String(20))
    series: Mapped[str] = mapped_column(String(100), default="")
    ref_area: Mapped[str] = mapped_column(String(3))
    sub_area: Mapped[str] = mapped_column(String(20), default="")
    time_period: Mapped[str] = mapped_column(String(20))
    year_start: Mapped[int] = mapped_column(Integer)
    year_end: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(20), default="_T")
    age: Mapped[str] = mapped_column(String(20), default="_T")
    disability_status: Mapped[str] = mapped_column(String(20), default="_T")
    urbanisation: Mapped[str] = mapped_column(String(20), default="_T")
    income_wealth_quantile: Mapped[str] = mapped_column(String(20), default="_T")
    group_code: Mapped[str] = mapped_column(String(40), default="_T")
    # Dimensions broken down ("AGE+SEX"; "" for a headline total): coverage groups on it.
    breakdown: Mapped[str] = mapped_column(String(120), default="")
    table_key: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40))
    n: Mapped[int | None] = mapped_column(Integer)
    numerator: Mapped[float | None] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    obs_status: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(NodeBase):
    """Append-only, hash-chained: `entry_hash` covers this entry and the previous entry's hash."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    caller: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    cells_returned: Mapped[int] = mapped_column(Integer, default=0)
    cells_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(NodeBase):
    """One row: the last sequence number and hash. Updating it first serialises appenders."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))
