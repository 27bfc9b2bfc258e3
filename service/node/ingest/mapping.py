"""How national files' columns and labels become SDG DSD concepts, codes and the product's fields.

Open SDG publishes two files for this and the product reads them as they are: `column_mapping.csv`
(`Text,Value`: a column name and the concept it holds, such as `Sex,SEX`) and `code_mapping.csv`
(`Text,Dimension,Value`: a label and the code it stands for, such as `Female,SEX,F`). Matching
ignores case and runs of spaces, because national files spell one label both ways ("Normal value",
"Normal Value"); nothing looser is tried, so a label that does not match is reported, not guessed.

Behind the operator's folder the product ships `open_sdg_units.csv`, in the `code_mapping.csv`
shape: unit and unit-multiplier labels common to Open SDG sites whose meaning is not in doubt
("Rate per 100,000 population" is PER_100000_POP). The operator's folder always wins over it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from service.errors import Problem
from service.node.ingest.csvfile import read_csv_rows
from service.node.ingest.records import Excluded

if TYPE_CHECKING:
    from service.reference import Reference

COLUMN_MAPPING = "column_mapping.csv"
CODE_MAPPING = "code_mapping.csv"
PRODUCT_UNITS_FILE = Path(__file__).with_name("open_sdg_units.csv")
TOTAL: Final = "_T"
_K = TypeVar("_K")

# SDG DSD dimensions the product stores, and the tidy column each one fills.
PRODUCT_DIMENSIONS: Final[Mapping[str, str]] = {
    "SEX": "sex",
    "AGE": "age",
    "URBANISATION": "urbanisation",
    "DISABILITY_STATUS": "disability_status",
    "INCOME_WEALTH_QUANTILE": "income_wealth_quantile",
}
# Dimensions that say how a figure was reported, not whom it is about; they have no `_T` code
# (every SDG observation is FREQ=A and REPORTING_TYPE=G or N), so any value is accepted.
REPORTING_DIMENSIONS: Final = frozenset({"FREQ", "REPORTING_TYPE"})
# Breakdowns the product does not hold: a row is kept only at their total.
UNHELD_DIMENSIONS: Final = frozenset(
    {"EDUCATION_LEV", "OCCUPATION", "CUST_BREAKDOWN", "ACTIVITY", "PRODUCT"}
)
# Attributes whose unmapped label is left blank rather than keeping the row out: they describe a
# cell without being part of its key. UNIT_MEASURE is part of the product's key, and UNIT_MULT
# decides what the value means, so neither is among them.
BLANKABLE_ATTRIBUTES: Final = frozenset({"OBS_STATUS"})
# SDG DSD attributes that describe an observation without dividing the data; the product keeps
# the ones it has a field for (elsewhere) and drops the rest.
DSD_ATTRIBUTES: Final = frozenset(
    {
        "OBS_STATUS", "UNIT_MULT", "UNIT_MEASURE", "BASE_PER", "NATURE", "TIME_DETAIL",
        "COMMENT_OBS", "TIME_COVERAGE", "UPPER_BOUND", "LOWER_BOUND", "SOURCE_DETAIL",
        "COMMENT_TS", "GEO_INFO_URL", "GEO_INFO_TYPE", "CUST_BREAKDOWN_LB", "DATA_LAST_UPDATE",
    }
)  # fmt: skip


def label_key(text: str) -> str:
    """The form in which column names and labels are compared: case and spacing do not count."""
    return " ".join(text.split()).casefold()


class LabelMapping(Protocol):
    """Says which concept a source column holds and which code a source label stands for."""

    def concept(self, column: str) -> str | None: ...

    def code(self, concept: str, label: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class MappingTables:
    """The built-in `LabelMapping`: Open SDG's `column_mapping.csv` and `code_mapping.csv`."""

    columns: Mapping[str, str] = field(default_factory=dict)  # label_key(column) -> concept
    codes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (concept, key) -> code

    def concept(self, column: str) -> str | None:
        return self.columns.get(label_key(column))

    def code(self, concept: str, label: str) -> str | None:
        return self.codes.get((concept, label_key(label)))


NO_MAPPING: Final = MappingTables()


@dataclass(frozen=True, slots=True)
class Layered:
    """Mappings asked in turn: the first that knows a column or label answers."""

    layers: tuple[LabelMapping, ...]

    def concept(self, column: str) -> str | None:
        return next((c for m in self.layers if (c := m.concept(column)) is not None), None)

    def code(self, concept: str, label: str) -> str | None:
        return next((c for m in self.layers if (c := m.code(concept, label)) is not None), None)


@functools.cache
def product_units() -> MappingTables:
    """The unit labels the product ships (`open_sdg_units.csv`), below the operator's folder."""
    problems: list[Problem] = []
    codes: dict[tuple[str, str], str] = {}
    header = ("Text", "Dimension", "Value")
    for row, (text, dimension, value) in _entries(PRODUCT_UNITS_FILE, header, problems):
        _add(
            codes, (dimension, label_key(text)), value, PRODUCT_UNITS_FILE.name, row, text, problems
        )
    if problems:  # the file ships with the product: a problem in it is a defect, not bad input
        raise RuntimeError("; ".join(str(problem) for problem in problems))
    return MappingTables(codes=codes)


def load_mapping(folder: Path | None) -> tuple[MappingTables, list[Problem]]:
    """Read a mapping folder (either file may be absent); problems name the file, row and column."""
    if folder is None:
        return NO_MAPPING, []
    if not folder.is_dir():
        return NO_MAPPING, [Problem(str(folder), None, None, None, "a mapping folder")]
    column_file, code_file = folder / COLUMN_MAPPING, folder / CODE_MAPPING
    if not column_file.is_file() and not code_file.is_file():
        expected = f"{COLUMN_MAPPING} or {CODE_MAPPING} in the mapping folder"
        return NO_MAPPING, [Problem(str(folder), None, None, None, expected)]
    problems: list[Problem] = []
    columns: dict[str, str] = {}
    codes: dict[tuple[str, str], str] = {}
    if column_file.is_file():
        for row, (text, value) in _entries(column_file, ("Text", "Value"), problems):
            _add(columns, label_key(text), value, column_file.name, row, text, problems)
    if code_file.is_file():
        for row, (text, dimension, value) in _entries(
            code_file, ("Text", "Dimension", "Value"), problems
        ):
            key = (dimension, label_key(text))
            _add(codes, key, value, code_file.name, row, text, problems)
    return MappingTables(columns, codes), problems


def _entries(
    path: Path, header: tuple[str, ...], problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    found_header: list[str] | None = None
    for item in read_csv_rows(path):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        row, cells = item
        if found_header is None:
            found_header = [cell.strip() for cell in cells]
            if found_header != list(header):
                found = ",".join(cells)
                problems.append(
                    Problem(path.name, row, None, found, f"the header {','.join(header)}")
                )
                return
            continue
        cells = [cell.strip() for cell in cells]
        if len(cells) != len(header) or not all(cells):
            problems.append(
                Problem(path.name, row, None, ",".join(cells), f"{len(header)} non-blank cells")
            )
            continue
        yield row, cells


def _add(
    table: dict[_K, str],
    key: _K,
    value: str,
    file: str,
    row: int,
    text: str,
    problems: list[Problem],
) -> None:
    known = table.setdefault(key, value)
    if known != value:
        expected = (
            f"one meaning per label (an earlier row maps it to {known!r}, this one to {value!r})"
        )
        problems.append(Problem(file, row, "Text", text, expected))


def unit_multiplier(code: str) -> int | None:
    """The power of ten a CL_UNIT_MULT code stands for (`3` = thousands), or None."""
    text = code.strip()
    try:
        exponent = int(text)
    except ValueError:
        return None
    return exponent if -15 <= exponent <= 15 else None


def scaled(value: str, exponent: int) -> str:
    """The value in units: `12.5` in thousands is `12500`. Text that is no number is left alone
    for validation to report."""
    if exponent == 0:
        return value
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    return format(number.scaleb(exponent).normalize(), "f")


def product_unit(reference: Reference, code: str) -> str | None:
    """The product's unit for an SDMX UNIT_MEASURE code, or for one of its own unit codes."""
    unit = reference.units_from_sdmx(code)
    if unit is None and code.upper() in reference.codelist("UNIT"):
        unit = code.upper()
    return unit


def group_of_breakdown(reference: Reference, code: str) -> str | None:
    """The product's group for a COMPOSITE_BREAKDOWN code (`_T`: everyone), or None if none."""
    return TOTAL if code == TOTAL else reference.group_from_sdmx("COMPOSITE_BREAKDOWN", code)


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Why a row cannot be stored as the product's data: the report's reason and, for --strict,
    where it was found and what would have been needed."""

    reason: str
    column: str | None
    value: str | None
    expected: str
    attribute: bool = False  # an attribute left blank: the row is stored without it


def unmapped_column(column: str, value: str) -> Unmapped:
    return Unmapped(
        f"column {column!r} is not mapped",
        column,
        value,
        f"the column in {COLUMN_MAPPING} (Text,Value) with the concept it holds, "
        "or the column left blank (total)",
    )


def unmapped_label(column: str, label: str, concept: str) -> Unmapped:
    return Unmapped(
        f"label {label!r} of column {column!r} is not mapped",
        column,
        label,
        f"a {concept} code, or a row for this label in {CODE_MAPPING} (Text,Dimension,Value)",
    )


def unmapped_attribute(column: str, label: str, concept: str) -> Unmapped:
    return Unmapped(
        f"label {label!r} of column {column!r} is not mapped (attribute left blank)",
        column,
        label,
        f"a {concept} code, or a row for this label in {CODE_MAPPING} (Text,Dimension,Value)",
        attribute=True,
    )


def dimension_not_held(column: str, dimension: str, code: str) -> Unmapped:
    return Unmapped(
        f"dimension {dimension}={code} is not held by the product",
        column,
        code,
        f"{dimension} {TOTAL} (total): the product holds no breakdown by {dimension}",
    )


def unit_not_held(column: str, code: str) -> Unmapped:
    return Unmapped(
        f"UNIT_MEASURE={code} is not held by the product",
        column,
        code,
        "a unit the product holds (NUMBER, PERCENT, RATE, MEAN, SCORE) "
        "or an SDMX UNIT_MEASURE that maps to one (NUMBER, PT, PER_100000_POP, IX, ...)",
    )


def conflicting(columns: Iterable[str], concept: str, codes: Iterable[str]) -> Unmapped:
    names = " and ".join(repr(column) for column in columns)
    found = ", ".join(codes)
    return Unmapped(
        f"columns {names} give different {concept} codes",
        None,
        found,
        f"one {concept} code per row",
    )


class Exclusions:
    """Turns the reasons a row cannot be stored into an `Excluded` row, or under --strict into
    one Problem per distinct reason (at its first row), so the refusal names each one once."""

    @staticmethod
    def notes(reasons: list[Unmapped]) -> tuple[str, ...]:
        """What a stored row's report counts: the attributes left blank."""
        return tuple(dict.fromkeys(reason.reason for reason in reasons if reason.attribute))

    def __init__(self, file: str, *, strict: bool) -> None:
        self.file = file
        self.strict = strict
        self._reported: set[str] = set()

    def verdict(self, row: int, reasons: list[Unmapped]) -> Iterator[Excluded | Problem]:
        """Nothing when every reason is an attribute left blank (and not strict): the row stays."""
        if not self.strict:
            blocking = [reason.reason for reason in reasons if not reason.attribute]
            if blocking:
                yield Excluded(row, tuple(dict.fromkeys(blocking)))
            return
        for reason in reasons:
            if reason.reason not in self._reported:
                self._reported.add(reason.reason)
                yield Problem(self.file, row, reason.column, reason.value, reason.expected)


def constant_cells(path: Path, columns: Iterable[int]) -> dict[int, str]:
    """The columns (by index) that hold one and the same non-blank text on every data row.

    A first pass over the file, streaming; what it cannot read is left for the main pass to
    report. A column stops being followed at its second distinct text.
    """
    seen: dict[int, str] = {}
    candidates = set(columns)
    header = True
    for item in read_csv_rows(path):
        if isinstance(item, Problem):
            continue
        if header:
            header = False
            continue
        _, cells = item
        for index in list(candidates):
            text = cells[index].strip() if index < len(cells) else ""
            if not text or seen.setdefault(index, text) != text:
                candidates.discard(index)
        if not candidates:
            break
    return {index: seen[index] for index in candidates if index in seen}
