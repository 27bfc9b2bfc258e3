"""Cells a caller may read, a page at a time, with disclosure control applied per table.

Suppression is decided over every cell of each table a page touches (same dataset version,
indicator, series, area, period and unit: `Observation.table_key`), never over the page or the
filter alone, so narrowing a filter or paging can never reveal a cell that the full table hides.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.errors import BadRequest
from service.node.decision_cache import DecisionCache, TableIdentity
from service.node.disclosure import (
    DIMENSIONS,
    CellIn,
    Decision,
    DisclosurePolicy,
    LevelRule,
    Reason,
    decide_table,
)
from service.node.filters import CellFilter
from service.node.models import Dataset, DatasetVersion, Observation


class ReleasedCell(NamedTuple):
    """One cell as a caller receives it: a value, or suppressed with a reason — never both."""

    id: int
    dataset: str
    organisation: str
    indicator: str
    series: str
    ref_area: str
    sub_area: str
    time_period: str
    sex: str
    age: str
    disability_status: str
    urbanisation: str
    income_wealth_quantile: str
    group: str
    unit: str
    value: float | None
    n: int | None
    numerator: float | None
    lower: float | None
    upper: float | None
    obs_status: str | None
    note: str | None
    suppression: Reason | None

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None


@dataclass(frozen=True, slots=True)
class CellPage:
    cells: Sequence[ReleasedCell]
    has_next_page: bool
    end_cursor: str | None
    total_count: int

    @property
    def suppressed_count(self) -> int:
        return sum(1 for cell in self.cells if cell.suppressed)


def encode_cursor(observation_id: int) -> str:
    return base64.urlsafe_b64encode(f"cell:{observation_id}".encode()).decode("ascii")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "cell" or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadRequest("`after` is not a cursor this node issued") from None


_HEAD = (
    Observation.id,
    Observation.version_id,
    Observation.table_key,
    Dataset.slug,
    Dataset.organisation,
    Dataset.published,
    # What identifies a version's cells for cached decisions (see `decision_cache`).
    DatasetVersion.created_at.label("version_stored_at"),
    DatasetVersion.source_sha256.label("version_sha256"),
)
# Released as stored, in `ReleasedCell`'s order, after its id, dataset and organisation.
_KEY = tuple(
    getattr(Observation, name)
    for name in ("indicator", "series", "ref_area", "sub_area", "time_period", *DIMENSIONS, "unit")
)
_FIGURES = (
    Observation.value,
    Observation.n,
    Observation.numerator,
    Observation.lower,
    Observation.upper,
    Observation.obs_status,
    Observation.note,
)
_COLUMNS = (*_HEAD, *_KEY, *_FIGURES)
# Positions in a page row, which is read by position: a thousand rows by 23 names is slow.
_ID, _VERSION, _TABLE, _SLUG, _ORGANISATION = range(5)
_KEY_SLICE = slice(len(_HEAD), len(_HEAD) + len(_KEY))
# (Unpacking fails at import if the figures do not end with exactly these four.)
_LOWER, _UPPER, _OBS_STATUS, _NOTE = range(len(_HEAD) + len(_KEY) + 3, len(_COLUMNS))


def _visible(level: Level, cell_filter: CellFilter) -> list[ColumnElement[bool]]:
    return [
        Dataset.release_level <= int(level),
        *cell_filter.conditions(),
    ]


def read_page(
    session: Session,
    *,
    level: Level,
    policy: DisclosurePolicy,
    cell_filter: CellFilter,
    first: int,
    after: str | None = None,
    decision_cache: DecisionCache | None = None,
) -> CellPage:
    """One page of cells visible at `level`, in a stable order, with disclosure control applied.

    With `decision_cache`, the decisions of tables seen before are reused instead of read and
    decided again.
    """
    if first < 0:
        raise BadRequest("`first` must not be negative")
    where = _visible(level, cell_filter)
    joined = (
        select(*_COLUMNS)
        .join(Dataset, Dataset.current_version_id == Observation.version_id)
        .join(DatasetVersion, DatasetVersion.id == Observation.version_id)
    )
    query = joined.where(*where)
    if after is not None:
        query = query.where(Observation.id > decode_cursor(after))
    # Executed as Core statements on the session's connection: the ORM would build every row
    # again in Python (`loading.instances`) although no entity is selected.
    connection = session.connection()
    rows = connection.execute(query.order_by(Observation.id).limit(first + 1)).all()
    total = connection.execute(
        select(func.count())
        .select_from(Observation)
        .join(Dataset, Dataset.current_version_id == Observation.version_id)
        .where(*where)
    ).scalar_one()
    page = rows[:first]
    decisions = _decisions(session, page, policy.for_level(level), decision_cache)
    cells = [_released(row, decisions[row[_VERSION], row[_TABLE]][row[_ID]]) for row in page]
    return CellPage(
        cells=cells,
        has_next_page=len(rows) > first,
        end_cursor=encode_cursor(page[-1].id) if page else None,
        total_count=total,
    )


def iterate_cells(
    session: Session,
    *,
    level: Level,
    policy: DisclosurePolicy,
    cell_filter: CellFilter,
    page_size: int = 2000,
    decision_cache: DecisionCache | None = None,
) -> Iterator[ReleasedCell]:
    """Every visible cell, page by page (downloads): memory bounded by the page size."""
    after: str | None = None
    while True:
        page = read_page(
            session,
            level=level,
            policy=policy,
            cell_filter=cell_filter,
            first=page_size,
            after=after,
            decision_cache=decision_cache,
        )
        yield from page.cells
        if not page.has_next_page:
            return
        after = page.end_cursor


def _decisions(
    session: Session,
    page: Sequence[Row[Any]],
    rule: LevelRule,
    cache: DecisionCache | None,
) -> dict[tuple[int, str], Mapping[int, Decision]]:
    """Decisions of every table the page touches, by (version id, table key), then by cell id.

    A table key names an indicator, series, area, period and unit, which several datasets may
    share: a table is one key within one version.
    """
    tables: dict[tuple[int, str], TableIdentity] = {}
    for row in page:
        if (row[_VERSION], row[_TABLE]) not in tables:
            tables[row.version_id, row.table_key] = TableIdentity(
                version_id=row.version_id,
                version_stored_at=row.version_stored_at,
                version_sha256=row.version_sha256,
                table_key=row.table_key,
                rule=rule,
                published=bool(row.published),
            )
    found = cache.get(tables.values()) if cache is not None else {}
    decided: dict[tuple[int, str], Mapping[int, Decision]] = {
        key: found[table] for key, table in tables.items() if table in found
    }
    missing: dict[int, list[TableIdentity]] = defaultdict(list)
    for key, table in tables.items():
        if key not in decided:
            missing[table.version_id].append(table)
    for version_id, wanted in missing.items():
        published = wanted[0].published
        by_key = {table.table_key: table for table in wanted}
        for table_key, cells in _read_tables(session, version_id, sorted(by_key)).items():
            decisions = {d.id: d for d in decide_table(cells, rule, published=published)}
            decided[version_id, table_key] = decisions
            if cache is not None:
                cache.put(by_key[table_key], decisions)
    return decided


def _read_tables(session: Session, version_id: int, keys: Sequence[str]) -> dict[str, list[CellIn]]:
    """Every cell of the tables `keys` of one version, grouped by table key."""
    groups: dict[str, list[CellIn]] = defaultdict(list)
    connection = session.connection()
    for chunk in _chunks(keys, 500):
        table_rows = connection.execute(
            select(
                Observation.id,
                Observation.table_key,
                Observation.value,
                Observation.unit,
                Observation.n,
                Observation.numerator,
                *(getattr(Observation, name) for name in DIMENSIONS),
            ).where(Observation.version_id == version_id, Observation.table_key.in_(chunk))
        ).all()
        for t in table_rows:
            dims = tuple(getattr(t, name) for name in DIMENSIONS)
            groups[t.table_key].append(CellIn(t.id, dims, t.value, t.unit, t.n, t.numerator))
    return groups


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _released(row: Row[tuple[object, ...]], decision: Decision) -> ReleasedCell:
    head = (row[_ID], row[_SLUG], row[_ORGANISATION], *row[_KEY_SLICE])
    if decision.reason is None:
        figures = (decision.value, decision.n, decision.numerator, *row[_LOWER:])
        return ReleasedCell._make((*head, *figures, None))
    # Bounds, numerators and notes would let a caller rebuild a suppressed value: they go with it.
    withheld = (None, None, None, None, None, row[_OBS_STATUS], None)
    return ReleasedCell._make((*head, *withheld, decision.reason))
