"""Fan-out over real node servers: every healthy node's answer arrives, every failure is named."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.levels import Level
from federation.fanout import COVERAGE_QUERY, FederatedCoverage
from federation.registry import NodeIdentity
from federation.transport import NodeAddress, NodeResponse, Verdict
from service.db import make_engine
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from tests.federation.conftest import (
    OWNER_TOKEN,
    SLOW_SECONDS,
    RunningNode,
    StandIns,
    federation_over,
    flaky_server,
    register_identity,
    register_url,
    serve,
    standin_app,
    standin_data,
    standin_identity,
    unused_port_url,
)


def direct_coverage(node: RunningNode, authorization: str | None = None) -> set[tuple[object, ...]]:
    data = node.ask(COVERAGE_QUERY, {"filter": None}, authorization)
    return {
        (node.node_id, c["organisation"], c["dataset"], c["indicator"], c["refArea"],
         c["subArea"], c["group"], tuple(c["breakdown"]), c["cellCount"], c["firstYear"],
         c["latestYear"], c["valuesVisible"])
        for c in data["coverage"]
    }  # fmt: skip


def as_rows(items: list[FederatedCoverage]) -> set[tuple[object, ...]]:
    return {
        (c.node_id, c.organisation, c.dataset, c.indicator, c.ref_area, c.sub_area, c.group,
         c.breakdown, c.cell_count, c.first_year, c.latest_year, c.values_visible)
        for c in items
    }  # fmt: skip


async def test_healthy_nodes_answer_and_every_failing_node_is_named(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode], standins: StandIns
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    register_identity(sessions, unused_port_url(), standin_identity("dead"))
    register_identity(sessions, standins.slow.url, standins.identities["slow"])
    register_identity(sessions, standins.garbage.url, standins.identities["garbage"])
    register_identity(sessions, standins.graphql_error.url, standins.identities["broken"])
    register_identity(sessions, standins.other_schema.url, standins.identities["future"])

    started = time.monotonic()
    # Long enough for a real node on a busy machine, far shorter than the slow one.
    async with federation_over(sessions, node_timeout=1.5) as federation:
        answer = await federation.coverage({}, authorization=None)
    elapsed = time.monotonic() - started

    status = {s.node_id: s for s in answer.sources}
    assert {node_id: s.status for node_id, s in status.items()} == {
        "riverbend": "OK",
        "lantern": "OK",
        "dead": "UNREACHABLE",
        "slow": "TIMEOUT",
        "garbage": "ERROR",
        "broken": "ERROR",
        "future": "ERROR",
    }
    assert "not JSON" in (status["garbage"].message or "")
    assert "database is locked" in (status["broken"].message or "")
    assert "schema version 2.0" in (status["future"].message or "")
    assert "tried twice" in (status["dead"].message or "")
    assert status["slow"].latency_ms >= 1500
    assert all(s.latency_ms >= 0 for s in answer.sources)
    # Only healthy nodes contribute, and they contribute exactly what they say when asked.
    expected = direct_coverage(demo_nodes[0]) | direct_coverage(demo_nodes[1])
    assert as_rows(answer.items) == expected
    assert len(answer.items) == len(expected)
    assert elapsed < SLOW_SECONDS


async def test_the_callers_authorization_reaches_each_node_unchanged(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    node = demo_nodes[0]
    await register_url(sessions, node.url)
    async with federation_over(sessions) as federation:
        before = len(node.recorder.requests)
        as_owner = await federation.coverage({"refAreas": ["BGD"]}, authorization=OWNER_TOKEN)
        owner_requests = node.recorder.requests[before:]
        before = len(node.recorder.requests)
        as_public = await federation.coverage({"refAreas": ["BGD"]}, authorization=None)
        public_requests = node.recorder.requests[before:]

    assert owner_requests
    assert all(r.headers.get("authorization") == OWNER_TOKEN for r in owner_requests)
    assert all("authorization" not in r.headers for r in public_requests)
    # The node applied its own policy to the real caller: the owner learns of more datasets.
    owner_datasets = {c.dataset for c in as_owner.items}
    public_datasets = {c.dataset for c in as_public.items}
    assert public_datasets < owner_datasets
    assert as_rows(as_owner.items) == {
        row for row in direct_coverage(node, OWNER_TOKEN) if row[4] == "BGD"
    }


async def test_a_dropped_connection_is_retried_once(sessions: sessionmaker[Session]) -> None:
    once, always = standin_identity("flaky"), standin_identity("dropping")
    with flaky_server(once, drops=1) as flaky, flaky_server(always, drops=100) as dropping:
        register_identity(sessions, flaky.url, once)
        register_identity(sessions, dropping.url, always)
        async with federation_over(sessions) as federation:
            answer = await federation.coverage({}, authorization=None)
        status = {s.node_id: s for s in answer.sources}
        assert status["flaky"].status == "OK"
        assert flaky.connections == 2
        assert [c.dataset for c in answer.items] == ["standin"]
        assert status["dropping"].status == "UNREACHABLE"
        assert "tried twice" in (status["dropping"].message or "")
        assert dropping.connections == 2


async def test_a_response_that_fails_verification_is_dropped_as_untrusted(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)

    async def only_lantern(node: NodeAddress, response: NodeResponse) -> Verdict:
        if node.node_id == "lantern":
            return Verdict(trusted=True, reason="test: trusted")
        return Verdict(trusted=False, reason="test: no valid signature")

    async with federation_over(sessions, verify_response=only_lantern) as federation:
        answer = await federation.coverage({}, authorization=None)
    status = {s.node_id: (s.status, s.message) for s in answer.sources}
    assert status == {
        "lantern": ("OK", None),
        "riverbend": ("UNTRUSTED", "test: no valid signature"),
    }
    assert {c.node_id for c in answer.items} == {"lantern"}


async def test_the_whole_answer_is_bounded_by_its_deadline(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode], standins: StandIns
) -> None:
    await register_url(sessions, demo_nodes[1].url)
    register_identity(sessions, standins.slow.url, standins.identities["slow"])
    started = time.monotonic()
    async with federation_over(sessions, node_timeout=30, deadline=1.5) as federation:
        answer = await federation.coverage({}, authorization=None)
    elapsed = time.monotonic() - started

    status = {s.node_id: s for s in answer.sources}
    assert status["lantern"].status == "OK"
    assert status["slow"].status == "TIMEOUT"
    assert "deadline" in (status["slow"].message or "")
    assert answer.items
    assert elapsed < SLOW_SECONDS - 1


async def test_concurrency_is_bounded(sessions: sessionmaker[Session]) -> None:
    in_flight = 0
    most = 0

    async def counting(request: Request) -> Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.15)
        in_flight -= 1
        # Each stand-in answers as the node registered at its port.
        return JSONResponse({"data": standin_data(identities[request.url.port or 0])})

    signers = [standin_identity(f"busy-{index}") for index in range(4)]
    servers = [serve(standin_app(counting, identity)) for identity in signers]
    identities: dict[int, NodeIdentity] = {}
    try:
        for identity, server in zip(signers, servers, strict=True):
            identities[int(server.url.rsplit(":", 1)[1])] = identity
            register_identity(sessions, server.url, identity)
        async with federation_over(sessions, concurrency=2) as federation:
            answer = await federation.coverage({}, authorization=None)
    finally:
        for server in servers:
            server.stop()
    assert [s.status for s in answer.sources] == ["OK"] * 4
    assert most == 2


async def test_coverage_is_reused_until_the_node_reports_a_new_data_version(
    sessions: sessionmaker[Session], own_node: RunningNode, tmp_path: Path
) -> None:
    await register_url(sessions, own_node.url)
    async with federation_over(sessions) as federation:
        first = await federation.coverage({}, authorization=None)
        start = len(own_node.recorder.requests)
        again = await federation.coverage({}, authorization=None)
        asked_again = [r.document for r in own_node.recorder.requests[start:]]

        assert as_rows(again.items) == as_rows(first.items)
        # Reused with the signature of the answer the cells came from, not the version check's.
        assert again.sources[0].signature == first.sources[0].signature is not None
        # Only the cheap question was asked: the data version, no coverage.
        assert len(asked_again) == 1
        assert "dataVersion" in asked_again[0]
        assert "coverage" not in asked_again[0]

        new_file = tmp_path / "new.csv"
        new_file.write_text(
            "indicator,ref_area,time_period,sex,group,value,unit,n\n"
            "1.4.1,NPL,2025,F,_T,40,PERCENT,120\n"
            "1.4.1,NPL,2025,M,_T,45,PERCENT,130\n"
            "1.4.1,NPL,2025,_T,_T,42,PERCENT,250\n",
            encoding="utf-8",
        )
        engine = make_engine(own_node.settings.database_url)
        try:
            ingest_file(
                engine,
                new_file,
                DatasetMeta(
                    slug="new-survey",
                    title="New survey",
                    release_level=Level.PUBLIC,
                    discovery_level=Level.PUBLIC,
                ),
                IngestOptions(format="tidy"),
                loaded_by="test",
            )
        finally:
            engine.dispose()
        start = len(own_node.recorder.requests)
        after = await federation.coverage({}, authorization=None)
        asked_after = [r.document for r in own_node.recorder.requests[start:]]

    assert any("coverage" in document for document in asked_after)
    assert "new-survey" in {c.dataset for c in after.items}
    assert as_rows(after.items) == direct_coverage(own_node)


async def test_without_a_cache_every_answer_asks_again_and_is_signed(
    sessions: sessionmaker[Session], own_node: RunningNode
) -> None:
    await register_url(sessions, own_node.url)
    async with federation_over(sessions, cache_seconds=0) as federation:
        first = await federation.stocktake({}, authorization=None)
        start = len(own_node.recorder.requests)
        again = await federation.stocktake({}, authorization=None)
        asked_again = [r.document for r in own_node.recorder.requests[start:]]
    assert len(asked_again) == 1 and "coverageTable" in asked_again[0]
    assert as_rows(again.items[0].cells) == as_rows(first.items[0].cells)
    assert as_rows(again.items[0].cells) == direct_coverage(own_node)
    (source,) = again.sources
    assert source.status == "OK"
    assert source.signature is not None
    assert source.signature.signature.key_id == own_node.ask("{ node { keyId } }")["node"]["keyId"]


async def test_a_different_caller_does_not_get_a_cached_answer(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    await register_url(sessions, demo_nodes[0].url)
    async with federation_over(sessions) as federation:
        as_owner = await federation.coverage({}, authorization=OWNER_TOKEN)
        as_public = await federation.coverage({}, authorization=None)
    assert as_rows(as_owner.items) == direct_coverage(demo_nodes[0], OWNER_TOKEN)
    assert as_rows(as_public.items) == direct_coverage(demo_nodes[0])


async def test_observations_are_paged_through_and_tagged_with_their_node(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    count_query = (
        "query($f: ObservationFilter) { observations(filter: $f, first: 1) { totalCount } }"
    )
    totals = {
        node.node_id: node.ask(count_query, {"f": None})["observations"]["totalCount"]
        for node in demo_nodes
    }
    async with federation_over(sessions) as federation:
        answer = await federation.observations({}, authorization=None)
        capped = await federation.observations({}, authorization=None, max_cells=700)

    assert {s.status for s in answer.sources} == {"OK"}
    for node_id, total in totals.items():
        assert sum(cell.node_id == node_id for cell in answer.items) == total
    assert all(cell.value is None for cell in answer.items if cell.suppressed)
    for node_id, total in totals.items():
        assert sum(cell.node_id == node_id for cell in capped.items) == min(total, 700)
    messages = {s.node_id: s.message for s in capped.sources}
    assert all(
        (messages[node_id] is not None) == (total > 700) for node_id, total in totals.items()
    )
