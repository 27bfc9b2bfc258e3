"""Cells a caller may read, a page at a time, with disclosure control applied per table.

Suppression is decided over every cell of each table a page touches (same dataset version,
indicator, series, area, period and unit: `Observation.table_key`), never over the page or the
filter alone, so narrowing a filter or paging can never reveal a cell that the full table hides.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.errors import BadRequest
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
from service.node.models import Dataset, Observation


@dataclass(frozen=True, slots=True)
class ReleasedCell:
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


_COLUMNS = (
    Observation.id,
    Observation.version_id,
    Observation.table_key,
    Dataset.slug,
    Dataset.organisation,
    Dataset.published,
    *(
        getattr(Observation, name)
        for name in (
            "indicator",
            "series",
            "ref_area",
            "sub_area",
            "time_period",
            *DIMENSIONS,
            "unit",
            "value",
            "n",
            "numerator",
            "lower",
            "upper",
            "obs_status",
            "note",
        )
    ),
)


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
) -> CellPage:
    """One page of cells visible at `level`, in a stable order, with disclosure control applied."""
    if first < 0:
        raise BadRequest("`first` must not be negative")
    where = _visible(level, cell_filter)
    joined = select(*_COLUMNS).join(Dataset, Dataset.current_version_id == Observation.version_id)
    query = joined.where(*where)
    if after is not None:
        query = query.where(Observation.id > decode_cursor(after))
    rows = session.execute(query.order_by(Observation.id).limit(first + 1)).all()
    total = session.execute(
        select(func.count())
        .select_from(Observation)
        .join(Dataset, Dataset.current_version_id == Observation.version_id)
        .where(*where)
    ).scalar_one()
    page = rows[:first]
    decisions = _decide_tables(session, page, policy.for_level(level))
    cells = [_released(row, decisions[row.id]) for row in page]
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
        )
        yield from page.cells
        if not page.has_next_page:
            return
        after = page.end_cursor


def _decide_tables(
    session: Session, page: Sequence[Row[tuple[object, ...]]], rule: LevelRule
) -> dict[int, Decision]:
    tables: dict[int, set[str]] = defaultdict(set)
    published: dict[int, bool] = {}
    for row in page:
        tables[row.version_id].add(row.table_key)
        published[row.version_id] = bool(row.published)
    decisions: dict[int, Decision] = {}
    for version_id, keys in tables.items():
        groups: dict[str, list[CellIn]] = defaultdict(list)
        for chunk in _chunks(sorted(keys), 500):
            table_rows = session.execute(
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
        for cells in groups.values():
            for decision in decide_table(cells, rule, published=published[version_id]):
                decisions[decision.id] = decision
    return decisions


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _released(row: Row[tuple[object, ...]], decision: Decision) -> ReleasedCell:
    suppressed = decision.reason is not None
    return ReleasedCell(
        id=row.id,
        dataset=row.slug,
        organisation=row.organisation,
        indicator=row.indicator,
        series=row.series,
        ref_area=row.ref_area,
        sub_area=row.sub_area,
        time_period=row.time_period,
        sex=row.sex,
        age=row.age,
        disability_status=row.disability_status,
        urbanisation=row.urbanisation,
        income_wealth_quantile=row.income_wealth_quantile,
        group=row.group_code,
        unit=row.unit,
        value=decision.value,
        n=decision.n,
        # Bounds and numerators would let a caller rebuild a suppressed value: they go with it.
        numerator=decision.numerator,
        lower=None if suppressed else row.lower,
        upper=None if suppressed else row.upper,
        obs_status=row.obs_status,
        note=None if suppressed else row.note,
        suppression=decision.reason,
    )
