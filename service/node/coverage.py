"""This node's stocktake: what it holds, grouped by the database, with no values ever."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.node.filters import CellFilter
from service.node.models import Dataset, Observation


@dataclass(frozen=True, slots=True)
class CoverageCell:
    """Cells one dataset holds for an indicator, area, group and set of broken-down dimensions."""

    dataset: str
    organisation: str
    indicator: str
    ref_area: str
    sub_area: str
    group: str
    breakdown: str
    cell_count: int
    first_year: int
    latest_year: int
    values_visible: bool


def coverage(session: Session, *, level: Level, cell_filter: CellFilter) -> Sequence[CoverageCell]:
    """Coverage of every dataset discoverable at `level`; counts only, grouped in SQL."""
    keys = (
        Dataset.slug,
        Dataset.organisation,
        Dataset.release_level,
        Observation.indicator,
        Observation.ref_area,
        Observation.sub_area,
        Observation.group_code,
        Observation.breakdown,
    )
    query = (
        select(
            *keys,
            func.count().label("cell_count"),
            func.min(Observation.year_start).label("first_year"),
            func.max(Observation.year_end).label("latest_year"),
        )
        .join(Dataset, Dataset.current_version_id == Observation.version_id)
        .where(Dataset.discovery_level <= int(level), *cell_filter.conditions())
        .group_by(*keys)
        .order_by(*keys)
    )
    return [
        CoverageCell(
            dataset=row.slug,
            organisation=row.organisation,
            indicator=row.indicator,
            ref_area=row.ref_area,
            sub_area=row.sub_area,
            group=row.group_code,
            breakdown=row.breakdown,
            cell_count=row.cell_count,
            first_year=row.first_year,
            latest_year=row.latest_year,
            values_visible=row.release_level <= int(level),
        )
        for row in session.execute(query)
    ]


class Counted(Protocol):
    """A coverage row as a summary counts it: a node's cell, or one a coordinator received."""

    @property
    def organisation(self) -> str: ...
    @property
    def dataset(self) -> str: ...
    @property
    def indicator(self) -> str: ...
    @property
    def ref_area(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def cell_count(self) -> int: ...
    @property
    def first_year(self) -> int: ...
    @property
    def latest_year(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OrganisationCoverage:
    """What one organisation holds, summed over its coverage rows: the distinct datasets,
    indicators, areas and groups, the cells, and the years they span."""

    organisation: str
    datasets: tuple[str, ...]
    indicators: tuple[str, ...]
    countries: tuple[str, ...]
    groups: tuple[str, ...]
    cell_count: int
    first_year: int
    latest_year: int


def organisation_coverage(rows: Iterable[Counted]) -> list[OrganisationCoverage]:
    """Coverage rows summed per organisation (in name order). Whoever may see the rows may see
    their sums: a node answers `coverageSummary` with exactly the rows `coverage` would give."""
    by_organisation: dict[str, list[Counted]] = {}
    for row in rows:
        by_organisation.setdefault(row.organisation, []).append(row)
    return [
        OrganisationCoverage(
            organisation=organisation,
            datasets=tuple(sorted({row.dataset for row in held})),
            indicators=tuple(sorted({row.indicator for row in held})),
            countries=tuple(sorted({row.ref_area for row in held})),
            groups=tuple(sorted({row.group for row in held})),
            cell_count=sum(row.cell_count for row in held),
            first_year=min(row.first_year for row in held),
            latest_year=max(row.latest_year for row in held),
        )
        for organisation, held in sorted(by_organisation.items())
    ]


@dataclass(frozen=True, slots=True)
class CoverageValues:
    """Each dimension's distinct values in a coverage table, in order of first use."""

    organisations: tuple[str, ...]
    datasets: tuple[str, ...]
    indicators: tuple[str, ...]
    ref_areas: tuple[str, ...]
    sub_areas: tuple[str, ...]
    groups: tuple[str, ...]
    breakdowns: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class CoverageColumns:
    """A coverage table's rows, a tuple per field; a dimension's items are positions in its
    `CoverageValues`."""

    organisation: tuple[int, ...]
    dataset: tuple[int, ...]
    indicator: tuple[int, ...]
    ref_area: tuple[int, ...]
    sub_area: tuple[int, ...]
    group: tuple[int, ...]
    breakdown: tuple[int, ...]
    cell_count: tuple[int, ...]
    first_year: tuple[int, ...]
    latest_year: tuple[int, ...]
    values_visible: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class CoverageTable:
    """Coverage rows as a table keyed by position, as SDMX-JSON keys observations: each
    dimension's distinct values listed once, then a tuple per field; the i-th row is the i-th
    item of every column.

    A stocktake over many nodes reads thousands of rows: as a table, each name and code
    crosses the network, and is read by the coordinator, once per answer instead of once per
    row (a tenth of the bytes of the same rows as objects)."""

    values: CoverageValues
    columns: CoverageColumns

    @property
    def size(self) -> int:
        return len(self.columns.cell_count)


_DIMENSIONS = ("organisation", "dataset", "indicator", "ref_area", "sub_area", "group", "breakdown")


def coverage_table(rows: Sequence[CoverageCell]) -> CoverageTable:
    """`rows` as a `CoverageTable`, in the same order."""
    values: list[tuple[str, ...]] = []
    positions: list[tuple[int, ...]] = []
    for dimension in _DIMENSIONS:
        index: dict[str, int] = {}
        positions.append(tuple(index.setdefault(getattr(r, dimension), len(index)) for r in rows))
        values.append(tuple(index))
    organisations, datasets, indicators, ref_areas, sub_areas, groups, breakdowns = values
    organisation, dataset, indicator, ref_area, sub_area, group, breakdown = positions
    return CoverageTable(
        values=CoverageValues(
            organisations, datasets, indicators, ref_areas, sub_areas, groups,
            tuple(tuple(joined.split("+")) if joined else () for joined in breakdowns),
        ),
        columns=CoverageColumns(
            organisation, dataset, indicator, ref_area, sub_area, group, breakdown,
            cell_count=tuple(row.cell_count for row in rows),
            first_year=tuple(row.first_year for row in rows),
            latest_year=tuple(row.latest_year for row in rows),
            values_visible=tuple(row.values_visible for row in rows),
        ),
    )  # fmt: skip
