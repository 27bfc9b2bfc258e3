"""The validator remembers what it checked once per key; its answers must not depend on that."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.errors import IngestError, Problem
from service.node.ingest.records import OBSERVATION_COLUMNS, RawCell
from service.node.ingest.validation import CACHED_KEYS, Validator
from service.reference import load_reference
from tests.node.ingest.conftest import Ingest, WriteFile, fingerprint, tidy_text

REFERENCE = load_reference()
SOURCE = {"sex": "Sex", "indicator": "Indicator", "value": "Value", "unit": "Unit"}


def cell(row: int, **fields: str) -> RawCell:
    base = {
        "indicator": "3.8.1",
        "ref_area": "BGD",
        "time_period": "2022",
        "value": "48.5",
        "unit": "PERCENT",
        "n": "400",
    }
    return RawCell(row=row, fields=base | fields, source_columns=SOURCE)


def test_a_valid_row_gives_the_stored_columns_in_order() -> None:
    stored, problems = Validator(REFERENCE, "f.csv").validate(
        cell(7, sex=" F ", group="DALIT", unit="PT", lower="40", note=" seen ")
    )
    assert list(problems) == [] and stored is not None
    values = dict(zip(OBSERVATION_COLUMNS, stored, strict=True))
    assert values["source_row"] == 7 and values["indicator"] == "3.8.1"
    assert (values["sex"], values["group_code"], values["breakdown"]) == ("F", "DALIT", "GROUP+SEX")
    assert (values["unit"], values["value"], values["n"], values["lower"]) == (
        "PERCENT", 48.5, 400, 40.0,
    )  # fmt: skip
    assert values["note"] == "seen" and values["numerator"] is None


def test_a_problem_shared_by_many_rows_is_reported_on_each_with_its_own_number() -> None:
    validator = Validator(REFERENCE, "f.csv")
    rows = [cell(row, sex="W", indicator="99.9.9") for row in range(2, 52)]
    for raw in rows:
        stored, problems = validator.validate(raw)
        assert stored is None
        assert list(problems) == [
            Problem("f.csv", raw.row, "Indicator", "99.9.9", "an SDG indicator code such as 3.8.1"),
            Problem("f.csv", raw.row, "Sex", "W", "a SEX code such as F, M or _T"),
        ]


def test_a_cached_key_does_not_hide_a_row_s_own_problems() -> None:
    validator = Validator(REFERENCE, "f.csv")
    assert validator.validate(cell(2))[0] is not None
    stored, problems = validator.validate(cell(3, value="five", n="-1"))
    assert stored is None
    assert [(p.row, p.column, p.value) for p in problems] == [(3, "Value", "five"), (3, "n", "-1")]
    assert validator.validate(cell(4))[0] is not None


def test_keys_forgotten_past_the_cache_bound_are_checked_again_alike() -> None:
    validator = Validator(REFERENCE, "f.csv")
    first = validator.validate(cell(2, series="S0", sex="W"))
    for number in range(1, CACHED_KEYS + 10):  # pushes S0 out of the cache
        validator.validate(cell(2, series=f"S{number}"))
    assert validator.validate(cell(2, series="S0", sex="W")) == first
    assert len(first[1]) == 1


# Cells drawn from a few good and bad texts per column, so keys and code sets repeat.
TEXTS = {
    "indicator": ["3.8.1", " 3-8-1 ", "", "99.9.9"],
    "series": ["", "S1", "x" * 101, "y" * 2000],
    "ref_area": ["BGD", "bgd", "", "XYZ"],
    "sub_area": ["", "BD-F", "BD-99"],
    "time_period": ["2022", "2021-Q3", "", "20222"],
    "sex": ["", "F", "W"],
    "group": ["", "DALIT", "NOPE"],
    "value": ["", "12.5", "nan", "1_0"],
    "unit": ["PERCENT", "pt", "", "FOO"],
    "n": ["", "12", "12.0", "-1"],
    "lower": ["", "1", "20"],
    "upper": ["", "50", "2"],
    "obs_status": ["", "A", "M", "Q"],
}
cells = st.fixed_dictionaries({name: st.sampled_from(texts) for name, texts in TEXTS.items()})


@settings(max_examples=150, deadline=None)
@given(st.lists(cells, min_size=1, max_size=30))
def test_one_validator_over_a_file_answers_as_a_fresh_one_per_row(
    rows: list[dict[str, str]],
) -> None:
    shared = Validator(REFERENCE, "f.csv")
    for number, fields in enumerate(rows, start=2):
        raw = RawCell(row=number, fields=fields, source_columns=SOURCE)
        stored, problems = shared.validate(raw)
        fresh_stored, fresh_problems = Validator(REFERENCE, "f.csv").validate(raw)
        assert (stored, list(problems)) == (fresh_stored, list(fresh_problems))
        assert (stored is None) == bool(problems)


@pytest.mark.parametrize("count", [3, 250])
def test_every_row_with_a_repeated_problem_is_in_the_refusal(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile, count: int
) -> None:
    rows = [f"3.8.1,BGD,,{2000 + i % 20},W,_T,_T,{i}.5,PERCENT,10" for i in range(count)]
    before = fingerprint(node_engine)
    with pytest.raises(IngestError) as refused:
        ingest(write_file(tidy_text(*rows)))
    assert refused.value.total == count
    assert [(p.row, p.column, p.value) for p in refused.value.problems] == [
        (row, "sex", "W") for row in range(2, 2 + min(count, 100))
    ]
    assert fingerprint(node_engine) == before
