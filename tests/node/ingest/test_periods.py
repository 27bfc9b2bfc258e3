from __future__ import annotations

import pytest

from service.node.ingest.periods import Period, parse_period


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        ("2021", "2021", 2021, 2021),
        (" 2021 ", "2021", 2021, 2021),
        ("2021.0", "2021", 2021, 2021),
        ("2021-Q3", "2021-Q3", 2021, 2021),
        ("2021q3", "2021-Q3", 2021, 2021),
        ("2000 Q1", "2000-Q1", 2000, 2000),
        ("2021-S2", "2021-S2", 2021, 2021),
        ("2021-07", "2021-07", 2021, 2021),
        ("2021-M07", "2021-07", 2021, 2021),
        ("2021-07-15", "2021-07-15", 2021, 2021),
        ("2019/2021", "2019/2021", 2019, 2021),
        ("2019-2021", "2019/2021", 2019, 2021),
        ("2010 to 2011", "2010/2011", 2010, 2011),
        ("2001/02", "2001/2002", 2001, 2002),
        ("1999/00", "1999/2000", 1999, 2000),
        ("2021/2021", "2021", 2021, 2021),
        ("2015/16 to 2017/18", "2015/2018", 2015, 2018),
        ("1998/99 to 1999/00", "1998/2000", 1998, 2000),
        ("17 May to 11 June 2023", "2023-05/2023-06", 2023, 2023),
        ("1 Dec 2022 to 31 Jan 2023", "2022-12/2023-01", 2022, 2023),
        ("3 May to 30 May 2023", "2023-05", 2023, 2023),
        ("2023-05/2023-06", "2023-05/2023-06", 2023, 2023),
    ],
)
def test_periods_are_read_into_sdmx_labels_and_years(
    text: str, label: str, start: int, end: int
) -> None:
    assert parse_period(text) == Period(label, start, end)


@pytest.mark.parametrize(
    "text",
    ["", "17", "twenty", "2021-13", "2021-Q5", "2021-02-30", "2019/2018", "1850", "2150",
     "2018-20", "2021/", "2021.5", "2021-M7", "2017/18 to 2015/16", "17 Mai to 11 June 2023",
     "11 June to 17 May 2023", "2023-06/2023-05", "2020/21 [Note 5]"],
)  # fmt: skip
def test_what_is_not_a_period_is_refused(text: str) -> None:
    assert parse_period(text) is None


def test_open_sdg_hyphenated_ranges_are_read_only_when_asked() -> None:
    assert parse_period("2007-09") == Period("2007-09", 2007, 2007)
    assert parse_period("2007-09", hyphen_ranges=True) == Period("2007/2009", 2007, 2009)
    assert parse_period("2018-20", hyphen_ranges=True) == Period("2018/2020", 2018, 2020)
    assert parse_period("1997-99", hyphen_ranges=True) == Period("1997/1999", 1997, 1999)
