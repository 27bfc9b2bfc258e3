"""A node sums its coverage per organisation at the caller's level (`coverageSummary`); a
stocktake that asks only who holds what is answered from those sums, and says exactly what the
entries would say."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from federation.answers import (
    COVERAGE_QUERY,
    COVERAGE_SUMMARY_QUERY,
    COVERAGE_TABLE_QUERY,
    STOCKTAKE_QUERY,
    STOCKTAKE_TABLE_QUERY,
    summarises,
)
from federation.models import NodeRecord
from schema.node import NODE_SCHEMA_VERSION
from service.node.coverage import organisation_coverage
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
    coordinator_client,
    coordinator_settings,
    register_url,
)

ORGANISATIONS = """organisations {
  organisation nodes datasets indicators countries groups cellCount firstYear latestYear }"""
SUMMARY = f"""query($filter: StocktakeFilter) {{ stocktake(filter: $filter) {{
  {ORGANISATIONS} sources {{ nodeId status }} }} }}"""
ENTRIES = """entries {
  organisation dataset indicator country group cellCount firstYear latestYear nodes }"""
WITH_ENTRIES = f"""query($filter: StocktakeFilter) {{ stocktake(filter: $filter) {{
  {ORGANISATIONS} {ENTRIES} sources {{ nodeId status }} }} }}"""
THROUGH_A_FRAGMENT = f"""query($filter: StocktakeFilter) {{ stocktake(filter: $filter) {{
  ...Totals sources {{ nodeId status }} }} }}
  fragment Totals on Stocktake {{ {ORGANISATIONS} }}"""


class Row:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.organisation, self.dataset, self.indicator = (
            raw["organisation"], raw["dataset"], raw["indicator"],
        )  # fmt: skip
        self.ref_area, self.group, self.cell_count = raw["refArea"], raw["group"], raw["cellCount"]
        self.first_year, self.latest_year = raw["firstYear"], raw["latestYear"]


def totals_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each organisation's totals counted from a stocktake's entries, as `organisations` says
    them (in the same order: by name, case-blind)."""
    by_organisation: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_organisation.setdefault(entry["organisation"], []).append(entry)
    return [
        {
            "organisation": name,
            "nodes": sorted({node for e in rows for node in e["nodes"]}),
            "datasets": len({e["dataset"] for e in rows}),
            "indicators": len({e["indicator"] for e in rows}),
            "countries": len({e["country"] for e in rows}),
            "groups": sorted({e["group"] for e in rows}),
            "cellCount": sum(e["cellCount"] for e in rows),
            "firstYear": min(e["firstYear"] for e in rows),
            "latestYear": max(e["latestYear"] for e in rows),
        }
        for name, rows in sorted(by_organisation.items(), key=lambda i: (i[0].casefold(), i[0]))
    ]


def summed(o: Any) -> dict[str, Any]:
    return {
        "organisation": o.organisation,
        "datasets": list(o.datasets),
        "indicators": list(o.indicators),
        "countries": list(o.countries),
        "groups": list(o.groups),
        "cellCount": o.cell_count,
        "firstYear": o.first_year,
        "latestYear": o.latest_year,
    }


@pytest.mark.parametrize("authorization", [None, OWNER_TOKEN], ids=["public", "owner"])
def test_a_nodes_sums_are_its_coverage_summed_at_the_callers_level(
    demo_nodes: list[RunningNode], authorization: str | None
) -> None:
    for node in demo_nodes:
        for variables in ({}, {"filter": {"refAreas": ["BGD"]}}):
            cells = node.ask(COVERAGE_QUERY, variables, authorization)["coverage"]
            sums = node.ask(COVERAGE_SUMMARY_QUERY, variables, authorization)["coverageSummary"]
            expected = [summed(o) for o in organisation_coverage(Row(cell) for cell in cells)]
            assert sums == expected
            assert cells  # something to sum at every level


@pytest.mark.parametrize("authorization", [None, OWNER_TOKEN], ids=["public", "owner"])
@pytest.mark.parametrize(
    ("question", "cells"),
    [(STOCKTAKE_QUERY, "coverage"), (STOCKTAKE_TABLE_QUERY, "coverageTable")],
    ids=["rows", "table"],
)
def test_a_stocktake_question_reads_the_coverage_once_for_cells_and_sums(
    demo_nodes: list[RunningNode], authorization: str | None, question: str, cells: str
) -> None:
    node = demo_nodes[0]
    variables = {"filter": {"refAreas": ["BGD"]}}
    with node.statements() as statements:
        both = node.ask(question, variables, authorization)
    alone = COVERAGE_QUERY if cells == "coverage" else COVERAGE_TABLE_QUERY
    assert both[cells] == node.ask(alone, variables, authorization)[cells]
    sums = node.ask(COVERAGE_SUMMARY_QUERY, variables, authorization)["coverageSummary"]
    assert both["coverageSummary"] == sums
    assert len([s for s in statements if "GROUP BY" in s.upper()]) == 1


def test_nodes_of_this_version_sum_their_coverage() -> None:
    assert summarises(NODE_SCHEMA_VERSION)
    assert not summarises("1.0") and not summarises("0.9") and not summarises("garbled")
    assert summarises("1.12") and summarises("2.0")


@pytest.mark.parametrize("query", [SUMMARY, THROUGH_A_FRAGMENT], ids=["summary", "fragment"])
async def test_the_totals_from_sums_are_the_totals_from_the_entries(
    database_url: str,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    query: str,
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    variables = {"filter": {"countries": ["BGD"]}}
    async with coordinator_client(coordinator_settings(database_url)) as client:
        asked = [len(node.recorder.requests) for node in demo_nodes]
        summed = await client.post("/graphql", json={"query": query, "variables": variables})
        documents = [
            request.document
            for node, start in zip(demo_nodes, asked, strict=True)
            for request in node.recorder.requests[start:]
        ]
        full = await client.post("/graphql", json={"query": WITH_ENTRIES, "variables": variables})
    totals, entries = summed.json()["data"]["stocktake"], full.json()["data"]["stocktake"]
    assert {s["status"] for s in totals["sources"]} == {"OK"}
    assert totals["organisations"] == entries["organisations"]
    assert totals["organisations"] == totals_of(entries["entries"])
    assert len(totals["organisations"]) == len(demo_nodes)
    if query is SUMMARY:  # each node sent its sums, not its cells
        assert documents == [COVERAGE_SUMMARY_QUERY] * len(demo_nodes)
    else:  # a fragment might reach the entries: the cells are asked for, with their sums
        assert documents == [STOCKTAKE_TABLE_QUERY] * len(demo_nodes)


async def test_a_node_too_old_to_sum_is_summed_by_the_coordinator(
    database_url: str, sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    first, second = demo_nodes
    await register_url(sessions, first.url)
    current = await register_url(sessions, second.url)
    with sessions.begin() as session:  # registered while it spoke schema 1.0
        record = session.get(NodeRecord, current.node_id)
        assert record is not None
        record.schema_version = "1.0"
    variables = {"filter": {"countries": ["BGD"]}}
    async with coordinator_client(coordinator_settings(database_url)) as client:
        start = len(second.recorder.requests)
        summed = await client.post("/graphql", json={"query": SUMMARY, "variables": variables})
        old_asked = [r.document for r in second.recorder.requests[start:]]
        full = await client.post("/graphql", json={"query": WITH_ENTRIES, "variables": variables})
    assert old_asked == [COVERAGE_QUERY]
    totals, entries = summed.json()["data"]["stocktake"], full.json()["data"]["stocktake"]
    assert {s["status"] for s in totals["sources"]} == {"OK"}
    assert totals["organisations"] == entries["organisations"]
    assert totals["organisations"] == totals_of(entries["entries"])


async def test_sums_are_asked_with_the_callers_token_and_narrowed_to_organisations(
    database_url: str, sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    organisation = demo_nodes[0].ask("{ node { organisation } }")["node"]["organisation"]
    variables = {"filter": {"countries": ["BGD"], "organisations": [organisation.upper()]}}

    async def totals(query: str, authorization: str | None) -> list[dict[str, Any]]:
        headers = {"Authorization": authorization} if authorization else {}
        answer = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        stocktake = answer.json()["data"]["stocktake"]
        assert {s["status"] for s in stocktake["sources"]} == {"OK"}
        rows: list[dict[str, Any]] = stocktake["organisations"]
        return rows

    async with coordinator_client(coordinator_settings(database_url)) as client:
        public = await totals(SUMMARY, None)
        owner = await totals(SUMMARY, OWNER_TOKEN)
        assert public == await totals(WITH_ENTRIES, None)
        assert owner == await totals(WITH_ENTRIES, OWNER_TOKEN)
    assert [row["organisation"] for row in owner] == [organisation]
    # The owner's token reached the nodes: they summed cells the public may not discover.
    assert owner[0]["cellCount"] > public[0]["cellCount"]
