"""Time periods: the SDMX forms the product stores, and the looser forms national files use.

Stored labels are SDMX time periods: `2021`, `2021-Q3`, `2021-S1`, `2021-07`, `2021-07-15`,
`2019/2021`, `2023-05/2023-06`. Each carries the calendar years it spans, so coverage can ask
"what is there since 2015" without parsing labels.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

FIRST_YEAR = 1900
LAST_YEAR = 2100
EXPECTED = (
    "a year or period such as 2021, 2021-Q3, 2021-S1, 2021-07, 2021-07-15 or 2019/2021 "
    f"(years {FIRST_YEAR} to {LAST_YEAR})"
)


class Period(NamedTuple):
    label: str
    year_start: int
    year_end: int


_YEAR = re.compile(r"(\d{4})(?:\.0+)?")  # spreadsheets write a year column as 2021.0
_QUARTER = re.compile(r"(\d{4})(?:-| |)Q([1-4])", re.IGNORECASE)
_SEMESTER = re.compile(r"(\d{4})-S([12])", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-M?(\d{2})", re.IGNORECASE)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_RANGE = re.compile(r"(\d{4})\s*(?:/|-|\s+to\s+)\s*(\d{4})", re.IGNORECASE)
_SHORT_RANGE = re.compile(r"(\d{4})\s*(/|-)\s*(\d{2})")
# "2015/16 to 2017/18": financial years 2015/16 through 2017/18, so 2015 to 2018.
_SHORT_RANGES = re.compile(r"(\d{4})/(\d{2})\s+to\s+(\d{4})/(\d{2})", re.IGNORECASE)
# "17 May to 11 June 2023": fieldwork dates, stored as the months they span (2023-05/2023-06).
_DAYS = re.compile(r"\d{1,2}\s+([a-z]+)(?:\s+(\d{4}))?\s+to\s+\d{1,2}\s+([a-z]+)\s+(\d{4})", re.I)
_MONTH_RANGE = re.compile(r"(\d{4})-(\d{2})/(\d{4})-(\d{2})")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")),
        start=1,
    )
    for name in names
}  # fmt: skip


def parse_period(text: str, *, hyphen_ranges: bool = False) -> Period | None:
    """Read a time period, or None if the text is not one.

    Accepts the SDMX forms and what Open SDG files write: `2001/02` (2001/2002), `2000 Q1`,
    `2010 to 2011`, `2015/16 to 2017/18` (2015/2018), `17 May to 11 June 2023` (2023-05/2023-06).
    `2007-09` is September 2007, as in SDMX, unless `hyphen_ranges` is set: Open SDG files use it
    for the three years 2007 to 2009.
    """
    text = text.strip()
    period = _parse(text, hyphen_ranges)
    if period is None:
        return None
    if not (FIRST_YEAR <= period.year_start <= period.year_end <= LAST_YEAR):
        return None
    return period


def _parse(text: str, hyphen_ranges: bool) -> Period | None:
    if match := _YEAR.fullmatch(text):
        year = int(match[1])
        return Period(str(year), year, year)
    if match := _QUARTER.fullmatch(text):
        year = int(match[1])
        return Period(f"{year}-Q{match[2]}", year, year)
    if match := _SEMESTER.fullmatch(text):
        year = int(match[1])
        return Period(f"{year}-S{match[2]}", year, year)
    if match := _DATE.fullmatch(text):
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        return Period(day.isoformat(), day.year, day.year)
    if match := _RANGE.fullmatch(text):
        return _range(int(match[1]), int(match[2]))
    if match := _SHORT_RANGES.fullmatch(text):
        start, end = int(match[3]), _century_after(int(match[3]), int(match[4]))
        return _range(int(match[1]), end) if int(match[1]) <= start else None
    if match := _DAYS.fullmatch(text):
        first, last = _MONTHS.get(match[1].lower()), _MONTHS.get(match[3].lower())
        end_year = int(match[4])
        start_year = int(match[2]) if match[2] else end_year
        if first is None or last is None:
            return None
        return _month_range(start_year, first, end_year, last)
    if match := _MONTH_RANGE.fullmatch(text):
        return _month_range(int(match[1]), int(match[2]), int(match[3]), int(match[4]))
    if match := _SHORT_RANGE.fullmatch(text):
        start, separator, short = int(match[1]), match[2], int(match[3])
        if separator == "/" or hyphen_ranges:
            return _range(start, _century_after(start, short))
    if match := _MONTH.fullmatch(text):
        year, month = int(match[1]), int(match[2])
        if 1 <= month <= 12:
            return Period(f"{year}-{month:02d}", year, year)
    return None


def _century_after(start: int, short: int) -> int:
    # "1999/00" ends in 2000: the two digits name the first such year after the start.
    end = start - start % 100 + short
    return end if end > start else end + 100


def _month_range(start_year: int, start: int, end_year: int, end: int) -> Period | None:
    if not (1 <= start <= 12 and 1 <= end <= 12) or (end_year, end) < (start_year, start):
        return None
    if (start_year, start) == (end_year, end):
        return Period(f"{start_year}-{start:02d}", start_year, start_year)
    return Period(f"{start_year}-{start:02d}/{end_year}-{end:02d}", start_year, end_year)


def _range(start: int, end: int) -> Period | None:
    if end < start:
        return None
    if end == start:
        return Period(str(start), start, start)
    return Period(f"{start}/{end}", start, end)
