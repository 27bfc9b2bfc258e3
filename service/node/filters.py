"""The one filter that observations, coverage and downloads share, turned into SQL conditions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, or_

from service.errors import BadRequest
from service.node.models import Dataset, Observation

# Filter field -> the observation column it narrows; each takes a list of codes (any of them).
CODE_FILTERS: dict[str, str] = {
    "indicators": "indicator",
    "series": "series",
    "ref_areas": "ref_area",
    "sub_areas": "sub_area",
    "sex": "sex",
    "age": "age",
    "disability_status": "disability_status",
    "urbanisation": "urbanisation",
    "income_wealth_quantile": "income_wealth_quantile",
    "groups": "group_code",
    "units": "unit",
    "breakdowns": "breakdown",
}


@dataclass(frozen=True, slots=True)
class CellFilter:
    """Narrows cells; `None` means "any". Lists mean "any of these"."""

    datasets: Sequence[str] | None = None
    goals: Sequence[str] | None = None
    targets: Sequence[str] | None = None
    indicators: Sequence[str] | None = None
    series: Sequence[str] | None = None
    ref_areas: Sequence[str] | None = None
    sub_areas: Sequence[str] | None = None
    period_from: int | None = None
    period_to: int | None = None
    sex: Sequence[str] | None = None
    age: Sequence[str] | None = None
    disability_status: Sequence[str] | None = None
    urbanisation: Sequence[str] | None = None
    income_wealth_quantile: Sequence[str] | None = None
    groups: Sequence[str] | None = None
    units: Sequence[str] | None = None
    breakdowns: Sequence[str] | None = None

    MAX_VALUES = 500

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str):
                raise TypeError(f"filter {item.name} takes a list of codes, not a string")
            if isinstance(value, Sequence) and len(value) > self.MAX_VALUES:
                raise BadRequest(f"filter {item.name} lists more than {self.MAX_VALUES} codes")

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions over `Observation` joined to `Dataset`; values are bound parameters."""
        where: list[ColumnElement[bool]] = []
        if self.datasets is not None:
            where.append(Dataset.slug.in_(self.datasets))
        for name, column in CODE_FILTERS.items():
            codes = getattr(self, name)
            if codes is not None:
                where.append(getattr(Observation, column).in_(list(codes)))
        if self.goals is not None:
            where.append(_prefix_any(f"{goal}." for goal in self.goals))
        if self.targets is not None:
            where.append(_prefix_any(f"{target}." for target in self.targets))
        if self.period_from is not None:
            where.append(Observation.year_end >= self.period_from)
        if self.period_to is not None:
            where.append(Observation.year_start <= self.period_to)
        return where


def _prefix_any(prefixes: Iterable[str]) -> ColumnElement[bool]:
    # Codes are checked against a pattern first, so LIKE wildcards cannot come from a caller.
    clauses = []
    for prefix in prefixes:
        if not prefix.replace(".", "").replace("-", "").isalnum():
            raise BadRequest(f"not a goal or target code: {prefix[:-1]!r}")
        clauses.append(Observation.indicator.startswith(prefix, autoescape=True))
    if not clauses:
        return Observation.id.is_(None)
    return or_(*clauses)
