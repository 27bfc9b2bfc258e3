"""Open SDG indicator files: `Year` first, `Value` last, a free-text column per disaggregation.

One file holds one indicator (named by the file: `indicator_3-8-1.csv`) for one country, given as
--ref-area because Open SDG sites are national. A blank disaggregation cell is the total; a blank
Value is a missing value, not data. Column names and labels become SDG DSD concepts and codes
through the mapping folder (`mapping`); what does not map is reported and kept out, never guessed.
An attribute that does not map (`Observation status`) is left blank instead: it is no part of the
cell's key. A breakdown the product does not hold but that the whole file shares (9.2.2 is all
ACTIVITY=ISIC4_C, manufacturing) is what the file measures: it goes into the series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from service.errors import Problem
from service.node.ingest.csvfile import read_csv_rows
from service.node.ingest.mapping import (
    BLANKABLE_ATTRIBUTES,
    DSD_ATTRIBUTES,
    PRODUCT_DIMENSIONS,
    REPORTING_DIMENSIONS,
    TOTAL,
    UNHELD_DIMENSIONS,
    Exclusions,
    LabelMapping,
    Layered,
    Unmapped,
    conflicting,
    constant_cells,
    dimension_not_held,
    group_of_breakdown,
    label_key,
    load_mapping,
    product_unit,
    product_units,
    scaled,
    unit_multiplier,
    unit_not_held,
    unmapped_attribute,
    unmapped_column,
    unmapped_label,
)
from service.node.ingest.periods import EXPECTED as EXPECTED_PERIOD
from service.node.ingest.periods import parse_period
from service.node.ingest.records import Excluded, IngestOptions, RawCell

if TYPE_CHECKING:
    from service.reference import Reference

BLANK_VALUE: Final = "blank Value"
_FILE_NAME = re.compile(r"indicator_(\d{1,2})-(\d{1,2}|[a-z])-(\d{1,2})\.csv", re.IGNORECASE)
_CODE_ID = re.compile(r"[A-Z][A-Z0-9_]*")  # the form of an SDMX code, such as ISIC4_C
_IGNORED: Final = ""  # a column read and left aside: it neither divides the data nor is unmapped
# Open SDG's own columns, understood by name unless the mapping folder says otherwise.
OWN_COLUMNS: Final = {
    "series": "SERIES",
    "units": "UNIT_MEASURE",
    "unit measure": "UNIT_MEASURE",
    "unit multiplier": "UNIT_MULT",
    "observation status": "OBS_STATUS",
    "comment_obs": "COMMENT_OBS",
    "geocode": _IGNORED,  # an area code for Open SDG's maps, not a disaggregation
}
_HANDLED = frozenset(
    {*PRODUCT_DIMENSIONS, "COMPOSITE_BREAKDOWN", "GROUP", "SERIES", "REF_AREA"}
    | {"UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS", "COMMENT_OBS"}
)
_CONCEPT_IDS = _HANDLED | REPORTING_DIMENSIONS | UNHELD_DIMENSIONS | DSD_ATTRIBUTES
# Concepts whose labels may also be the SDG code itself, or that code's name in the codelist.
_CODELISTS = frozenset(
    {*PRODUCT_DIMENSIONS, "COMPOSITE_BREAKDOWN", "GROUP", "UNIT_MEASURE", "OBS_STATUS"}
)
_CACHE_LIMIT = 20_000  # distinct labels remembered; a file of unique labels must not grow memory


def indicator_from_file_name(name: str) -> str | None:
    """`indicator_3-8-1.csv` -> `3.8.1`, the way Open SDG names its data files."""
    match = _FILE_NAME.fullmatch(name)
    return ".".join(part.lower() for part in match.groups()) if match else None


def column_concept(name: str, mapping: LabelMapping) -> str | None:
    """The concept a column holds: the mapping's word first, then Open SDG's own columns, then a
    column named by a concept id (`SEX`). None if unmapped; "" for a column to leave aside."""
    concept = mapping.concept(name)
    if concept is None:
        concept = OWN_COLUMNS.get(label_key(name))
    if concept is None and name.strip() in _CONCEPT_IDS:
        concept = name.strip()
    if concept is not None and (
        concept in REPORTING_DIMENSIONS or (concept in DSD_ATTRIBUTES and concept not in _HANDLED)
    ):
        concept = _IGNORED
    return concept


def read_open_sdg(
    path: Path, options: IngestOptions, reference: Reference
) -> Iterator[RawCell | Excluded | Problem]:
    """Read an Open SDG indicator CSV as raw cells, rows that do not map, and problems."""
    file = path.name
    operator_mapping, problems = load_mapping(options.mapping_dir)
    mapping = Layered((operator_mapping, product_units()))
    indicator = indicator_from_file_name(file)
    if indicator is None:
        expected = "an Open SDG file name that names the indicator, such as indicator_3-8-1.csv"
        problems.append(Problem(file, None, None, file, expected))
    elif reference.normalise_indicator(indicator) is None:
        problems.append(Problem(file, None, None, indicator, "an SDG indicator in the file name"))
    ref_area = (options.ref_area or "").strip().upper()
    if ref_area and not reference.is_country(ref_area):
        expected = "--ref-area as an ISO 3166-1 alpha-3 country code such as GBR"
        problems.append(Problem(file, None, None, options.ref_area, expected))
    if problems:
        yield from problems
        return
    assert indicator is not None
    labels = _Labels(mapping, reference)
    exclusions = Exclusions(file, strict=options.strict)
    header: _Header | None = None
    for item in read_csv_rows(path):
        if isinstance(item, Problem):
            yield item
            continue
        line, cells = item
        if header is None:
            header = _Header(cells, mapping)
            problems = header.problems(file, line, has_ref_area=bool(ref_area))
            if problems:
                yield from problems
                return
            header.fold_constant_breakdowns(path, labels)
            continue
        if len(cells) != len(header.names):
            expected = f"{len(header.names)} cells as in the header, found {len(cells)}"
            yield Problem(file, line, None, None, expected)
            continue
        value = cells[header.value].strip()
        if not value:
            yield Excluded(line, (BLANK_VALUE,))
            continue
        fields = {"indicator": indicator, "ref_area": ref_area, "value": value}
        source = {"time_period": header.names[header.year], "value": header.names[header.value]}
        reasons = header.translate(cells, fields, source, labels)
        if (options.strict and reasons) or any(not reason.attribute for reason in reasons):
            yield from exclusions.verdict(line, reasons)
        else:
            yield RawCell(line, fields, source, exclusions.notes(reasons))


@dataclass(frozen=True, slots=True)
class _Resolved:
    field: str  # tidy column, or "unit_mult"
    code: str


class _Labels:
    """Finds what a label stands for: the mapping folder first, then the label as an SDG code,
    then the label as that code's name in the SDG codelist ("Definition differs" is D)."""

    def __init__(self, mapping: LabelMapping, reference: Reference) -> None:
        self.mapping = mapping
        self.reference = reference
        self._names: dict[str, dict[str, str]] = {}
        self._cache: dict[tuple[str, str, str], _Resolved | Unmapped | None] = {}

    def code(self, concept: str, label: str) -> str | None:
        mapped = self.mapping.code(concept, label)
        if mapped is not None or label == TOTAL:
            return mapped or TOTAL
        if concept not in _CODELISTS:
            return None
        if label in self.reference.codelist(concept):
            return label
        return self._name_index(concept).get(label_key(label))

    def _name_index(self, concept: str) -> dict[str, str]:
        index = self._names.get(concept)
        if index is None:
            seen: dict[str, list[str]] = {}
            for entry in self.reference.codelist(concept):
                seen.setdefault(label_key(entry.name), []).append(entry.code)
            # A name that two codes share names neither.
            index = {name: codes[0] for name, codes in seen.items() if len(codes) == 1}
            self._names[concept] = index
        return index

    def resolve(self, concept: str, column: str, label: str) -> _Resolved | Unmapped | None:
        """What one non-blank cell contributes: a tidy field's code, a reason, or nothing."""
        if concept == "COMMENT_OBS":
            return _Resolved("note", label)
        key = (concept, column, label)
        if key in self._cache:
            return self._cache[key]
        resolved = self._resolve(concept, column, label)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[key] = resolved
        return resolved

    def _resolve(self, concept: str, column: str, label: str) -> _Resolved | Unmapped | None:
        ref = self.reference
        if concept == "SERIES":
            series = self.mapping.code("SERIES", label) or label
            return _Resolved("series", "" if series == TOTAL else series)
        if concept == "UNIT_MULT":
            exponent = unit_multiplier(self.mapping.code("UNIT_MULT", label) or label)
            if exponent is None:
                return unmapped_label(column, label, concept)
            return _Resolved("unit_mult", str(exponent))
        if concept == "REF_AREA":
            area = (self.mapping.code("REF_AREA", label) or label).upper()
            iso3 = area if ref.is_country(area) else ref.iso3_from_m49(area)
            return _Resolved("ref_area", iso3) if iso3 else unmapped_label(column, label, concept)
        code = self.code(concept, label)
        if concept not in _HANDLED:
            return None if code == TOTAL else dimension_not_held(column, concept, code or label)
        if code is None and concept == "UNIT_MEASURE" and label.upper() in ref.codelist("UNIT"):
            return _Resolved("unit", label.upper())
        if code is None:
            if concept in BLANKABLE_ATTRIBUTES:
                return unmapped_attribute(column, label, concept)
            return unmapped_label(column, label, concept)
        if concept == "UNIT_MEASURE":
            unit = product_unit(ref, code)
            return unit_not_held(column, code) if unit is None else _Resolved("unit", unit)
        if concept == "COMPOSITE_BREAKDOWN":
            group = group_of_breakdown(ref, code)
            if group is None:
                return dimension_not_held(column, concept, code)
            return _Resolved("group", group)
        if concept == "GROUP":
            return _Resolved("group", code)
        if concept == "OBS_STATUS":
            return _Resolved("obs_status", code)
        return _Resolved(PRODUCT_DIMENSIONS[concept], code)


class _Header:
    """What each column of a file holds, and how a row's cells become tidy fields."""

    def __init__(self, cells: list[str], mapping: LabelMapping) -> None:
        self.names = [cell.strip() for cell in cells]
        keys = [label_key(name) for name in self.names]
        self.year = keys.index("year") if "year" in keys else -1
        self.value = keys.index("value") if "value" in keys else -1
        self.columns = [
            (index, name, column_concept(name, mapping))
            for index, name in enumerate(self.names)
            if index not in (self.year, self.value)
        ]
        self.folded: dict[int, str] = {}  # column -> "ACTIVITY=ISIC4_C", added to the series

    def fold_constant_breakdowns(self, path: Path, labels: _Labels) -> None:
        """Find the breakdowns the product does not hold that are one code on every row."""
        unheld = {
            index: concept
            for index, _, concept in self.columns
            if concept is not None and concept in UNHELD_DIMENSIONS
        }
        if not unheld:
            return
        for index, label in constant_cells(path, unheld).items():
            # The product ships no codelist for these breakdowns: a label counts as a code when
            # the mapping folder says so or when it is written as one (ISIC4_C, not "Trade").
            code = labels.code(unheld[index], label)
            if code is None and _CODE_ID.fullmatch(label):
                code = label
            if code is not None and code != TOTAL:
                self.folded[index] = f"{unheld[index]}={code}"

    def problems(self, file: str, line: int, *, has_ref_area: bool) -> list[Problem]:
        problems = [
            Problem(
                file, line, name, None, f"a {name} column (Open SDG files: Year first, Value last)"
            )
            for index, name in ((self.year, "Year"), (self.value, "Value"))
            if index < 0
        ]
        if not has_ref_area and not any(concept == "REF_AREA" for _, _, concept in self.columns):
            expected = (
                "--ref-area with the country's ISO 3166-1 alpha-3 code "
                "(Open SDG files are national and name no country)"
            )
            problems.append(Problem(file, None, None, None, expected))
        return problems

    def translate(
        self, cells: list[str], fields: dict[str, str], source: dict[str, str], labels: _Labels
    ) -> list[Unmapped]:
        """Fill `fields` and `source` from one row's cells; the reasons it cannot be stored."""
        reasons: list[Unmapped] = []
        year = cells[self.year].strip()
        period = parse_period(year, hyphen_ranges=True)
        if period is None:
            column = self.names[self.year]
            reasons.append(
                Unmapped(f"Year {year!r} is not a period", column, year, EXPECTED_PERIOD)
            )
        else:
            fields["time_period"] = period.label
        found: dict[str, list[tuple[str, str]]] = {}  # field -> (column, code) of each cell
        for index, column, concept in self.columns:
            label = cells[index].strip()
            if not label or concept == _IGNORED or index in self.folded:
                continue
            resolved = (
                unmapped_column(column, label)
                if concept is None
                else labels.resolve(concept, column, label)
            )
            if isinstance(resolved, Unmapped):
                reasons.append(resolved)
            elif resolved is not None:
                found.setdefault(resolved.field, []).append((column, resolved.code))
        multiplier = 0
        for name, given in found.items():
            if name == "note":
                fields["note"] = "; ".join(text for _, text in given)
                source["note"] = given[0][0]
                continue
            # A total beside a specific code ("_T" in Age, "Y15T24" in Age group) is no conflict.
            specific = sorted({code for _, code in given if code != TOTAL}) or [TOTAL]
            if len(specific) > 1:
                reasons.append(conflicting([column for column, _ in given], name, specific))
                continue
            column = next(column for column, code in given if code == specific[0])
            if name == "unit_mult":
                multiplier = int(specific[0])
            else:
                fields[name] = specific[0]
                source[name] = column
        if multiplier:
            fields["value"] = scaled(fields["value"], multiplier)
        if self.folded:
            fields["series"] = "|".join(filter(None, (fields.get("series"), *self.folded.values())))
            source.setdefault("series", self.names[next(iter(self.folded))])
        return reasons
