"""The duplicate screen: its "no" must be certain, whatever the order of the rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.errors import IngestError
from service.node.ingest.duplicates import DuplicateScreen
from service.node.ingest.records import OBSERVATION_COLUMNS
from service.node.ingest.validation import StoredRow, table_key
from tests.node.ingest.conftest import Ingest, WriteFile, fingerprint, tidy_text

Key = tuple[str, str, str]  # area, sex, group


def stored(area: str, sex: str = "_T", group: str = "_T") -> StoredRow:
    """A validated row of the table of `area`, with the codes given."""
    values: dict[str, object] = dict.fromkeys(OBSERVATION_COLUMNS, "_T")
    values["sex"], values["group_code"] = sex, group
    values["table_key"] = table_key("3.8.1", "", "BGD", area, "2022", "PERCENT")
    return tuple(values[column] for column in OBSERVATION_COLUMNS)


def screened(keys: list[Key], filter_bits: int | None = None) -> bool:
    screen = DuplicateScreen() if filter_bits is None else DuplicateScreen(filter_bits)
    for key in keys:
        screen.add(stored(*key))
    return screen.maybe


keys = st.tuples(
    st.sampled_from(["", "BD-F", "BD-13"]), st.sampled_from(["_T", "F"]), st.sampled_from(["_T"])
)


@given(st.lists(keys, max_size=12), st.sampled_from([None, 8, 64]))
def test_a_no_is_certain(rows: list[Key], filter_bits: int | None) -> None:
    if not screened(rows, filter_bits):
        assert len(set(rows)) == len(rows)


@given(st.lists(keys, min_size=1, max_size=12), st.data())
def test_a_repeated_key_is_never_cleared(rows: list[Key], data: st.DataObject) -> None:
    repeated = data.draw(st.sampled_from(rows))
    position = data.draw(st.integers(0, len(rows)))
    assert screened([*rows[:position], repeated, *rows[position:]])


def test_tables_in_runs_with_distinct_cells_are_cleared() -> None:
    rows = [(area, sex, group) for area in ("", "BD-F") for sex in "FM" for group in ("_T", "PWD")]
    assert not screened(rows)


def test_a_table_met_again_later_is_left_to_the_database() -> None:
    assert screened([("", "F", "_T"), ("BD-F", "F", "_T"), ("", "M", "_T")])


def test_a_full_filter_answers_maybe() -> None:
    # One bit: every table after the first looks seen, although none is.
    assert screened([("", "F", "_T"), ("BD-F", "F", "_T")], filter_bits=1)


@pytest.mark.parametrize("gap", [0, 1, 150])
def test_a_key_repeated_at_any_distance_is_refused(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile, gap: int
) -> None:
    row = "3.8.1,BGD,,2022,F,_T,_T,51.0,PERCENT,210"
    between = [f"3.8.1,BGD,,{1901 + year},M,_T,_T,1.5,PERCENT,20" for year in range(gap)]
    before = fingerprint(node_engine)
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(row, *between, row.replace("51.0", "52.0"))))
    [problem] = refused.value.problems
    assert problem.row == gap + 3 and f"rows 2, {gap + 3} share" in problem.expected
    assert fingerprint(node_engine) == before
