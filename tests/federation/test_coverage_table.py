"""A node's coverage as a table (`coverageTable`, node schema 1.2): the same cells as
`coverage`, each name and code sent once; the coordinator reads it back into exactly those
cells, and refuses a table whose columns do not fit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker

from federation.answers import (
    COVERAGE_QUERY,
    COVERAGE_TABLE_QUERY,
    STOCKTAKE_QUERY,
    STOCKTAKE_TABLE_QUERY,
    CoverageAnswer,
    CoverageTableAnswer,
    FederatedCoverage,
    table_cells,
    tabulates,
    tag_cells,
)
from federation.models import NodeRecord
from federation.transport import NodeBadAnswer, NodeResponse, read_answer
from schema.node import NODE_SCHEMA_VERSION
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
    coordinator_client,
    coordinator_settings,
    register_url,
)

FILTERS = [{}, {"filter": {"refAreas": ["BGD"]}}, {"filter": {"refAreas": ["ATA"]}}]
JSON = {"content-type": "application/graphql-response+json"}


def cells_of(node: RunningNode, variables: dict[str, Any], authorization: str | None) -> Any:
    """The node's coverage, asked both ways and read as the coordinator reads each."""
    as_rows = NodeResponse(
        200, JSON, orjson.dumps({"data": node.ask(COVERAGE_QUERY, variables, authorization)})
    )
    as_table = NodeResponse(
        200,
        JSON,
        orjson.dumps({"data": node.ask(COVERAGE_TABLE_QUERY, variables, authorization)}),
    )
    rows = tag_cells("n", read_answer(as_rows, CoverageAnswer).coverage)
    table = read_answer(as_table, CoverageTableAnswer).coverage_table
    return rows, table


@pytest.mark.parametrize("authorization", [None, OWNER_TOKEN], ids=["public", "owner"])
@pytest.mark.parametrize("variables", FILTERS, ids=["all", "BGD", "nothing"])
def test_a_nodes_table_holds_exactly_its_coverage_rows(
    demo_nodes: list[RunningNode], variables: dict[str, Any], authorization: str | None
) -> None:
    for node in demo_nodes:
        rows, table = cells_of(node, variables, authorization)
        assert table_cells("n", table) == rows
        assert table.size == len(rows)
        # Each name and code once: as many values as distinct ones in the rows.
        assert len(table.values.indicators) == len({row.indicator for row in rows})
        assert len(table.values.breakdowns) == len({row.breakdown for row in rows})
        if variables is not FILTERS[2]:
            assert rows  # something to compare


def test_nodes_of_this_version_send_tables() -> None:
    assert tabulates(NODE_SCHEMA_VERSION)
    assert not tabulates("1.1") and not tabulates("1.0") and not tabulates("garbled")
    assert tabulates("1.10") and tabulates("2.0")


def table(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "organisations": ["Alpha", "Beta"], "datasets": ["survey"], "indicators": ["1.4.1"],
        "refAreas": ["BGD", "NPL"], "subAreas": [""], "groups": ["PWD"],
        "breakdowns": [[], ["SEX", "AGE"]],
    }  # fmt: skip
    columns: dict[str, Any] = {
        "organisation": [0, 1, 0], "dataset": [0, 0, 0], "indicator": [0, 0, 0],
        "refArea": [1, 0, 0], "subArea": [0, 0, 0], "group": [0, 0, 0], "breakdown": [1, 0, 0],
        "cellCount": [4, 5, 6], "firstYear": [2019, 2020, 2021], "latestYear": [2023, 2023, 2022],
        "valuesVisible": [True, False, True],
    }  # fmt: skip
    size = changes.pop("size", 3)
    for name, value in changes.items():
        (values if name in values else columns)[name] = value
    return {"size": size, "values": values, "columns": columns}


def read_table(raw: dict[str, Any]) -> list[FederatedCoverage]:
    header = {"id": "north", "schemaVersion": "1.2", "dataVersion": "v7"}
    body = orjson.dumps({"data": {"node": header, "coverageTable": raw}})
    answer = read_answer(NodeResponse(200, JSON, body), CoverageTableAnswer)
    return table_cells("north", answer.coverage_table)


def test_a_table_is_read_into_its_cells() -> None:
    first, second, third = read_table(table())
    assert first == FederatedCoverage(
        node_id="north", organisation="Alpha", dataset="survey", indicator="1.4.1",
        ref_area="NPL", sub_area="", group="PWD", breakdown=("SEX", "AGE"), cell_count=4,
        first_year=2019, latest_year=2023, values_visible=True,
    )  # fmt: skip
    assert (second.organisation, second.breakdown, second.values_visible) == ("Beta", (), False)
    assert (third.organisation, third.cell_count, third.latest_year) == ("Alpha", 6, 2022)
    assert first.organisation is third.organisation  # one object for one name
    assert read_table(table(size=0, **{name: [] for name in table()["columns"]})) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"organisation": [0, 2, 0]}, "columns.organisation holds a position outside "
         "values.organisations (2 values)"),
        ({"refArea": [0, -1, 0]}, "Expected `int` >= 0 - at `$.data.coverageTable.columns.ref"),
        ({"breakdown": [0, 0, 2]}, "columns.breakdown holds a position outside values.break"),
        ({"indicators": []}, "columns.indicator holds a position outside values.indicators (0"),
        ({"cellCount": [4, 5]}, "columns.cellCount has 2 items for a table of 3"),
        ({"valuesVisible": [True] * 4}, "columns.valuesVisible has 4 items for a table of 3"),
        ({"size": 2}, "columns.organisation has 3 items for a table of 2"),
        ({"group": [0, "0", 0]}, r"Expected `int`, got `str` - at `$.data.coverageTable.colum"),
        ({"breakdowns": [[], "SEX"]}, "Expected `array`, got `str` - at `$.data.coverageTab"),
    ],
)  # fmt: skip
def test_a_table_that_does_not_fit_is_refused_saying_where(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(NodeBadAnswer) as refused:
        read_table(table(**changes))
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("version", "question"),
    [("1.2", STOCKTAKE_TABLE_QUERY), ("1.1", STOCKTAKE_QUERY), ("1.0", COVERAGE_QUERY)],
)
async def test_a_stocktake_is_the_same_whichever_way_a_node_sends_its_coverage(
    database_url: str,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    version: str,
    question: str,
) -> None:
    first, second = demo_nodes
    await register_url(sessions, first.url)
    current = await register_url(sessions, second.url)
    query = """query($filter: StocktakeFilter) { stocktake(filter: $filter) {
        entries { organisation dataset indicator country subArea group disaggregations
                  cellCount firstYear latestYear valuesVisible nodes }
        organisations { organisation nodes datasets indicators countries groups cellCount }
        sources { nodeId status message } } }"""
    variables = {"filter": {"countries": ["BGD"]}}
    async with coordinator_client(coordinator_settings(database_url)) as client:
        as_registered = await client.post("/graphql", json={"query": query, "variables": variables})
        with sessions.begin() as session:  # as if registered while it spoke `version`
            record = session.get(NodeRecord, current.node_id)
            assert record is not None
            record.schema_version = version
    async with coordinator_client(coordinator_settings(database_url)) as client:
        start = len(second.recorder.requests)
        answer = await client.post("/graphql", json={"query": query, "variables": variables})
        asked = [request.document for request in second.recorder.requests[start:]]
    assert asked == [question]
    stocktake = answer.json()["data"]["stocktake"]
    assert {s["status"] for s in stocktake["sources"]} == {"OK"}
    assert stocktake == as_registered.json()["data"]["stocktake"]
    assert len(stocktake["entries"]) > 10
