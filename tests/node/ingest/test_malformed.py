"""A file with anything wrong is refused, every problem listed, and the database is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.errors import IngestError
from service.reference import load_reference
from tests.node.ingest.conftest import (
    GOOD_ROWS,
    HEADER,
    Ingest,
    WriteFile,
    fingerprint,
    tidy_text,
)

GOOD = GOOD_ROWS[0]  # 3.8.1,BGD,,2022,_T,_T,_T,48.5,PERCENT,400
WIDE = "indicator,ref_area,time_period,age,value,unit,n,lower,upper,note"
WIDE_GOOD = "3.8.1,BGD,2022,_T,48.5,PERCENT,400,,,"


def good_with(header: str = HEADER, row: str = GOOD, **cells: str) -> str:
    """One good row with some of its cells replaced, under its header."""
    values = dict(zip(header.split(","), row.split(","), strict=True)) | cells
    return tidy_text(",".join(values.values()), header=header)


# name -> (file content, [(row, column) of each problem expected])
CASES: dict[str, tuple[str | bytes, list[tuple[int | None, str | None]]]] = {
    "unknown indicator": (good_with(indicator="99.9.9"), [(2, "indicator")]),
    "unknown country": (good_with(ref_area="XYZ"), [(2, "ref_area")]),
    "sub-area of another country": (good_with(ref_area="NPL", sub_area="BD-F"), [(2, "sub_area")]),
    "unknown sub-area": (good_with(sub_area="BD-99"), [(2, "sub_area")]),
    "unknown sex": (good_with(sex="W"), [(2, "sex")]),
    "unknown age": (good_with(WIDE, WIDE_GOOD, age="15-24"), [(2, "age")]),
    "unknown disability": (good_with(disability_status="YES"), [(2, "disability_status")]),
    "unknown group": (good_with(group="ROMA"), [(2, "group")]),
    "unknown unit": (good_with(unit="PERCENTAGE"), [(2, "unit")]),
    "bad period": (good_with(time_period="2021-13"), [(2, "time_period")]),
    "text value": (good_with(value="about 5"), [(2, "value")]),
    "NaN value": (good_with(value="NaN"), [(2, "value")]),
    "infinite value": (good_with(value="-inf"), [(2, "value")]),
    "overflowing value": (good_with(value="1e999"), [(2, "value")]),
    "decimal comma": (good_with(value='"48,5"'), [(2, "value")]),
    "empty value": (good_with(value=""), [(2, "value")]),
    "negative n": (good_with(n="-3"), [(2, "n")]),
    "fractional n": (good_with(n="12.5"), [(2, "n")]),
    "text n": (good_with(n="many"), [(2, "n")]),
    "bounds around the value": (
        good_with(WIDE, WIDE_GOOD, lower="50", upper="47"),
        [(2, "lower"), (2, "upper")],
    ),
    "every problem in a row": (
        good_with(indicator="9.9.9", ref_area="XYZ", time_period="20x", sex="W", value="abc",
                  unit="FOO", n="-1"),
        [(2, "indicator"), (2, "ref_area"), (2, "time_period"), (2, "sex"), (2, "unit"),
         (2, "value"), (2, "n")],
    ),
    "missing required columns": (
        tidy_text("3.8.1,2022,48.5", header="indicator,time_period,value"),
        [(1, "ref_area"), (1, "unit")],
    ),
    "unknown column": (tidy_text(GOOD + ",North", header=HEADER + ",region"), [(1, "region")]),
    "repeated column": (tidy_text(GOOD + ",400", header=HEADER + ",n"), [(1, "n")]),
    "wrong number of cells": (tidy_text(GOOD, GOOD_ROWS[1] + ",extra"), [(3, None)]),
    "duplicate keys": (tidy_text(*GOOD_ROWS, GOOD_ROWS[1].replace("51.0", "52.0")), [(6, None)]),
    "empty file": (b"", [(None, None)]),
    "header only": (tidy_text(), [(None, None)]),
    "latin-1 bytes": (
        tidy_text(WIDE_GOOD, header=WIDE).encode()
        + "3.8.1,BGD,2021,_T,1,NUMBER,10,,,Ren\xe9e\n".encode("latin-1"),
        [(3, "note")],
    ),
    "unclosed quote": (tidy_text(GOOD, '3.8.1,"BGD,,2021,_T,_T,_T,1,NUMBER,10'), [(3, None)]),
    "a 10 MB line": (
        tidy_text(WIDE_GOOD, "3.8.1,BGD,2021,_T,1,NUMBER,10,,," + "x" * 10_000_000, header=WIDE),
        [(3, "note")],
    ),
}  # fmt: skip


@pytest.fixture
def loaded(node_engine: Engine, ingest: Ingest, write_file: WriteFile) -> dict[str, object]:
    """A dataset with one good version in place; the fingerprint of the database."""
    ingest(write_file(tidy_text(*GOOD_ROWS)))
    return fingerprint(node_engine)


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_file_is_refused_with_each_problem_located_and_nothing_changes(
    node_engine: Engine,
    ingest: Ingest,
    write_file: WriteFile,
    loaded: dict[str, object],
    case: str,
) -> None:
    content, expected = CASES[case]
    path = write_file(content)
    with pytest.raises(IngestError) as refused:
        ingest(path)
    problems = refused.value.problems
    assert [(p.row, p.column) for p in problems] == expected, refused.value.report()
    assert refused.value.total == len(expected)
    assert all(p.file == path.name and p.expected for p in problems)
    assert fingerprint(node_engine) == loaded


def test_a_refused_first_version_leaves_no_dataset(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    before = fingerprint(node_engine)
    with pytest.raises(IngestError):
        ingest(write_file(tidy_text(GOOD, "3.8.1,BGD,,2022,X,_T,_T,1,PERCENT,4")), slug="fresh")
    assert fingerprint(node_engine) == before


def test_problems_are_capped_at_100_with_the_total_counted(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile, loaded: dict[str, object]
) -> None:
    bad = [f"3.8.1,BGD,,{2000 + i % 50},W,_T,_T,{i},PERCENT,{i}" for i in range(250)]
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(*bad)))
    assert len(refused.value.problems) == 100 and refused.value.total == 250
    assert [p.row for p in refused.value.problems] == list(range(2, 102))
    assert refused.value.report().endswith("… and 150 more problems")
    assert fingerprint(node_engine) == loaded


def test_duplicates_are_found_even_after_other_problems(
    ingest: Ingest, write_file: WriteFile
) -> None:
    rows = [GOOD.replace("BGD", "XYZ"), *GOOD_ROWS, GOOD_ROWS[2]]
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(*rows)))
    first, duplicate = refused.value.problems
    assert (first.row, first.column) == (2, "ref_area")
    assert duplicate.row == 7 and "rows 5, 7 share" in duplicate.expected
    assert "sex=M" in str(duplicate.value)


def test_the_problem_says_what_was_found_and_what_was_expected(
    ingest: Ingest, write_file: WriteFile
) -> None:
    path = write_file(tidy_text("3.8.1,BGD,,2022,W,_T,_T,48.5,PERCENT,400"), name="survey.csv")
    with pytest.raises(IngestError) as refused:
        ingest(path)
    assert str(refused.value.problems[0]) == (
        "survey.csv, row 2, column 'sex': found 'W'; expected a SEX code such as F, M or _T"
    )


# A good file, then one or more corruptions: each alone makes the file malformed.
REFERENCE = load_reference()
CODED = {
    "indicator": lambda text: REFERENCE.normalise_indicator(text) is None,
    "ref_area": lambda text: not REFERENCE.is_country(text.strip().upper()),
    "sex": lambda text: text.strip() not in REFERENCE.codelist("SEX") and bool(text.strip()),
    "group": lambda text: text.strip() not in REFERENCE.codelist("GROUP") and bool(text.strip()),
}
COLUMNS = HEADER.split(",")
printable = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)
bad_numbers = st.sampled_from(["", "nan", "-inf", "Infinity", "1e400", "12,5", "five", "0x10"])
bad_counts = st.sampled_from(["-1", "2.5", "ten", "1e20", "nan"])


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, int, str]:
    kind = draw(st.sampled_from(["cell", "number", "count", "drop", "duplicate", "bytes", "quote"]))
    row = draw(st.integers(0, len(GOOD_ROWS) - 1))
    if kind == "cell":
        column = draw(st.sampled_from(sorted(CODED)))
        return kind, row, column + "=" + draw(printable.filter(CODED[column]))
    if kind == "number":
        return "cell", row, "value=" + draw(bad_numbers)
    if kind == "count":
        return "cell", row, "n=" + draw(bad_counts)
    if kind == "drop":
        return (
            kind,
            row,
            draw(st.sampled_from(["indicator", "ref_area", "time_period", "value", "unit"])),
        )
    return kind, row, ""


def corrupt(steps: list[tuple[str, int, str]]) -> bytes:
    header = COLUMNS[:]
    rows = [row.split(",") for row in GOOD_ROWS]
    raw_lines: dict[int, bytes] = {}
    for kind, index, detail in steps:
        if kind == "cell":
            column, _, text = detail.partition("=")
            if column not in header:  # dropped by an earlier step
                continue
            rows[index][header.index(column)] = '"' + text.replace('"', '""') + '"'
        elif kind == "drop" and detail in header:
            position = header.index(detail)
            del header[position]
            for row in rows:
                del row[position]
        elif kind == "duplicate":
            rows.append(rows[index][:])
        elif kind == "bytes":
            raw_lines[index] = b"\xff\xfe"
        elif kind == "quote":
            rows[index][0] = '"' + rows[index][0]
    lines = [",".join(header).encode()]
    for index, row in enumerate(rows):
        lines.append(",".join(row).encode() + raw_lines.get(index, b""))
    return b"\n".join(lines) + b"\n"


@settings(
    max_examples=40,
    deadline=None,
    # The database is shared across examples on purpose: none of them may change it.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(corruption(), min_size=1, max_size=3))
def test_any_corrupted_file_changes_nothing(
    node_engine: Engine,
    ingest: Ingest,
    tmp_path: Path,
    loaded: dict[str, object],
    steps: list[tuple[str, int, str]],
) -> None:
    path = tmp_path / "corrupted.csv"
    path.write_bytes(corrupt(steps))
    with pytest.raises(IngestError) as refused:
        ingest(path)
    assert refused.value.total >= 1
    assert fingerprint(node_engine) == loaded
