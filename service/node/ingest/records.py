"""What every input format turns its rows into: the tidy columns, raw cells and the stored columns.

A reader (tidy, Open SDG, SDMX-CSV) maps its file's rows to `RawCell`s named by the tidy columns;
`validation.Validator` checks each against the codelists and computes the stored columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from service.errors import Problem

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
