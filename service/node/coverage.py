"""This node's stocktake: what it holds, grouped by the database, with no values ever."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
