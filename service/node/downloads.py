"""CSV and SDMX-CSV renderings of the cells a caller may read (same rules as GraphQL)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping

from service.node.disclosure import Reason
from service.node.filters import CODE_FILTERS, CellFilter
from service.node.ingest.records import TIDY_COLUMNS
from service.node.observations import ReleasedCell
from service.reference import Reference

# The tidy format's columns, so a download reads like the files a node ingests, plus where each
# cell comes from and why it is hidden.
CSV_COLUMNS = ("dataset", "organisation", *TIDY_COLUMNS, "suppression_reason")

SDMX_DATAFLOW = "LNOB:DF_LNOB_SDG(1.0)"
SDMX_COLUMNS = (
    "DATAFLOW",
    "SERIES",
    "REF_AREA",
    "TIME_PERIOD",
    "SEX",
    "AGE",
    "URBANISATION",
    "DISABILITY_STATUS",
    "INCOME_WEALTH_QUANTILE",
    "COMPOSITE_BREAKDOWN",
    "OBS_VALUE",
    "UNIT_MEASURE",
    "OBS_STATUS",
    "CONF_STATUS",
    "INDICATOR",
    "SUB_AREA",
    "GROUP",
    "N",
    "NUMERATOR",
    "LOWER",
    "UPPER",
    "NOTE",
)
# SDMX CL_CONF_STATUS: F free, C confidential (primary), D secondary (complementary),
# N not for publication (here: no base to judge the cell by).
CONF_STATUS = {
    None: "F",
    Reason.BELOW_THRESHOLD: "C",
    Reason.COMPLEMENTARY: "D",
    Reason.UNKNOWN_BASE: "N",
}
# Product units whose SDMX UNIT_MEASURE is unambiguous; others are written as the product code.
SDMX_UNITS = {"PERCENT": "PT", "NUMBER": "NUMBER"}


def cell_filter_from_query(
    params: Mapping[str, str], getlist: Callable[[str], list[str]]
) -> CellFilter:
    """Query parameters as the GraphQL filter spells them (`refAreas=BGD&refAreas=NPL` or
    comma-separated `ref_areas=BGD,NPL`)."""
    values: dict[str, object] = {}
    for name in (*CODE_FILTERS, "datasets", "goals", "targets"):
        camel = _camel(name)
        raw = getlist(camel) or getlist(name)
        if raw:
            values[name] = [code for item in raw for code in item.split(",") if code]
    for name in ("period_from", "period_to"):
        raw_value = params.get(_camel(name)) or params.get(name)
        if raw_value is not None:
            if not (raw_value.isascii() and raw_value.isdigit()) or len(raw_value) > 4:
                from service.errors import BadRequest

                raise BadRequest(f"{_camel(name)} must be a year, not {raw_value[:20]!r}")
            values[name] = int(raw_value)
    return CellFilter(**values)  # type: ignore[arg-type]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_lines(cells: Iterable[ReleasedCell]) -> Iterator[str]:
    def rows() -> Iterator[list[object]]:
        yield list(CSV_COLUMNS)
        for c in cells:
            yield [
                c.dataset, c.organisation, c.indicator, c.series, c.ref_area, c.sub_area,
                c.time_period, c.sex, c.age, c.disability_status, c.urbanisation,
                c.income_wealth_quantile, c.group, _number(c.value), c.unit, _number(c.n),
                _number(c.numerator), _number(c.lower), _number(c.upper), c.obs_status or "",
                c.note or "", c.suppression.value if c.suppression else "",
            ]  # fmt: skip

    return _lines(rows())


def sdmx_csv_lines(cells: Iterable[ReleasedCell], reference: Reference) -> Iterator[str]:
    """SDMX-CSV 1.0 with the SDG DSD's dimension ids; REF_AREA as M49, as the SDG DSD codes it."""

    def composite(group: str) -> str:
        # The GROUP column keeps the product's code; COMPOSITE_BREAKDOWN carries the SDMX code
        # that maps back to it, where the group's SDMX home is that dimension.
        mapped = reference.sdmx_from_group(group)
        return mapped[1] if mapped and mapped[0] == "COMPOSITE_BREAKDOWN" else "_T"

    def rows() -> Iterator[list[object]]:
        yield list(SDMX_COLUMNS)
        for c in cells:
            yield [
                SDMX_DATAFLOW, c.series or "_T", reference.m49_from_iso3(c.ref_area) or c.ref_area,
                c.time_period, c.sex, c.age, c.urbanisation, c.disability_status,
                c.income_wealth_quantile, composite(c.group), _number(c.value),
                SDMX_UNITS.get(c.unit, c.unit), c.obs_status or "", CONF_STATUS[c.suppression],
                c.indicator, c.sub_area, c.group, _number(c.n), _number(c.numerator),
                _number(c.lower), _number(c.upper), c.note or "",
            ]  # fmt: skip

    return _lines(rows())
