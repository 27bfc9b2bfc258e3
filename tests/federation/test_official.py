"""Official coverage: the CSV the secretariat loads, and the global constraints baseline."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from federation.models import OfficialCoverage
from federation.official import (
    OfficialRecord,
    OfficialTable,
    load_official_file,
    official_cells,
    official_expectations,
    parse_official_csv,
    read_official_table,
)
from service.errors import IngestError
from service.reference import Reference, load_reference

GOOD = """indicator,ref_area,dimension,codes,source,latest_year
5.2.1,KEN,SEX,F;M,KNBS,2022
5.2.1,KEN,DISABILITY_STATUS,PD;PWD,KNBS,2022
05.02.01,KEN,AGE,Y15T24;Y_GE60,KNBS,2014
1.3.1,BGD,_T,,BBS,
1.3.1,BGD,COMPOSITE_BREAKDOWN,MS_MIGRANT;MS_NOMIGRANT,BBS,2021
1.3.1,BGD,GROUP,DALIT,BBS,2021
"""


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def write(tmp_path: Path, text: str, name: str = "official.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(sessions: sessionmaker[Session]) -> set[tuple[str, str, str, str, str]]:
    with sessions() as session:
        rows = session.scalars(select(OfficialCoverage)).all()
        return {(r.source, r.indicator, r.ref_area, r.group, r.breakdown) for r in rows}


def test_a_file_is_read_into_groups_and_breakdowns(
    tmp_path: Path, reference: Reference, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        report = load_official_file(session, write(tmp_path, GOOD), reference)
    assert (report.rows_read, report.sources, report.records_replaced) == (6, ("BBS", "KNBS"), 0)
    assert stored(sessions) == {
        ("KNBS", "5.2.1", "KEN", "_T", "SEX"),
        ("KNBS", "5.2.1", "KEN", "_T", "DISABILITY_STATUS"),
        ("KNBS", "5.2.1", "KEN", "PWD", "DISABILITY_STATUS"),  # PD is persons with disabilities
        ("KNBS", "5.2.1", "KEN", "_T", "AGE"),
        ("KNBS", "5.2.1", "KEN", "YOUTH", "AGE"),
        ("KNBS", "5.2.1", "KEN", "OLDER", "AGE"),
        ("BBS", "1.3.1", "BGD", "_T", ""),
        ("BBS", "1.3.1", "BGD", "_T", "COMPOSITE_BREAKDOWN"),
        ("BBS", "1.3.1", "BGD", "MIGRANT", "COMPOSITE_BREAKDOWN"),
        ("BBS", "1.3.1", "BGD", "DALIT", "GROUP"),
    }
    assert report.records_stored == 10
    with sessions() as session:
        table = read_official_table(session)
    assert len(table) == 10 and table.countries() == {"KEN", "BGD"}
    ken = official_cells(
        table,
        official_expectations(reference),
        ["5.2.1"],
        "KEN",
        ["_T", "PWD", "YOUTH", "DALIT"],
        label="5.2.1",
    )
    assert ken["_T"].reported_dimensions == ("SEX", "AGE", "DISABILITY_STATUS")
    assert ken["_T"].latest_year == 2022
    assert [ken[g].reported for g in ("_T", "PWD", "YOUTH", "DALIT")] == [True, True, True, False]
    assert ken["_T"].note.startswith(
        "official statistics report 5.2.1 for KEN by SEX, AGE, DISABILITY_STATUS;"
    )


def test_a_bad_row_stores_nothing_and_says_where(
    tmp_path: Path, reference: Reference, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        load_official_file(session, write(tmp_path, GOOD), reference)
    before = stored(sessions)
    bad = GOOD.replace("KNBS,2014", "KNBS,2014\n5.2.1,KEN,SEX,F;X,KNBS,2023\n5.2.9,KENYA,_T,,KNBS,")
    with sessions() as session, pytest.raises(IngestError) as caught:
        load_official_file(session, write(tmp_path, bad), reference)
    messages = [str(problem) for problem in caught.value.problems]
    assert messages == [
        "official.csv, row 5, column 'codes': found 'X'; expected codes of CL_SEX separated by ';'",
        "official.csv, row 6, column 'indicator': found '5.2.9'; expected an SDG indicator "
        "number such as 5.2.1",
        "official.csv, row 6, column 'ref_area': found 'KENYA'; expected an ISO 3166-1 alpha-3 "
        "country code in capitals (KEN)",
    ]
    assert caught.value.total == 3
    assert stored(sessions) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("indicator,ref_area,codes\n5.2.1,KEN,F\n", "missing: dimension"),
        ("indicator,ref_area,dimension,codes\n5.2.1,KEN,ETHNICITY,X\n", "_T or one of SEX"),
        ("indicator,ref_area,dimension,codes\n5.2.1,KEN,SEX,\n", "one or more SEX codes"),
        ("indicator,ref_area,dimension,codes\n5.2.1,KEN,_T,F\n", "no codes (or _T)"),
        ("indicator,ref_area,dimension,codes,latest_year\n5.2.1,KEN,_T,,22\n", "a year"),
        (
            "indicator,ref_area,dimension,codes,first_year,latest_year\n5.2.1,KEN,_T,,2022,2020\n",
            "a year no later than latest_year",
        ),
        (
            "indicator,ref_area,dimension,codes,source\n5.2.1,KEN,_T,," + "S" * 201 + "\n",
            "at most 200 characters",
        ),
        ("", "a header line"),
    ],
)
def test_malformed_files_are_refused(
    tmp_path: Path, reference: Reference, text: str, expected: str
) -> None:
    with pytest.raises(IngestError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_official_csv(write(tmp_path, text), reference)


def test_a_reload_replaces_its_own_sources_only(
    tmp_path: Path, reference: Reference, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        load_official_file(session, write(tmp_path, GOOD), reference)
    update = "indicator,ref_area,dimension,codes,source\n5.2.1,KEN,_T,,KNBS\n"
    with sessions() as session:
        report = load_official_file(session, write(tmp_path, update, "knbs.csv"), reference)
    assert (report.sources, report.records_replaced, report.records_stored) == (("KNBS",), 6, 1)
    assert {row for row in stored(sessions) if row[0] == "KNBS"} == {
        ("KNBS", "5.2.1", "KEN", "_T", "")
    }
    assert len({row for row in stored(sessions) if row[0] == "BBS"}) == 4
    # Without a source column, the file's name is the source.
    with sessions() as session:
        load_official_file(
            session,
            write(tmp_path, "indicator,ref_area,dimension,codes\n3.8.1,NPL,_T,\n", "cbs-nepal.csv"),
            reference,
        )
        count = session.scalar(select(func.count()).where(OfficialCoverage.source == "cbs-nepal"))
    assert count == 1


def test_duplicate_rows_merge_their_years(tmp_path: Path, reference: Reference) -> None:
    text = (
        "indicator,ref_area,dimension,codes,first_year,latest_year\n"
        "5.2.1,KEN,SEX,F,2014,2014\n5.2.1,KEN,SEX,M,2019,2022\n"
    )
    records = parse_official_csv(write(tmp_path, text), reference)
    assert records == [OfficialRecord("official", "5.2.1", "", "KEN", "_T", "SEX", 2014, 2022)]


def test_expectations_follow_the_global_constraints(
    reference: Reference, shared_data: Path
) -> None:
    expectations = official_expectations(reference)
    # Every global indicator but four has a constrained series (the draft skips them).
    missing = [i.code for i in reference.indicators if i.code not in expectations]
    assert missing == ["1.b.1", "11.4.1", "16.3.3", "17.13.1"]
    # 17.1.1 (government revenue) is never broken down by people.
    assert expectations["17.1.1"].dimensions == ()
    assert expectations["17.1.1"].groups == {"_T"}
    # 1.3.1: the disability benefit series allows disability status, and migratory status.
    social = expectations["1.3.1"]
    assert "SI_COV_DISAB" in social.series
    assert {"SEX", "DISABILITY_STATUS", "COMPOSITE_BREAKDOWN"} <= set(social.dimensions)
    assert {"PWD", "MIGRANT", "_T"} <= social.groups
    # Cross-check one row against the file itself.
    path = shared_data / "sdmx-sdg-dsd" / "global_content_constraints.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["SERIES"] == "SI_COV_DISAB")
    assert row["DISABILITY_STATUS"] == "ALL" and "MS_MIGRANT" in row["COMPOSITE_BREAKDOWN"]


def test_cells_without_a_table_or_a_series(reference: Reference) -> None:
    expectations = official_expectations(reference)
    none = official_cells(None, expectations, ["11.4.1"], "KEN", ["_T"], label="11.4.1")["_T"]
    assert (none.reported, none.expected, none.expected_dimensions) == (None, False, ())
    assert none.note == (
        "no official-coverage table loaded; no global series for it in the SDG content constraints"
    )
    empty = OfficialTable([])
    totals = official_cells(empty, expectations, ["17.1.1"], "KEN", ["_T", "PWD"], label="17.1")
    assert totals["_T"].note == (
        "official statistics report nothing on 17.1 for KEN; expected by global constraints: "
        "totals only"
    )
    assert totals["PWD"].note.endswith("totals only (not for this group)")
