"""The coordinator's HTTP API: federated GraphQL, the stocktake download, health."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation.fanout import COVERAGE_QUERY
from federation.stocktake import CSV_COLUMNS
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
    StandIns,
    coordinator_client,
    coordinator_settings,
    register_identity,
    register_url,
    standin_identity,
    unused_port_url,
)

STOCKTAKE = """query($filter: StocktakeFilter) {
  stocktake(filter: $filter) {
    entries {
      organisation dataset indicator target goal country countryName subArea group
      disaggregations cellCount firstYear latestYear valuesVisible nodes
    }
    organisations { organisation nodes datasets indicators countries groups cellCount }
    sources { nodeId organisation url status latencyMs message }
  }
}"""
NODES = """query($check: Boolean!) {
  nodes(check: $check) { id organisation url keyFingerprint schemaVersion lastStatus
                         lastLatencyMs lastMessage lastCheckedAt }
}"""


async def ask(
    client: httpx.AsyncClient, query: str, authorization: str | None = None, **variables: Any
) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def direct(node: RunningNode, node_filter: Mapping[str, object], authorization: str | None = None
           ) -> set[tuple[object, ...]]:  # fmt: skip
    data = node.ask(COVERAGE_QUERY, {"filter": dict(node_filter)}, authorization)
    return {
        (c["organisation"], c["dataset"], c["indicator"], c["refArea"], c["subArea"], c["group"],
         tuple(c["breakdown"]), c["cellCount"], c["firstYear"], c["latestYear"],
         c["valuesVisible"])
        for c in data["coverage"]
    }  # fmt: skip


def entries_of(data: dict[str, Any]) -> set[tuple[object, ...]]:
    return {
        (e["organisation"], e["dataset"], e["indicator"], e["country"], e["subArea"], e["group"],
         tuple(e["disaggregations"]), e["cellCount"], e["firstYear"], e["latestYear"],
         e["valuesVisible"])
        for e in data["stocktake"]["entries"]
    }  # fmt: skip


async def register_federation(
    sessions: sessionmaker[Session], nodes: list[RunningNode], standins: StandIns
) -> None:
    for node in nodes:
        await register_url(sessions, node.url)
    register_identity(sessions, unused_port_url(), standin_identity("dead"))
    register_identity(sessions, standins.garbage.url, standins.identities["garbage"])


async def test_the_stocktake_merges_every_node_and_names_the_ones_that_failed(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    standins: StandIns,
) -> None:
    await register_federation(sessions, demo_nodes, standins)
    settings = coordinator_settings(database_url)
    async with coordinator_client(settings, coordinator_engine) as client:
        data = await ask(client, STOCKTAKE, filter={"countries": ["BGD", "NPL"]})
        nodes = await ask(client, NODES, check=False)

    wanted = {"refAreas": ["BGD", "NPL"]}
    assert entries_of(data) == direct(demo_nodes[0], wanted) | direct(demo_nodes[1], wanted)
    sources = {s["nodeId"]: s for s in data["stocktake"]["sources"]}
    assert {k: s["status"] for k, s in sources.items()} == {
        "riverbend": "OK", "lantern": "OK", "dead": "UNREACHABLE", "garbage": "ERROR",
    }  # fmt: skip
    assert sources["garbage"]["message"]
    assert {o["organisation"] for o in data["stocktake"]["organisations"]} == {
        "Riverbend Inclusion Collective", "Lantern Livelihoods Network",
    }  # fmt: skip
    sample = next(e for e in data["stocktake"]["entries"] if e["indicator"] == "1.4.2")
    assert (sample["target"], sample["goal"]) == ("1.4", "1")
    assert sample["countryName"] in {"Bangladesh", "Nepal"}
    # The registry remembers how each node answered the last question.
    last = {n["id"]: n for n in nodes["nodes"]}
    assert last["dead"]["lastStatus"] == "UNREACHABLE"
    assert last["riverbend"]["lastStatus"] == "OK"
    assert last["riverbend"]["lastLatencyMs"] > 0
    assert last["riverbend"]["url"] == f"{demo_nodes[0].url}/graphql"


async def test_nodes_can_be_checked_now(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    standins: StandIns,
) -> None:
    await register_url(sessions, demo_nodes[1].url)
    register_identity(sessions, standins.other_schema.url, standins.identities["future"])
    async with coordinator_client(coordinator_settings(database_url), coordinator_engine) as c:
        before = await ask(c, NODES, check=False)
        after = await ask(c, NODES, check=True)
    assert {n["lastStatus"] for n in before["nodes"]} == {None}
    checked = {n["id"]: n for n in after["nodes"]}
    assert checked["lantern"]["lastStatus"] == "OK"
    assert checked["future"]["lastStatus"] == "ERROR"
    assert "2.0" in checked["future"]["lastMessage"]
    assert checked["lantern"]["lastCheckedAt"] is not None


async def test_the_callers_token_is_forwarded_and_each_node_applies_its_own_rules(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    node = demo_nodes[0]
    await register_url(sessions, node.url)
    async with coordinator_client(coordinator_settings(database_url), coordinator_engine) as c:
        start = len(node.recorder.requests)
        as_owner = await ask(c, STOCKTAKE, OWNER_TOKEN, filter={"countries": ["NPL"]})
        seen = node.recorder.requests[start:]
        as_public = await ask(c, STOCKTAKE, filter={"countries": ["NPL"]})

    assert seen and all(r.headers.get("authorization") == OWNER_TOKEN for r in seen)
    assert entries_of(as_owner) == direct(node, {"refAreas": ["NPL"]}, OWNER_TOKEN)
    assert entries_of(as_public) == direct(node, {"refAreas": ["NPL"]})
    datasets = {e[1] for e in entries_of(as_public)}
    assert datasets < {e[1] for e in entries_of(as_owner)}


async def test_the_stocktake_downloads_as_csv_with_the_same_filter(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    standins: StandIns,
) -> None:
    await register_federation(sessions, demo_nodes, standins)
    async with coordinator_client(coordinator_settings(database_url), coordinator_engine) as c:
        data = await ask(c, STOCKTAKE, filter={"goals": ["1"], "countries": ["KEN", "NPL"]})
        response = await c.get("/download/stocktake.csv?goal=1&country=KEN,NPL")
        refused = await c.get("/download/stocktake.csv?from=recently")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert "dead=UNREACHABLE" in response.headers["lnob-sources"]
    assert "riverbend=OK" in response.headers["lnob-sources"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    from_csv = {
        (r["organisation"], r["dataset"], r["indicator"], r["country"], r["sub_area"], r["group"],
         int(r["cell_count"]), int(r["latest_year"]))
        for r in rows
    }  # fmt: skip
    from_graphql = {
        (e["organisation"], e["dataset"], e["indicator"], e["country"], e["subArea"], e["group"],
         e["cellCount"], e["latestYear"])
        for e in data["stocktake"]["entries"]
    }  # fmt: skip
    assert from_csv == from_graphql
    assert len(rows) == len(data["stocktake"]["entries"]) > 0
    assert refused.status_code == 400
    assert "`from` must be a year" in refused.json()["errors"][0]["message"]


async def test_health_and_readiness(
    database_url: str, coordinator_engine: Engine, tmp_path: Path
) -> None:
    async with coordinator_client(coordinator_settings(database_url), coordinator_engine) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
    assert ready.status_code == 200
    assert "0 node(s) registered" in ready.json()["detail"]

    empty = coordinator_settings(f"sqlite:///{tmp_path / 'never-initialised.sqlite3'}")
    async with coordinator_client(empty) as c:
        not_ready = await c.get("/readyz")
        stocktake = await c.post(
            "/graphql", json={"query": "{ stocktake { entries { dataset } } }"}
        )
    assert not_ready.status_code == 503
    assert "lnob coordinator init" in not_ready.json()["detail"]
    # Errors are masked: a code and a message, no traceback.
    error = stocktake.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "Traceback" not in stocktake.text
