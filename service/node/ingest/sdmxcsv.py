"""SDMX-CSV with the SDG data structure's ids and codes: 1.0 (`DATAFLOW` first) and 2.0
(`STRUCTURE`, `STRUCTURE_ID`, `ACTION`).

Columns are SDG DSD components (SERIES, REF_AREA, TIME_PERIOD, SEX, ..., OBS_VALUE, UNIT_MEASURE,
UNIT_MULT, OBS_STATUS) plus the product's own: INDICATOR, SUB_AREA, GROUP, N, NUMERATOR, LOWER,
UPPER, NOTE and CONF_STATUS, which the node's SDMX-CSV download writes, so a download re-ingests.
Headers and codes may carry labels (`SEX: Sex`, `F: Female`); the code before the colon counts.
A breakdown the product does not hold (ACTIVITY, ...) that is one code on every row is what the
file measures, not a breakdown: it goes into the series (`SL_TLF_MANF|ACTIVITY=ISIC4_C`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from service.errors import Problem
from service.node.ingest.csvfile import read_csv_rows
from service.node.ingest.mapping import (
    DSD_ATTRIBUTES,
    PRODUCT_DIMENSIONS,
    REPORTING_DIMENSIONS,
    TOTAL,
    UNHELD_DIMENSIONS,
    Exclusions,
    Unmapped,
    constant_cells,
    dimension_not_held,
    group_of_breakdown,
    product_unit,
    scaled,
    unit_multiplier,
    unit_not_held,
)
from service.node.ingest.records import Excluded, IngestOptions, RawCell

if TYPE_CHECKING:
    from service.reference import Reference

CONFIDENTIAL: Final = "confidential in source"
BLANK_VALUE: Final = "blank OBS_VALUE"
# The product's columns beside the DSD's, and the tidy column each fills.
EXTENSION_COLUMNS: Final = {
    "INDICATOR": "indicator",
    "SUB_AREA": "sub_area",
    "GROUP": "group",
    "N": "n",
    "NUMERATOR": "numerator",
    "LOWER": "lower",
    "UPPER": "upper",
    "NOTE": "note",
    "CONF_STATUS": "",
}
# DSD attributes standing in for a product column when the file has no such column.
_ATTRIBUTE_FIELDS: Final = {"LOWER_BOUND": "lower", "UPPER_BOUND": "upper", "COMMENT_OBS": "note"}
_STRUCTURE = frozenset({"DATAFLOW", "STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "ACTION"})
_KNOWN = (
    _STRUCTURE
    | {"SERIES", "REF_AREA", "TIME_PERIOD", "COMPOSITE_BREAKDOWN", "OBS_VALUE"}
    | set(PRODUCT_DIMENSIONS)
    | REPORTING_DIMENSIONS
    | UNHELD_DIMENSIONS
    | DSD_ATTRIBUTES
    | set(EXTENSION_COLUMNS)
)
# Text and numbers, where a colon is part of the value (a note, a time), not a "code: label" pair.
_TEXT_COLUMNS = frozenset(
    {"NOTE", "COMMENT_OBS", "TIME_PERIOD", "OBS_VALUE", "N", "NUMERATOR", "LOWER", "UPPER"}
    | {"LOWER_BOUND", "UPPER_BOUND"}
)
_ACTIONS = {"", "I", "A", "R", "M"}  # information, append, replace, merge: all add or replace rows
_FREE = {"", "F", "FREE"}
_MISSING = {"", "NAN"}


def read_sdmx_csv(
    path: Path, options: IngestOptions, reference: Reference
) -> Iterator[RawCell | Excluded | Problem]:
    """Read an SDMX-CSV 1.0 or 2.0 file of SDG data as raw cells, rows left out, and problems."""
    file = path.name
    exclusions = Exclusions(file, strict=options.strict)
    header: _Header | None = None
    for item in read_csv_rows(path):
        if isinstance(item, Problem):
            yield item
            continue
        line, cells = item
        if header is None:
            header = _Header(file, line, cells, options)
            if header.problems:
                yield from header.problems
                return
            header.fold_constant_breakdowns(path)
            continue
        if len(cells) != header.width:
            expected = f"{header.width} cells as in the header, found {len(cells)}"
            yield Problem(file, line, None, None, expected)
            continue
        yield from _Row(header, line, cells, reference, options).read(exclusions)


class _Header:
    """Which column holds which component; problems with the header itself."""

    def __init__(self, file: str, line: int, cells: list[str], options: IngestOptions) -> None:
        self.file = file
        self.width = len(cells)
        names = [cell.strip() for cell in cells]
        self.labelled = any(":" in name for name in names)
        ids = [name.split(":", 1)[0].strip().upper() for name in names]
        self.index: dict[str, int] = {}
        self.names: dict[str, str] = {}
        self.problems: list[Problem] = []
        if not ids or ids[0] not in ("DATAFLOW", "STRUCTURE"):
            expected = "an SDMX-CSV header: DATAFLOW first (1.0), or STRUCTURE, STRUCTURE_ID (2.0)"
            self.problems.append(Problem(file, line, names[0] if names else None, None, expected))
            return
        for column, (name, component) in enumerate(zip(names, ids, strict=True)):
            if component not in _KNOWN:
                expected = (
                    "an SDG DSD component (SERIES, REF_AREA, TIME_PERIOD, SEX, ..., OBS_VALUE) "
                    "or a product column (" + ", ".join(EXTENSION_COLUMNS) + ")"
                )
                self.problems.append(Problem(file, line, name, name, expected))
            elif component in self.index:
                self.problems.append(Problem(file, line, name, name, "each column named once"))
            else:
                self.index[component] = column
                self.names[component] = name
        needed = ["TIME_PERIOD", "OBS_VALUE", "UNIT_MEASURE"]
        if not options.ref_area:
            needed.append("REF_AREA")
        if ids[0] == "STRUCTURE":
            needed.append("STRUCTURE_ID")
        for component in needed:
            if component not in self.index:
                expected = f"the column {component} (it is required)"
                self.problems.append(Problem(file, line, component, None, expected))
        self.folded: dict[str, str] = {}  # dimension -> the code every row gives it
        if "SERIES" not in self.index and "INDICATOR" not in self.index:
            expected = "a SERIES or an INDICATOR column, to say which indicator the rows report"
            self.problems.append(Problem(file, line, "SERIES", None, expected))

    def fold_constant_breakdowns(self, path: Path) -> None:
        unheld = {self.index[d]: d for d in sorted(UNHELD_DIMENSIONS) if d in self.index}
        for index, text in constant_cells(path, unheld).items():
            code = text.split(":", 1)[0].strip() if self.labelled else text
            if code not in ("", TOTAL):
                self.folded[unheld[index]] = code


class _Row:
    """One data row being read: its raw fields, its problems, and why it cannot be stored."""

    def __init__(
        self, header: _Header, line: int, cells: list[str], ref: Reference, options: IngestOptions
    ) -> None:
        self.header = header
        self.line = line
        self.cells = cells
        self.ref = ref
        self.options = options
        self.fields: dict[str, str] = {}
        self.source: dict[str, str] = {}
        self.problems: list[Problem] = []
        self.unmapped: list[Unmapped] = []

    def get(self, component: str) -> str:
        column = self.header.index.get(component)
        if column is None:
            return ""
        text = self.cells[column].strip()
        if self.header.labelled and component not in _TEXT_COLUMNS:
            text = text.split(":", 1)[0].strip()
        return text

    def put(self, field: str, component: str, text: str) -> None:
        self.fields[field] = text
        self.source[field] = self.header.names.get(component, component)

    def problem(self, component: str, value: str | None, expected: str) -> None:
        column = self.header.names.get(component, component)
        self.problems.append(Problem(self.header.file, self.line, column, value, expected))

    def read(self, exclusions: Exclusions) -> Iterator[RawCell | Excluded | Problem]:
        action = self.get("ACTION").upper()
        if action not in _ACTIONS:
            expected = (
                "ACTION I, A, R or M: deletions (D) are not supported; ingest the dataset's "
                "full data instead, which replaces the current version"
                if action == "D"
                else "ACTION I, A, R or M"
            )
            yield Problem(self.header.file, self.line, "ACTION", action, expected)
            return
        value = self.get("OBS_VALUE")
        if value.upper() in _MISSING:
            free = self.get("CONF_STATUS").upper() in _FREE
            yield Excluded(self.line, (BLANK_VALUE if free else CONFIDENTIAL,))
            return
        self._read_key()
        self._read_measures(value)
        if self.problems:
            yield from self.problems
        elif self.unmapped:
            yield from exclusions.verdict(self.line, self.unmapped)
        else:
            yield RawCell(self.line, self.fields, self.source)

    def _read_key(self) -> None:
        series = self.get("SERIES")
        folded = [f"{dimension}={code}" for dimension, code in self.header.folded.items()]
        self.put(
            "series", "SERIES", "|".join(filter(None, ("" if series == TOTAL else series, *folded)))
        )
        self._read_indicator(series)
        self._read_area()
        self.put("time_period", "TIME_PERIOD", self.get("TIME_PERIOD"))
        for dimension, field in PRODUCT_DIMENSIONS.items():
            self.put(field, dimension, self.get(dimension) or TOTAL)
        for dimension in sorted(UNHELD_DIMENSIONS - self.header.folded.keys()):
            code = self.get(dimension)
            if code not in ("", TOTAL):
                column = self.header.names[dimension]
                self.unmapped.append(dimension_not_held(column, dimension, code))
        group = self.get("GROUP")
        breakdown = self.get("COMPOSITE_BREAKDOWN")
        if group in ("", TOTAL) and breakdown not in ("", TOTAL):
            if breakdown not in self.ref.codelist("COMPOSITE_BREAKDOWN"):
                self.problem("COMPOSITE_BREAKDOWN", breakdown, "a CL_COMP_BREAKDOWN code or _T")
                return
            mapped = group_of_breakdown(self.ref, breakdown)
            if mapped is None:
                column = self.header.names["COMPOSITE_BREAKDOWN"]
                self.unmapped.append(dimension_not_held(column, "COMPOSITE_BREAKDOWN", breakdown))
                return
            self.put("group", "COMPOSITE_BREAKDOWN", mapped)
        else:
            self.put("group", "GROUP", group or TOTAL)

    def _read_indicator(self, series: str) -> None:
        indicator = self.get("INDICATOR")
        if indicator:
            self.put("indicator", "INDICATOR", indicator)
            return
        indicators = self.ref.indicators_for_series(series)
        if len(indicators) == 1:
            self.put("indicator", "SERIES", indicators[0])
        elif not indicators:
            expected = "an SDG series code (CL_SERIES) such as SL_TLF_NEET, or an INDICATOR column"
            self.problem("SERIES", series, expected)
        else:
            expected = (
                f"an INDICATOR column: series {series} reports indicators "
                f"{', '.join(indicators)}, so the row does not say which one it is"
            )
            self.problem("SERIES", series, expected)

    def _read_area(self) -> None:
        area = self.get("REF_AREA").upper()
        if not area:
            self.fields["ref_area"] = (self.options.ref_area or "").strip().upper()
            return
        iso3 = self.ref.iso3_from_m49(area) if area.isdigit() else area
        if iso3 is None or not self.ref.is_country(iso3):
            expected = "a country: its UN M49 code (50) or ISO 3166-1 alpha-3 code (BGD)"
            self.problem("REF_AREA", area, expected)
            return
        self.put("ref_area", "REF_AREA", iso3)

    def _read_measures(self, value: str) -> None:
        unit_code = self.get("UNIT_MEASURE")
        if unit_code:
            unit = product_unit(self.ref, unit_code)
            if unit is not None:
                self.put("unit", "UNIT_MEASURE", unit)
            elif unit_code in self.ref.codelist("UNIT_MEASURE"):
                column = self.header.names["UNIT_MEASURE"]
                self.unmapped.append(unit_not_held(column, unit_code))
            else:
                expected = (
                    "a CL_UNIT_MEASURE code (PT, NUMBER, PER_100000_POP, ...) or a product unit"
                )
                self.problem("UNIT_MEASURE", unit_code, expected)
        multiplier_code = self.get("UNIT_MULT")
        exponent = unit_multiplier(multiplier_code) if multiplier_code else 0
        if exponent is None:
            expected = "a CL_UNIT_MULT code: a power of ten from -15 to 15, such as 0 or 3"
            self.problem("UNIT_MULT", multiplier_code, expected)
            exponent = 0
        self.put("value", "OBS_VALUE", scaled(value, exponent))
        for component, field in EXTENSION_COLUMNS.items():
            if field and field not in self.fields and component in self.header.index:
                self.put(field, component, self.get(component))
        for component, field in _ATTRIBUTE_FIELDS.items():
            if not self.fields.get(field) and component in self.header.index:
                self.put(field, component, self.get(component))
        for field in ("lower", "upper"):
            if self.fields.get(field):
                self.fields[field] = scaled(self.fields[field], exponent)
        obs_status = self.get("OBS_STATUS")
        if obs_status:
            self.put("obs_status", "OBS_STATUS", obs_status)
