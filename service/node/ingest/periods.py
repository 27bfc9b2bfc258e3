"""Time periods: the SDMX forms the product stores, and the looser forms national files use.

Stored labels are SDMX time periods: `2021`, `2021-Q3`, `2021-S1`, `2021-07`, `2021-07-15`,
`2019/2021`. Each carries the calendar years it spans, so coverage can ask "what is there since
2015" without parsing labels.
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


def parse_period(text: str, *, hyphen_ranges: bool = False) -> Period | None:
    """Read a time period, or None if the text is not one.

    Accepts the SDMX forms and what Open SDG files write: `2001/02` (2001/2002), `2000 Q1`,
    `2010 to 2011`. `2007-09` is September 2007, as in SDMX, unless `hyphen_ranges` is set: Open
    SDG files use it for the three years 2007 to 2009.
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


def _range(start: int, end: int) -> Period | None:
    if end < start:
        return None
    if end == start:
        return Period(str(start), start, start)
    return Period(f"{start}/{end}", start, end)
