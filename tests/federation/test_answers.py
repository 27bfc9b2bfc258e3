"""Reading a node's coverage answer: a well-formed cell is taken as sent, a malformed one named
with where it is in the answer; an error answer is reported as the node's error."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.answers import CoverageAnswer, FederatedCoverage, NodeHeader, tag_cells
from federation.transport import NodeBadAnswer, NodeResponse, read_answer

REMOVED = object()
HEADER = {"id": "north", "schemaVersion": "1.0", "dataVersion": "v7"}
JSON = {"content-type": "application/graphql-response+json"}


def raw_cell(**changes: object) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "dataset": "survey", "organisation": "Alpha", "indicator": "1.4.1", "refArea": "BGD",
        "subArea": "", "group": "PWD", "breakdown": ["SEX", "AGE"], "cellCount": 12,
        "firstYear": 2019, "latestYear": 2023, "valuesVisible": True,
    }  # fmt: skip
    cell.update(changes)
    return {key: value for key, value in cell.items() if value is not REMOVED}


def response(body: object, status: int = 200) -> NodeResponse:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return NodeResponse(status, JSON, content)


def coverage_of(*cells: object) -> NodeResponse:
    return response({"data": {"node": HEADER, "coverage": list(cells)}})


def read_cells(answer: NodeResponse) -> list[FederatedCoverage]:
    return tag_cells("north", read_answer(answer, CoverageAnswer).coverage)


def test_a_well_formed_answer_is_read_as_sent_and_tagged_with_its_node() -> None:
    answer = read_answer(coverage_of(raw_cell(), raw_cell(breakdown=[])), CoverageAnswer)
    assert answer.node == NodeHeader(node_id="north", schema_version="1.0", data_version="v7")
    first, second = tag_cells("north", answer.coverage)
    assert first == FederatedCoverage(
        node_id="north", organisation="Alpha", dataset="survey", indicator="1.4.1",
        ref_area="BGD", sub_area="", group="PWD", breakdown=("SEX", "AGE"), cell_count=12,
        first_year=2019, latest_year=2023, values_visible=True,
    )  # fmt: skip
    assert second.breakdown == ()
    assert second.node_id == "north"


def test_a_node_cannot_name_the_node_its_cells_came_from() -> None:
    (cell,) = read_cells(coverage_of(raw_cell(nodeId="someone-else")))
    assert cell.node_id == "north"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a string", r"Expected `object`, got `str` - at `\$.data.coverage\[1\]`"),
        (["a", "list"], r"Expected `object`, got `array` - at `\$.data.coverage\[1\]`"),
        (raw_cell(organisation=None), r"got `null` - at `\$.data.coverage\[1\].organisation`"),
        (raw_cell(dataset=REMOVED), r"missing required field `dataset` - at `\$.data.cov"),
        (raw_cell(indicator=141), r"Expected `str`, got `int` - at `\$.+\[1\].indicator`"),
        (raw_cell(refArea=["BGD"]), r"Expected `str`, got `array` - at `\$.+\[1\].refArea`"),
        (raw_cell(subArea=None), r"Expected `str`, got `null` - at `\$.+\[1\].subArea`"),
        (raw_cell(group=False), r"Expected `str`, got `bool` - at `\$.+\[1\].group`"),
        (raw_cell(cellCount="12"), r"Expected `int`, got `str` - at `\$.+\[1\].cellCount`"),
        (raw_cell(cellCount=True), r"Expected `int`, got `bool` - at `\$.+\[1\].cellCount`"),
        (raw_cell(firstYear=2019.5), r"Expected `int`, got `float` - at `\$.+\[1\].firstYear`"),
        (raw_cell(latestYear=REMOVED), r"missing required field `latestYear`"),
        (raw_cell(valuesVisible="yes"), r"Expected `bool`, got `str` - at `\$.+valuesVisible`"),
        (raw_cell(valuesVisible=1), r"Expected `bool`, got `int` - at `\$.+valuesVisible`"),
        (raw_cell(breakdown="SEX"), r"Expected `array`, got `str` - at `\$.+\[1\].breakdown`"),
        (raw_cell(breakdown=["SEX", 3]), r"got `int` - at `\$.+\[1\].breakdown\[1\]`"),
        (raw_cell(breakdown=[None]), r"got `null` - at `\$.+\[1\].breakdown\[0\]`"),
    ],
)
def test_a_malformed_cell_is_refused_naming_what_is_wrong_and_where(
    raw: object, message: str
) -> None:
    with pytest.raises(NodeBadAnswer, match="malformed answer: .*" + message):
        read_cells(coverage_of(raw_cell(), raw))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (response(b"<html>busy</html>", 502), "HTTP 502: the answer is not JSON"),
        (response({"data": None}, 500), "HTTP 500 without a GraphQL error"),
        (response({"errors": "oops"}), "a malformed error list"),
        (
            response({"data": None, "errors": [{"message": "no", "extensions": {"code": "X"}}]}),
            "the node answered with an error: X: no",
        ),
        # An error answer whose data is partial: the node's error, not the missing field.
        (
            response({"data": {"node": HEADER, "coverage": None}, "errors": [{"message": "x"}]}),
            "the node answered with an error: x",
        ),
        (response({"data": None}), "the node's answer has no `data` object"),
        (response([1, 2]), "the node's answer is not a JSON object"),
        (response({"data": {"coverage": []}}), "missing required field `node` - at `\\$.data`"),
        (
            response({"data": {"node": {**HEADER, "dataVersion": 7}, "coverage": []}}),
            "Expected `str`, got `int` - at `\\$.data.node.dataVersion`",
        ),
    ],
)
def test_an_answer_that_is_not_coverage_says_why(answer: NodeResponse, message: str) -> None:
    with pytest.raises(NodeBadAnswer, match=message):
        read_answer(answer, CoverageAnswer)


JSON_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
FIELDS = (
    "dataset", "organisation", "indicator", "refArea", "subArea", "group", "breakdown",
    "cellCount", "firstYear", "latestYear", "valuesVisible",
)  # fmt: skip


@given(st.sampled_from(FIELDS), JSON_VALUES | st.lists(JSON_VALUES, max_size=3))
def test_any_cell_is_either_read_exactly_or_refused(field: str, value: object) -> None:
    raw = raw_cell(**{field: value})
    try:
        body = orjson.dumps({"data": {"node": HEADER, "coverage": [raw]}})
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: no node could have sent it
        return
    try:
        (cell,) = read_cells(response(body))
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
