"""Reading a node's coverage answer: a well-formed cell is taken as sent, a malformed one named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.answers import FederatedCoverage, coverage_cell
from federation.registry import RegisteredNode
from federation.transport import NodeBadAnswer

NODE = RegisteredNode(
    node_id="north", name="North", organisation="Alpha", url="http://127.0.0.1:9/graphql",
    public_key={}, key_id="k", schema_version="1.0", added_at=dt.datetime.now(dt.UTC),
)  # fmt: skip


REMOVED = object()


def raw_cell(**changes: object) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "dataset": "survey", "organisation": "Alpha", "indicator": "1.4.1", "refArea": "BGD",
        "subArea": "", "group": "PWD", "breakdown": ["SEX", "AGE"], "cellCount": 12,
        "firstYear": 2019, "latestYear": 2023, "valuesVisible": True,
    }  # fmt: skip
    cell.update(changes)
    return {key: value for key, value in cell.items() if value is not REMOVED}


def test_a_well_formed_cell_is_read_as_sent() -> None:
    assert coverage_cell(NODE, raw_cell()) == FederatedCoverage(
        node_id="north", organisation="Alpha", dataset="survey", indicator="1.4.1",
        ref_area="BGD", sub_area="", group="PWD", breakdown=("SEX", "AGE"), cell_count=12,
        first_year=2019, latest_year=2023, values_visible=True,
    )  # fmt: skip
    assert coverage_cell(NODE, raw_cell(breakdown=[])).breakdown == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a string", "malformed coverage cell"),
        (["a", "list"], "malformed coverage cell"),
        (raw_cell(organisation=None), "'organisation' is not text"),
        (raw_cell(dataset=REMOVED), "'dataset' is not text"),
        (raw_cell(indicator=141), "'indicator' is not text"),
        (raw_cell(refArea=["BGD"]), "'refArea' is not text"),
        (raw_cell(subArea=None), "'subArea' is not text"),
        (raw_cell(group=False), "'group' is not text"),
        (raw_cell(cellCount="12"), "'cellCount' is not a whole number"),
        (raw_cell(cellCount=True), "'cellCount' is not a whole number"),
        (raw_cell(firstYear=2019.5), "'firstYear' is not a whole number"),
        (raw_cell(latestYear=REMOVED), "'latestYear' is not a whole number"),
        (raw_cell(valuesVisible="yes"), "'valuesVisible' is not true or false"),
        (raw_cell(valuesVisible=1), "'valuesVisible' is not true or false"),
        (raw_cell(breakdown="SEX"), "'breakdown' is not a list"),
        (raw_cell(breakdown=["SEX", 3]), "'breakdown' holds something other than text"),
        (raw_cell(breakdown=[None]), "'breakdown' holds something other than text"),
    ],
)
def test_a_malformed_cell_is_refused_naming_what_is_wrong(raw: object, message: str) -> None:
    with pytest.raises(NodeBadAnswer, match=message):
        coverage_cell(NODE, raw)


JSON_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
FIELDS = (
    "dataset", "organisation", "indicator", "refArea", "subArea", "group", "breakdown",
    "cellCount", "firstYear", "latestYear", "valuesVisible",
)  # fmt: skip


@given(st.sampled_from(FIELDS), JSON_VALUES | st.lists(JSON_VALUES, max_size=3))
def test_any_cell_is_either_read_exactly_or_refused(field: str, value: object) -> None:
    raw = raw_cell(**{field: value})
    try:
        cell = coverage_cell(NODE, raw)
    except NodeBadAnswer:
        return
    # Accepted: every field has its JSON type, and the cell says exactly what was sent.
    assert (
        cell.dataset, cell.organisation, cell.indicator, cell.ref_area, cell.sub_area, cell.group,
        list(cell.breakdown), cell.cell_count, cell.first_year, cell.latest_year,
        cell.values_visible,
    ) == tuple(raw[name] for name in FIELDS)  # fmt: skip
    texts = (cell.dataset, cell.organisation, cell.indicator, cell.ref_area, cell.sub_area,
             cell.group, *cell.breakdown)  # fmt: skip
    assert all(type(text) is str for text in texts)
    assert all(type(n) is int for n in (cell.cell_count, cell.first_year, cell.latest_year))
    assert type(cell.values_visible) is bool
