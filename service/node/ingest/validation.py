"""The one validation every format's rows go through, fast on files that repeat themselves.

A row's key (indicator, series, areas, period, unit) is shared by every cell of its table, and
its six dimension codes by every table of the file, so each distinct key and each distinct set of
codes is checked once per file and its outcome remembered in a bounded cache; per row, only the
numbers are parsed. What a cached check found wrong is kept without its row, and reported again,
with the row's own number and source column, on every row that has it. Every problem in a row is
reported, not just the first, so one run tells the data team all there is to fix.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from service.errors import Problem
from service.node.ingest.periods import EXPECTED as EXPECTED_PERIOD
from service.node.ingest.periods import parse_period
from service.node.ingest.records import DIMENSIONS, TOTAL, RawCell

if TYPE_CHECKING:
    from service.reference import Reference

# A validated row: the values of `records.OBSERVATION_COLUMNS`, in that order.
StoredRow = tuple[object, ...]
# What a check found wrong, before it is placed in a row: (tidy column, value, expected).
Finding = tuple[str, str | None, str]

CACHED_KEYS = 4096  # distinct keys and code sets remembered per file; memory stays bounded
CACHED_TEXT = 1000  # characters at most in one remembered entry's texts
_MAX_N = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
_MISSING_VALUE = "M"  # SDMX OBS_STATUS "missing value; data cannot exist": no value to give
_NUMBER = "a finite number with a dot for decimals, such as 12.5"
_COUNT = "a whole number of people, 0 or more, such as 120"
_NO_PROBLEMS: tuple[Problem, ...] = ()
_KEY_FIELDS = ("indicator", "series", "ref_area", "sub_area", "time_period", "unit")
_CODE_FIELDS = tuple(DIMENSIONS)
_MEASURE_FIELDS = ("value", "n", "numerator", "lower", "upper", "obs_status", "note")
_BLANKS = itertools.repeat("")
_V = TypeVar("_V")


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


@dataclass(frozen=True, slots=True)
class _CheckedKey:
    # indicator, series, ref_area, sub_area, time_period, year_start, year_end; None if any finding
    stored: StoredRow | None
    table_key: str
    unit: str
    # The unit's findings come after the dimensions', as the columns are checked in that order.
    findings: tuple[Finding, ...]
    unit_findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class _CheckedCodes:
    stored: StoredRow  # the six codes (group last), then `breakdown`
    findings: tuple[Finding, ...]


class Validator:
    """Checks raw cells against the reference codelists and computes the stored columns."""

    def __init__(self, reference: Reference, file: str) -> None:
        self.reference = reference
        self.file = file
        # Distinct keys outnumber indicators, areas and periods; these lookups serve the keys.
        self._indicator = functools.lru_cache(maxsize=CACHED_KEYS)(reference.normalise_indicator)
        self._subdivision = functools.lru_cache(maxsize=CACHED_KEYS)(reference.is_subdivision)
        self._period = functools.lru_cache(maxsize=CACHED_KEYS)(parse_period)
        self._codelists = {
            dimension: reference.codelist(dimension) for dimension, _ in DIMENSIONS.values()
        }
        self._obs_status = reference.codelist("OBS_STATUS")
        self._keys: dict[tuple[str, ...], _CheckedKey] = {}
        self._codes: dict[tuple[str, ...], _CheckedCodes] = {}

    def validate(self, raw: RawCell) -> tuple[StoredRow | None, Sequence[Problem]]:
        """The row to store for `raw` (`OBSERVATION_COLUMNS`), or None with all its problems."""
        get = raw.fields.get
        # map() looks the columns up in one call; a missing column reads as "".
        key_texts = tuple(map(get, _KEY_FIELDS, _BLANKS))
        key = self._keys.get(key_texts)
        if key is None:
            key = _remember(self._keys, key_texts, self._check_key(*key_texts))
        code_texts = tuple(map(get, _CODE_FIELDS, _BLANKS))
        codes = self._codes.get(code_texts)
        if codes is None:
            codes = _remember(self._codes, code_texts, self._check_codes(code_texts))

        findings: list[Finding] = []
        value_text, n_text, numerator_text, lower_text, upper_text, status_text, note = map(
            str.strip, map(get, _MEASURE_FIELDS, _BLANKS)
        )
        obs_status = status_text or None
        if obs_status is not None and obs_status not in self._obs_status:
            findings.append(("obs_status", obs_status, "an SDMX OBS_STATUS code such as A, E or P"))
        value: float | None = None
        if value_text:
            value = _finite(value_text)
            if value is None:
                findings.append(("value", value_text, _NUMBER))
        elif obs_status != _MISSING_VALUE:
            findings.append(("value", value_text, "a number (the value is required)"))
        n = _count(findings, n_text) if n_text else None
        numerator = _number(findings, "numerator", numerator_text) if numerator_text else None
        lower = _number(findings, "lower", lower_text) if lower_text else None
        upper = _number(findings, "upper", upper_text) if upper_text else None
        if value is not None:
            if lower is not None and lower > value:
                findings.append(("lower", lower_text, f"at most the value {value:g}"))
            if upper is not None and upper < value:
                findings.append(("upper", upper_text, f"at least the value {value:g}"))
        elif lower is not None and upper is not None and lower > upper:
            findings.append(("lower", lower_text, f"at most the upper bound {upper:g}"))
        if len(note) > 10_000:
            findings.append(("note", note, "at most 10000 characters"))

        if findings or key.stored is None or codes.findings:
            return None, self._problems(raw, key, codes, findings)
        stored = (raw.row, *key.stored, *codes.stored, key.table_key, value, key.unit)
        return (*stored, n, numerator, lower, upper, obs_status, note or None), _NO_PROBLEMS

    def _problems(
        self, raw: RawCell, key: _CheckedKey, codes: _CheckedCodes, findings: list[Finding]
    ) -> list[Problem]:
        source = raw.source_columns
        return [
            Problem(self.file, raw.row, source.get(column, column), value, expected)
            for column, value, expected in (
                *key.findings,
                *codes.findings,
                *key.unit_findings,
                *findings,
            )
        ]

    def _check_key(
        self, indicator: str, series: str, ref_area: str, sub_area: str, time_period: str, unit: str
    ) -> _CheckedKey:
        findings: list[Finding] = []
        indicator = indicator.strip()
        normalised = None
        if _required(findings, "indicator", indicator):
            normalised = self._indicator(indicator)
            if normalised is None:
                findings.append(("indicator", indicator, "an SDG indicator code such as 3.8.1"))

        series = _limited(findings, "series", series.strip(), 100)
        area: str | None = None
        if _required(findings, "ref_area", ref_area.strip()):
            area = ref_area.strip().upper()
            if not self.reference.is_country(area):
                expected = "an ISO 3166-1 alpha-3 country code such as BGD"
                findings.append(("ref_area", area, expected))
                area = None
        sub_area = _limited(findings, "sub_area", sub_area.strip(), 20)
        if sub_area and area is not None and not self._subdivision(area, sub_area):
            expected = f"an ISO 3166-2 subdivision or P-code of {area}, or empty for all of it"
            findings.append(("sub_area", sub_area, expected))

        time_period = time_period.strip()
        period = None
        if _required(findings, "time_period", time_period):
            period = self._period(time_period)
            if period is None:
                findings.append(("time_period", time_period, EXPECTED_PERIOD))

        unit_findings: list[Finding] = []
        unit = unit.strip()
        unit_code = None
        if _required(unit_findings, "unit", unit):
            unit_code = self._unit(unit_findings, unit)
        if findings or unit_findings:
            return _CheckedKey(None, "", "", tuple(findings), tuple(unit_findings))
        assert normalised is not None and area is not None and period is not None
        assert unit_code is not None
        return _CheckedKey(
            (normalised, series, area, sub_area, period.label, period.year_start, period.year_end),
            table_key(normalised, series, area, sub_area, period.label, unit_code),
            unit_code,
            (),
            (),
        )

    def _check_codes(self, texts: tuple[str, ...]) -> _CheckedCodes:
        findings: list[Finding] = []
        codes: dict[str, str] = {}
        for (column, (dimension, examples)), text in zip(DIMENSIONS.items(), texts, strict=True):
            code = text.strip() or TOTAL
            if code not in self._codelists[dimension]:
                findings.append((column, code, f"a {dimension} code such as {examples}"))
            codes[column] = code
        return _CheckedCodes((*codes.values(), breakdown(codes)), tuple(findings))

    def _unit(self, findings: list[Finding], text: str) -> str | None:
        code = text.upper()
        if code in self.reference.codelist("UNIT"):
            return code
        # An SDMX UNIT_MEASURE code (PT, NUMBER, ...) maps to the product's unit where one fits.
        mapped = self.reference.units_from_sdmx(text)
        if mapped is not None:
            return mapped
        findings.append(("unit", text, "a unit: NUMBER, PERCENT, RATE, MEAN or SCORE"))
        return None


def _remember(cache: dict[tuple[str, ...], _V], texts: tuple[str, ...], checked: _V) -> _V:
    if sum(map(len, texts)) > CACHED_TEXT:
        return checked  # no real key is this long; keeping such texts could cost megabytes
    if len(cache) >= CACHED_KEYS:
        del cache[next(iter(cache))]  # the oldest: files are mostly sorted by table
    cache[texts] = checked
    return checked


def _required(findings: list[Finding], column: str, text: str) -> bool:
    if not text:
        findings.append((column, text, f"a value (the {column} column is required)"))
    return bool(text)


def _limited(findings: list[Finding], column: str, text: str, limit: int) -> str:
    if len(text) > limit:
        findings.append((column, text, f"at most {limit} characters"))
    return text


def _number(findings: list[Finding], column: str, text: str) -> float | None:
    if not text:
        return None
    number = _finite(text)
    if number is None:
        findings.append((column, text, _NUMBER))
    return number


def _count(findings: list[Finding], text: str) -> int | None:
    if text.isascii() and text.isdigit():  # the usual case, without going through a float
        whole = int(text)
        if whole <= _MAX_N:
            return whole
    number = _finite(text)
    # 12.0 is how spreadsheets write a whole number in a column that has blanks.
    if number is None or number < 0 or number != int(number) or number > _MAX_N:
        findings.append(("n", text, _COUNT))
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
