"""What official statistics are expected to cover: the global SDG content constraints.

One row per global SDG series says which codes each disaggregation dimension may take: a list of
codes, or `ALL` (any code of the dimension's codelist). The constraints are a draft; five series
leave every cell blank, read here as an empty tuple ("nothing stated").
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from service.reference.groups import GROUPS

ALL: Final = "ALL"
AllowedCodes: TypeAlias = tuple[str, ...] | Literal["ALL"]

# SDMX dimension id -> field of OfficialExpectation, in the data structure's key order.
DIMENSIONS: Final[dict[str, str]] = {
    "SEX": "sex",
    "AGE": "age",
    "URBANISATION": "urbanisation",
    "INCOME_WEALTH_QUANTILE": "income_wealth_quantile",
    "EDUCATION_LEV": "education_lev",
    "OCCUPATION": "occupation",
    "COMPOSITE_BREAKDOWN": "composite_breakdown",
    "DISABILITY_STATUS": "disability_status",
    "ACTIVITY": "activity",
    "PRODUCT": "product",
}

_BRACKETED = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True, slots=True)
class OfficialExpectation:
    """One global series and the disaggregations official statistics are expected to report."""

    series: str
    name: str
    indicators: tuple[str, ...]
    unit_measure: str | None
    unit: str | None
    sex: AllowedCodes
    age: AllowedCodes
    urbanisation: AllowedCodes
    income_wealth_quantile: AllowedCodes
    education_lev: AllowedCodes
    occupation: AllowedCodes
    composite_breakdown: AllowedCodes
    disability_status: AllowedCodes
    activity: AllowedCodes
    product: AllowedCodes
    # Product groups the allowed codes speak of (through GroupCode.sdmx_keys), `_T` included.
    groups: tuple[str, ...]

    def allowed(self, dimension: str) -> AllowedCodes:
        """The codes allowed for an SDMX dimension id (`"SEX"`, ...), or `ALL`."""
        try:
            field = DIMENSIONS[dimension]
        except KeyError:
            raise KeyError(
                f"{dimension!r} is not a constrained dimension; one of {', '.join(DIMENSIONS)}"
            ) from None
        value: AllowedCodes = getattr(self, field)
        return value

    def allows(self, dimension: str, code: str) -> bool:
        return _is_allowed(self.allowed(dimension), code)


def _allowed(cell: str) -> AllowedCodes:
    codes = tuple(dict.fromkeys(code.strip() for code in cell.split(";") if code.strip()))
    return ALL if ALL in codes else codes


def _is_allowed(allowed: AllowedCodes, code: str) -> bool:
    return allowed == ALL or code in allowed


def read_expectations(
    lines: Iterable[str],
    indicators_for_series: Callable[[str], tuple[str, ...]],
    normalise_indicator: Callable[[str], str | None],
    unit_from_sdmx: Callable[[str], str | None],
) -> tuple[OfficialExpectation, ...]:
    """Parse the constraints CSV; indicators come from the "[1.1.1]" in the name and the series map.

    The two sources disagree for some series (the name of VC_DSR_CDAN says 11.5.2, the series
    map 11.5.3), so both are kept, the name's first; numbers unknown to the framework are dropped.
    """
    expectations = []
    for row in csv.DictReader(lines):
        series = row["SERIES"].strip()
        named = [
            number.strip()
            for bracket in _BRACKETED.findall(row["Name"])
            for number in bracket.split(",")
        ]
        known = (normalise_indicator(number) for number in [*named, *indicators_for_series(series)])
        indicators = tuple(dict.fromkeys(number for number in known if number is not None))
        allowed = {dimension: _allowed(row[dimension]) for dimension in DIMENSIONS}
        groups = tuple(
            group.code
            for group in GROUPS
            if any(
                dimension in allowed and _is_allowed(allowed[dimension], code)
                for dimension, code in group.sdmx_keys
            )
        )
        unit_measure = row["UNIT_MEASURE"].strip() or None
        expectations.append(
            OfficialExpectation(
                series=series,
                name=" ".join(row["Name"].split()),
                indicators=indicators,
                unit_measure=unit_measure,
                unit=unit_from_sdmx(unit_measure) if unit_measure else None,
                sex=allowed["SEX"],
                age=allowed["AGE"],
                urbanisation=allowed["URBANISATION"],
                income_wealth_quantile=allowed["INCOME_WEALTH_QUANTILE"],
                education_lev=allowed["EDUCATION_LEV"],
                occupation=allowed["OCCUPATION"],
                composite_breakdown=allowed["COMPOSITE_BREAKDOWN"],
                disability_status=allowed["DISABILITY_STATUS"],
                activity=allowed["ACTIVITY"],
                product=allowed["PRODUCT"],
                groups=groups,
            )
        )
    return tuple(expectations)
