"""What official statistics cover: a table the secretariat loads, and the global SDG baseline.

The table comes from a CSV file (`lnob coordinator official load FILE`), one row per indicator ×
country × disaggregation that official statistics report:

Columns (header names are case-insensitive):

- `indicator` (required): SDG indicator number (`5.2.1`; `05.02.01` and UNSD codes are read too).
- `ref_area` (required): country, ISO 3166-1 alpha-3 in capitals (`KEN`).
- `dimension` (required): what the figures are broken down by: `_T` (national totals only),
  `SEX`, `AGE`, `DISABILITY_STATUS`, `URBANISATION`, `INCOME_WEALTH_QUANTILE`,
  `COMPOSITE_BREAKDOWN` (SDMX codes) or `GROUP` (the product's group codes).
- `codes` (required except for `_T`): the codes reported, separated by `;` (`F;M`, `Y15T24;Y_GE60`).
- `series` (optional): SDMX series code or the source's label.
- `source` (optional): who publishes the figures (`KNBS`); the file's name when blank.
- `first_year`, `latest_year` (optional): the years the official figures span.

A row tells which groups official statistics speak for: `_T` always, and each group a code
denotes (DISABILITY_STATUS=PD -> PWD, AGE=Y15T24 -> YOUTH, COMPOSITE_BREAKDOWN=MS_MIGRANT ->
MIGRANT, GROUP=DALIT -> DALIT), through the same SDMX mapping the group codelist documents.

Loading is all or nothing: every row is checked first, and a file with any bad row stores
nothing. A file replaces what earlier loads stored for the sources it names, so reloading a
publisher's corrected file updates it without touching other publishers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from federation.models import OfficialCoverage
from service.errors import IngestError, Problem
from service.node.ingest.csvfile import read_csv_rows
from service.reference import Reference

REQUIRED: Final = ("indicator", "ref_area", "dimension", "codes")
YEAR_COLUMNS: Final = ("first_year", "latest_year")
OPTIONAL: Final = ("series", "source", *YEAR_COLUMNS)
TOTALS: Final = "_T"
GROUP: Final = "GROUP"
# Dimensions official figures may be broken down by; each has a reference codelist.
DIMENSIONS: Final = (
    "SEX",
    "AGE",
    "DISABILITY_STATUS",
    "URBANISATION",
    "INCOME_WEALTH_QUANTILE",
    "COMPOSITE_BREAKDOWN",
    GROUP,
)
MAX_PROBLEMS: Final = 100


@dataclass(frozen=True, slots=True)
class OfficialRecord:
    """One group that official statistics report an indicator for, in one country."""

    source: str
    indicator: str
    series: str
    ref_area: str
    group: str
    breakdown: str  # the dimension the group was read from; "" for national totals
    first_year: int | None
    latest_year: int | None


@dataclass(frozen=True, slots=True)
class OfficialLoadReport:
    file: str
    rows_read: int
    records_stored: int
    sources: tuple[str, ...]
    records_replaced: int


class OfficialTable:
    """Official coverage indexed by (indicator number, country), read-only."""

    __slots__ = ("_index",)

    def __init__(self, records: Iterable[OfficialRecord]) -> None:
        self._index: dict[tuple[str, str], list[OfficialRecord]] = {}
        for record in records:
            self._index.setdefault((record.indicator, record.ref_area), []).append(record)

    def records(self, indicator: str, ref_area: str) -> Sequence[OfficialRecord]:
        return self._index.get((indicator, ref_area), ())

    def countries(self) -> set[str]:
        return {ref_area for _, ref_area in self._index}

    def __len__(self) -> int:
        return sum(len(records) for records in self._index.values())


def parse_official_csv(path: Path, reference: Reference) -> list[OfficialRecord]:
    """Every record the file holds, or `IngestError` with every problem found (up to 100)."""
    return _parse(path, reference)[0]


def _parse(path: Path, reference: Reference) -> tuple[list[OfficialRecord], int]:
    group_of = _groups_by_sdmx_code(reference)
    problems: list[Problem] = []
    total_problems = 0
    records: dict[tuple[str, ...], OfficialRecord] = {}
    header: list[str] | None = None
    rows_read = 0
    for item in read_csv_rows(path):
        if isinstance(item, Problem):
            total_problems += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(item)
            continue
        line, cells = item
        if header is None:
            header = [cell.strip().lower() for cell in cells]
            missing = [column for column in REQUIRED if column not in header]
            if missing:
                raise IngestError(
                    [
                        Problem(
                            path.name,
                            line,
                            None,
                            ",".join(cells),
                            f"a header with the columns {', '.join(REQUIRED)} "
                            f"(missing: {', '.join(missing)}); optional: {', '.join(OPTIONAL)}",
                        )
                    ]
                )
            continue
        rows_read += 1
        row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        found, row_problems = _records_of(row, line, path.name, path.stem, reference, group_of)
        total_problems += len(row_problems)
        problems.extend(row_problems[: max(0, MAX_PROBLEMS - len(problems))])
        for record in found:
            key = (
                record.source,
                record.indicator,
                record.series,
                record.ref_area,
                record.group,
                record.breakdown,
            )
            records[key] = _merged(records.get(key), record)
    if total_problems:
        raise IngestError(problems, total=total_problems)
    return list(records.values()), rows_read


def load_official_file(session: Session, path: Path, reference: Reference) -> OfficialLoadReport:
    """Check the whole file, then replace the stored rows of the sources it names, in one commit."""
    records, rows_read = _parse(path, reference)
    sources = tuple(sorted({record.source for record in records}))
    mine = OfficialCoverage.source.in_(sources)
    replaced = session.scalar(select(func.count()).select_from(OfficialCoverage).where(mine)) or 0
    session.execute(delete(OfficialCoverage).where(mine))
    session.add_all(
        OfficialCoverage(
            source=record.source,
            indicator=record.indicator,
            series=record.series,
            ref_area=record.ref_area,
            sub_area="",
            group=record.group,
            breakdown=record.breakdown,
            first_year=record.first_year,
            latest_year=record.latest_year,
            cell_count=0,
        )
        for record in records
    )
    session.commit()
    return OfficialLoadReport(path.name, rows_read, len(records), sources, replaced)


def read_official_table(session: Session) -> OfficialTable:
    """The stored official coverage; sub-national rows count for their country."""
    rows = session.scalars(select(OfficialCoverage)).all()
    return OfficialTable(
        OfficialRecord(
            source=row.source,
            indicator=row.indicator,
            series=row.series,
            ref_area=row.ref_area,
            group=row.group,
            breakdown=row.breakdown,
            first_year=row.first_year,
            latest_year=row.latest_year,
        )
        for row in rows
    )


def _records_of(
    row: dict[str, str],
    line: int,
    file: str,
    default_source: str,
    reference: Reference,
    group_of: dict[tuple[str, str], str],
) -> tuple[list[OfficialRecord], list[Problem]]:
    problems: list[Problem] = []

    def problem(column: str, value: str, expected: str) -> None:
        problems.append(Problem(file, line, column, value, expected))

    indicator = reference.normalise_indicator(row["indicator"])
    if indicator is None:
        problem("indicator", row["indicator"], "an SDG indicator number such as 5.2.1")
    ref_area = row["ref_area"]
    if not reference.is_country(ref_area):
        problem("ref_area", ref_area, "an ISO 3166-1 alpha-3 country code in capitals (KEN)")
    dimension = row["dimension"].upper()
    codes = tuple(dict.fromkeys(code.strip() for code in row["codes"].split(";") if code.strip()))
    if dimension == TOTALS:
        if codes not in ((), (TOTALS,)):
            problem("codes", row["codes"], "no codes (or _T) for dimension _T")
    elif dimension not in DIMENSIONS:
        problem("dimension", row["dimension"], f"{TOTALS} or one of {', '.join(DIMENSIONS)}")
    elif not codes:
        problem("codes", row["codes"], f"one or more {dimension} codes separated by ';'")
    else:
        codelist = reference.codelist(dimension)
        unknown = [code for code in codes if code not in codelist]
        if unknown:
            problem("codes", ";".join(unknown), f"codes of {codelist.id} separated by ';'")
    first, latest = (_year(column, row.get(column, ""), problem) for column in YEAR_COLUMNS)
    if first is not None and latest is not None and first > latest:
        problem("first_year", row["first_year"], "a year no later than latest_year")
    series, source = row.get("series", ""), row.get("source", "") or default_source
    for column, text, limit in (("series", series, 100), ("source", source, 200)):
        if len(text) > limit:
            problem(column, text, f"at most {limit} characters")
    if problems or indicator is None:
        return [], problems

    pairs = {(TOTALS, "" if dimension in (TOTALS, GROUP) else dimension)}
    for code in codes:
        group = code if dimension == GROUP else group_of.get((dimension, code))
        if group is not None:
            pairs.add((group, "" if group == TOTALS else dimension))
    return [
        OfficialRecord(source, indicator, series, ref_area, group, breakdown, first, latest)
        for group, breakdown in sorted(pairs)
    ], []


def _year(column: str, text: str, problem: Callable[[str, str, str], None]) -> int | None:
    if not text:
        return None
    if text.isdigit() and 1900 <= int(text) <= 2100:
        return int(text)
    problem(column, text, "a year such as 2022, or blank")
    return None


def _merged(old: OfficialRecord | None, new: OfficialRecord) -> OfficialRecord:
    if old is None:
        return new
    firsts = [year for year in (old.first_year, new.first_year) if year is not None]
    latests = [year for year in (old.latest_year, new.latest_year) if year is not None]
    return OfficialRecord(
        old.source,
        old.indicator,
        old.series,
        old.ref_area,
        old.group,
        old.breakdown,
        min(firsts, default=None),
        max(latests, default=None),
    )


def _groups_by_sdmx_code(reference: Reference) -> dict[tuple[str, str], str]:
    """(SDMX dimension, code) -> the product group it speaks for; `_T` codes speak for no group."""
    found: dict[tuple[str, str], str] = {}
    for group in reference.groups:
        if group.code == TOTALS:
            continue
        for key in group.sdmx_keys:
            found.setdefault(key, group.code)
    return found


# The constrained dimensions that describe people; ACTIVITY and PRODUCT describe the economy.
EXPECTED_DIMENSIONS: Final = (
    "SEX",
    "AGE",
    "URBANISATION",
    "INCOME_WEALTH_QUANTILE",
    "EDUCATION_LEV",
    "OCCUPATION",
    "DISABILITY_STATUS",
    "COMPOSITE_BREAKDOWN",
)
_ORDER: Final = {name: i for i, name in enumerate((*EXPECTED_DIMENSIONS, GROUP))}


@dataclass(frozen=True, slots=True)
class Expected:
    """What the global SDG content constraints expect official series of one indicator to cover."""

    indicator: str
    series: tuple[str, ...]
    dimensions: tuple[str, ...]
    groups: frozenset[str]


def official_expectations(reference: Reference) -> dict[str, Expected]:
    """Per indicator number, the baseline from `global_content_constraints.csv`.

    A dimension is expected when some series of the indicator allows a code other than `_T`
    there (`ALL` included); a group is expected when an allowed code denotes it (the
    constraints' own reading through the group codelist's SDMX mapping), and `_T` whenever the
    indicator has a constrained series at all. The constraints are a draft: they say what
    official statistics may report, the best public baseline of what they are expected to.
    """
    series: dict[str, list[str]] = {}
    dimensions: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for expectation in reference.official_expectations():
        wanted = {
            dimension
            for dimension in EXPECTED_DIMENSIONS
            if any(code != TOTALS for code in _codes(expectation.allowed(dimension)))
        }
        for indicator in expectation.indicators:
            series.setdefault(indicator, []).append(expectation.series)
            dimensions.setdefault(indicator, set()).update(wanted)
            groups.setdefault(indicator, set()).update(expectation.groups)
    return {
        indicator: Expected(
            indicator, tuple(codes), _ordered(dimensions[indicator]), frozenset(groups[indicator])
        )
        for indicator, codes in series.items()
    }


@dataclass(frozen=True, slots=True)
class OfficialCell:
    """Official coverage beside one frame cell (indicator or target × country × group)."""

    # Whether the loaded table reports this indicator for this country and group; None when no
    # official-coverage table is loaded.
    reported: bool | None
    reported_dimensions: tuple[str, ...]  # what it is broken down by there, for any group
    sources: tuple[str, ...]
    latest_year: int | None
    expected: bool  # the global constraints expect this group for the indicator
    expected_dimensions: tuple[str, ...]
    note: str


def official_cells(
    table: OfficialTable | None,
    expectations: dict[str, Expected],
    indicators: Sequence[str],
    ref_area: str,
    groups: Sequence[str],
    *,
    label: str,
) -> dict[str, OfficialCell]:
    """Official coverage of one frame row (its indicators, aliases included) in one country,
    for each of `groups`; `label` names the row in the notes."""
    records = (
        [record for indicator in indicators for record in table.records(indicator, ref_area)]
        if table is not None
        else []
    )
    reported_groups = {record.group for record in records}
    reported_dimensions = _ordered(
        {part for record in records for part in record.breakdown.split("+") if part}
    )
    sources = tuple(sorted({record.source for record in records}))
    latest_year = max(
        (record.latest_year for record in records if record.latest_year is not None), default=None
    )
    found = [expectations[i] for i in indicators if i in expectations]
    expected_groups = {group for expectation in found for group in expectation.groups}
    expected_dimensions = _ordered({d for expectation in found for d in expectation.dimensions})

    if table is None:
        said = "no official-coverage table loaded"
    elif not records:
        said = f"official statistics report nothing on {label} for {ref_area}"
    else:
        said = f"official statistics report {label} for {ref_area} " + (
            f"by {', '.join(reported_dimensions)}" if reported_dimensions else "as totals"
        )
    if not found:
        foreseen = "no global series for it in the SDG content constraints"
    else:
        foreseen = "expected by global constraints: " + (
            ", ".join(expected_dimensions) if expected_dimensions else "totals only"
        )

    # Groups share one cell per answer: at most four distinct cells per row and country.
    shared: dict[tuple[bool | None, bool], OfficialCell] = {}
    cells: dict[str, OfficialCell] = {}
    for group in groups:
        reported = (
            None
            if table is None
            else bool(records) and (group == TOTALS or group in reported_groups)
        )
        expected = group in expected_groups
        cell = shared.get((reported, expected))
        if cell is None:
            note = said + (", not for this group" if records and not reported else "")
            note += "; " + foreseen + (" (not for this group)" if found and not expected else "")
            cell = shared[reported, expected] = OfficialCell(
                reported=reported,
                reported_dimensions=reported_dimensions,
                sources=sources,
                latest_year=latest_year,
                expected=expected,
                expected_dimensions=expected_dimensions,
                note=note,
            )
        cells[group] = cell
    return cells


def _codes(allowed: tuple[str, ...] | str) -> tuple[str, ...]:
    # `ALL` allows every code of the dimension, breakdowns included.
    return (allowed,) if isinstance(allowed, str) else allowed


def _ordered(dimensions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(dimensions, key=lambda name: (_ORDER.get(name, len(_ORDER)), name)))
