"""What every input format turns its rows into, and the one validation they all go through.

A reader (tidy, Open SDG, SDMX-CSV) maps its file's rows to `RawCell`s named by the tidy columns;
`Validator` checks each against the codelists and computes the stored columns. Every problem in a
row is reported, not just the first, so one run tells the data team all there is to fix.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from service.errors import Problem
from service.node.ingest.periods import EXPECTED as EXPECTED_PERIOD
from service.node.ingest.periods import parse_period

if TYPE_CHECKING:
    from service.reference import Reference

TIDY_COLUMNS = (
    "indicator",
    "series",
    "ref_area",
    "sub_area",
    "time_period",
    "sex",
    "age",
    "disability_status",
    "urbanisation",
    "income_wealth_quantile",
    "group",
    "value",
    "unit",
    "n",
    "numerator",
    "lower",
    "upper",
    "obs_status",
    "note",
)
REQUIRED_COLUMNS = ("indicator", "ref_area", "time_period", "value", "unit")

# Tidy column -> (codelist and name in `breakdown`, examples for the error message).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "sex": ("SEX", "F, M or _T"),
    "age": ("AGE", "Y15T24, Y_GE65 or _T"),
    "disability_status": ("DISABILITY_STATUS", "PD, PWD or _T"),
    "urbanisation": ("URBANISATION", "U, R or _T"),
    "income_wealth_quantile": ("INCOME_WEALTH_QUANTILE", "Q1, B40 or _T"),
    "group": ("GROUP", "PWD, ETHNIC_MIN, DALIT, REFUGEE_IDP or _T"),
}
TOTAL = "_T"

# The stored columns a validated row fills, in the order the writer inserts them.
OBSERVATION_COLUMNS = (
    "source_row",
    "indicator",
    "series",
    "ref_area",
    "sub_area",
    "time_period",
    "year_start",
    "year_end",
    "sex",
    "age",
    "disability_status",
    "urbanisation",
    "income_wealth_quantile",
    "group_code",
    "breakdown",
    "table_key",
    "value",
    "unit",
    "n",
    "numerator",
    "lower",
    "upper",
    "obs_status",
    "note",
)
# The key a dataset may hold only once (the duplicate check groups on these).
KEY_COLUMNS = (
    "indicator",
    "series",
    "ref_area",
    "sub_area",
    "time_period",
    "sex",
    "age",
    "disability_status",
    "urbanisation",
    "income_wealth_quantile",
    "group_code",
    "unit",
)

_MAX_N = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
_MISSING_VALUE = "M"  # SDMX OBS_STATUS "missing value; data cannot exist": no value to give


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """How to read one file: its format, the mapping files, and what to do with unmapped rows."""

    format: Literal["tidy", "open-sdg", "sdmx-csv"]
    mapping_dir: Path | None = None
    strict: bool = False
    ref_area: str | None = None  # the country, for files that carry none (Open SDG is national)


@dataclass(slots=True)
class RawCell:
    """One input row after a format's mapping, before validation."""

    row: int  # line number in the source file (header = 1)
    fields: dict[str, str]  # tidy column -> text ("" or missing = default, "_T" for dimensions)
    source_columns: dict[str, str]  # tidy column -> the source file's column, for messages
    # What the report counts although the row is stored, such as an attribute left blank.
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class Excluded:
    """A row left out because a column or label does not map: counted, an error only if strict."""

    row: int
    reasons: tuple[str, ...]


Reader = Callable[[Path, IngestOptions, "Reference"], Iterator[RawCell | Excluded | Problem]]


def table_key(
    indicator: str, series: str, ref_area: str, sub_area: str, time_period: str, unit: str
) -> str:
    """The cells disclosure control judges together share this key."""
    text = "|".join((indicator, series, ref_area, sub_area, time_period, unit))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def breakdown(codes: dict[str, str]) -> str:
    """`AGE+SEX` for a cell broken down by age and sex; "" for a headline total."""
    names = sorted(DIMENSIONS[column][0] for column, code in codes.items() if code != TOTAL)
    return "+".join(names)


class Validator:
    """Checks raw cells against the reference codelists and computes the stored columns."""

    def __init__(self, reference: Reference, file: str) -> None:
        self.reference = reference
        self.file = file
        # Files repeat the same few codes on every row; bounded caches keep lookups cheap without
        # letting memory grow with the file.
        self._indicator = functools.lru_cache(maxsize=4096)(reference.normalise_indicator)
        self._subdivision = functools.lru_cache(maxsize=4096)(reference.is_subdivision)
        self._period = functools.lru_cache(maxsize=4096)(parse_period)
        self._codelists = {
            dimension: reference.codelist(dimension) for dimension, _ in DIMENSIONS.values()
        }

    def validate(self, raw: RawCell) -> tuple[dict[str, object] | None, list[Problem]]:
        """The Observation values for `raw`, or None with every problem the row has."""
        row = _Row(self.file, raw)
        ref = self.reference

        indicator = row.required("indicator")
        if indicator is not None:
            normalised = self._indicator(indicator)
            if normalised is None:
                row.problem("indicator", indicator, "an SDG indicator code such as 3.8.1")
            indicator = normalised

        series = row.limited("series", 100)
        ref_area = row.required("ref_area")
        if ref_area is not None:
            ref_area = ref_area.upper()
            if not ref.is_country(ref_area):
                row.problem("ref_area", ref_area, "an ISO 3166-1 alpha-3 country code such as BGD")
                ref_area = None
        sub_area = row.limited("sub_area", 20)
        if sub_area and ref_area is not None and not self._subdivision(ref_area, sub_area):
            row.problem(
                "sub_area",
                sub_area,
                f"an ISO 3166-2 subdivision or P-code of {ref_area}, or empty for all of it",
            )

        period = None
        time_period = row.required("time_period")
        if time_period is not None:
            period = self._period(time_period)
            if period is None:
                row.problem("time_period", time_period, EXPECTED_PERIOD)

        codes: dict[str, str] = {}
        for column, (dimension, examples) in DIMENSIONS.items():
            code = row.text(column) or TOTAL
            if code not in self._codelists[dimension]:
                row.problem(column, code, f"a {dimension} code such as {examples}")
            codes[column] = code

        unit = row.required("unit")
        if unit is not None:
            unit = self._unit(row, unit)

        obs_status = row.text("obs_status") or None
        if obs_status is not None and obs_status not in ref.codelist("OBS_STATUS"):
            row.problem("obs_status", obs_status, "an SDMX OBS_STATUS code such as A, E or P")

        if obs_status == _MISSING_VALUE and not row.text("value"):
            value = None
        else:
            value = row.number("value", required=True)
        n = row.count("n")
        numerator = row.number("numerator")
        lower = row.number("lower")
        upper = row.number("upper")
        if value is not None:
            if lower is not None and lower > value:
                row.problem("lower", row.text("lower"), f"at most the value {value:g}")
            if upper is not None and upper < value:
                row.problem("upper", row.text("upper"), f"at least the value {value:g}")
        elif lower is not None and upper is not None and lower > upper:
            row.problem("lower", row.text("lower"), f"at most the upper bound {upper:g}")

        note = row.limited("note", 10_000) or None
        if row.problems:
            return None, row.problems
        assert indicator is not None and ref_area is not None and period is not None
        assert unit is not None
        return {
            "source_row": raw.row,
            "indicator": indicator,
            "series": series,
            "ref_area": ref_area,
            "sub_area": sub_area,
            "time_period": period.label,
            "year_start": period.year_start,
            "year_end": period.year_end,
            **{column: code for column, code in codes.items() if column != "group"},
            "group_code": codes["group"],
            "breakdown": breakdown(codes),
            "table_key": table_key(indicator, series, ref_area, sub_area, period.label, unit),
            "value": value,
            "unit": unit,
            "n": n,
            "numerator": numerator,
            "lower": lower,
            "upper": upper,
            "obs_status": obs_status,
            "note": note,
        }, []

    def _unit(self, row: _Row, text: str) -> str | None:
        units = self.reference.codelist("UNIT")
        code = text.upper()
        if code in units:
            return code
        # An SDMX UNIT_MEASURE code (PT, NUMBER, ...) maps to the product's unit where one fits.
        mapped = self.reference.units_from_sdmx(text)
        if mapped is not None:
            return mapped
        row.problem("unit", text, "a unit: NUMBER, PERCENT, RATE, MEAN or SCORE")
        return None


class _Row:
    """One raw row being checked, collecting its problems."""

    def __init__(self, file: str, raw: RawCell) -> None:
        self.file = file
        self.raw = raw
        self.fields = {column: text.strip() for column, text in raw.fields.items()}
        self.problems: list[Problem] = []

    def problem(self, column: str, value: str | None, expected: str) -> None:
        source = self.raw.source_columns.get(column, column)
        self.problems.append(Problem(self.file, self.raw.row, source, value, expected))

    def text(self, column: str) -> str:
        return self.fields.get(column, "")

    def limited(self, column: str, limit: int) -> str:
        text = self.fields.get(column, "")
        if len(text) > limit:
            self.problem(column, text, f"at most {limit} characters")
        return text

    def required(self, column: str) -> str | None:
        text = self.fields.get(column, "")
        if not text:
            self.problem(column, text, f"a value (the {column} column is required)")
            return None
        return text

    def number(self, column: str, *, required: bool = False) -> float | None:
        text = self.fields.get(column, "")
        if not text:
            if required:
                self.problem(column, text, "a number (the value is required)")
            return None
        number = _finite(text)
        if number is None:
            self.problem(column, text, "a finite number with a dot for decimals, such as 12.5")
        return number

    def count(self, column: str) -> int | None:
        text = self.fields.get(column, "")
        if not text:
            return None
        number = _finite(text)
        # 12.0 is how spreadsheets write a whole number in a column that has blanks.
        if number is None or number < 0 or number != int(number) or number > _MAX_N:
            self.problem(column, text, "a whole number of people, 0 or more, such as 120")
            return None
        return int(number)


def _finite(text: str) -> float | None:
    # float() also reads "nan", "1_000" and digits of other scripts, which no data file means.
    if not text.isascii() or "_" in text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
