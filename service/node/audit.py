"""The node's audit log: append-only, each entry chained to the hash of the one before.

Appending updates the one `audit_head` row first, so concurrent appenders (threads, processes,
replicas over one PostgreSQL) queue on that row and the chain never forks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.node.models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened: who (`caller` at `level`), what kind of action, and what it returned."""

    caller: str
    level: str
    action: str
    operation: str
    detail: Mapping[str, object] = field(default_factory=dict)
    cells_returned: int = 0
    cells_suppressed: int = 0


def entry_hash(prev_hash: str, seq: int, at: dt.datetime, record: AuditRecord) -> str:
    body = {
        "seq": seq,
        "at": _timestamp(at),
        "caller": record.caller,
        "level": record.level,
        "action": record.action,
        "operation": record.operation,
        "detail": json.loads(_canonical(record.detail)),
        "cells_returned": record.cells_returned,
        "cells_suppressed": record.cells_suppressed,
    }
    return hashlib.sha256((prev_hash + _canonical(body)).encode("utf-8")).hexdigest()


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _timestamp(at: dt.datetime) -> str:
    # Databases differ in whether they keep the zone; hash the UTC instant to the microsecond.
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append(session: Session, record: AuditRecord) -> AuditEntry:
    """Add one entry in the session's transaction; the caller commits it with its own work."""
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(
        select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)
    ).one()
    seq, prev_hash = head.seq, head.entry_hash
    at = dt.datetime.now(dt.UTC)
    digest = entry_hash(prev_hash, seq, at, record)
    entry = AuditEntry(
        seq=seq,
        at=at,
        caller=record.caller,
        level=record.level,
        action=record.action,
        operation=record.operation,
        detail=_canonical(record.detail),
        cells_returned=record.cells_returned,
        cells_suppressed=record.cells_suppressed,
        prev_hash=prev_hash,
        entry_hash=digest,
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    problems: Sequence[ChainProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, batch_size: int = 5000) -> Verification:
    """Recompute the chain: finds altered entries, removed entries and a truncated tail."""
    problems: list[ChainProblem] = []
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(batch_size)
    for entry in rows.scalars():
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                ChainProblem(expected_seq, f"missing (next entry present is {entry.seq})")
            )
        if entry.prev_hash != prev_hash:
            problems.append(ChainProblem(entry.seq, "does not follow the entry before it"))
        if altered(entry):
            problems.append(ChainProblem(entry.seq, "altered: its content does not match its hash"))
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        problems.append(ChainProblem(0, "the chain head is missing"))
    elif head.seq != expected_seq - 1 or head.entry_hash != prev_hash:
        problems.append(
            ChainProblem(head.seq, f"removed: the log ends at entry {expected_seq - 1}")
        )
    return Verification(entries=count, problems=problems)


def altered(entry: AuditEntry) -> bool:
    """Whether a stored entry's content no longer matches the hash it was chained with."""
    record = AuditRecord(
        caller=entry.caller,
        level=entry.level,
        action=entry.action,
        operation=entry.operation,
        detail=json.loads(entry.detail),
        cells_returned=entry.cells_returned,
        cells_suppressed=entry.cells_suppressed,
    )
    return entry_hash(entry.prev_hash, entry.seq, entry.at, record) != entry.entry_hash


def recent(session: Session, limit: int = 50) -> list[AuditEntry]:
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit))
    return list(rows.scalars())
