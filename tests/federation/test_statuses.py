"""Node statuses are recorded after the answer, in order, and none is lost at shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation import registry
from federation.fanout import Federation, SourceState, SourceStatus
from federation.registry import RegisteredNode
from federation.statuses import StatusLog
from federation.transport import HttpTransport
from service.coordinator_app import create_coordinator_app
from tests.federation.conftest import (
    RunningNode,
    coordinator_settings,
    register_identity,
    register_url,
    standin_identity,
    unused_port_url,
)

SUMMARY = """{ stocktake { organisations { organisation } sources { nodeId status } } }"""
NODES = "{ nodes { id lastStatus lastCheckedAt } }"


def status(node_id: str, state: SourceState = "OK", latency: float = 1.0) -> SourceStatus:
    return SourceStatus(node_id, "Org", f"http://{node_id}/graphql", state, latency)


class Gate:
    """A listener that keeps what it is given, and waits for `open` before each answer."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.started = asyncio.Event()
        self.recorded: list[list[str]] = []

    async def __call__(self, sources: Sequence[SourceStatus]) -> None:
        self.started.set()
        await self.open.wait()
        self.recorded.append([f"{s.node_id}={s.status}" for s in sources])


async def test_answers_given_together_are_recorded_in_one_write_the_latest_status_winning() -> None:
    gate = Gate()
    log = StatusLog(gate, every=0.05)
    for index in range(5):
        log.submit([status("a", latency=index), status("b", "TIMEOUT" if index % 2 else "OK")])
    log.submit([])  # nothing to remember
    log.submit([status("c", "UNREACHABLE")])
    assert log.pending == 1
    await gate.started.wait()  # written once the interval has passed, without being asked
    assert gate.recorded == []
    gate.open.set()
    await log.settled()
    assert log.pending == 0
    assert gate.recorded == [["a=OK", "b=OK", "c=UNREACHABLE"]]


async def test_batches_are_written_in_the_order_they_were_gathered() -> None:
    gate = Gate()
    log = StatusLog(gate, every=60)  # only `settled` starts a write here
    log.submit([status("a", "TIMEOUT")])
    first = asyncio.create_task(log.settled())
    await gate.started.wait()  # the first batch is being written, and holds the turn
    log.submit([status("a", "OK")])  # gathered into a second batch
    second = asyncio.create_task(log.settled())
    await asyncio.sleep(0.01)
    assert gate.recorded == [] and log.pending == 2
    gate.open.set()
    await asyncio.gather(first, second)
    assert gate.recorded == [["a=TIMEOUT"], ["a=OK"]]  # the registry ends with the latest


async def test_a_failing_recording_does_not_stop_the_next() -> None:
    written: list[str] = []

    async def flaky(sources: Sequence[SourceStatus]) -> None:
        if sources[0].node_id == "broken":
            raise RuntimeError("registry unavailable")
        written.append(sources[0].node_id)

    log = StatusLog(flaky)
    log.submit([status("broken")])
    await log.settled()
    log.submit([status("fine")])
    await log.settled()
    assert written == ["fine"]


async def test_closing_waits_for_pending_statuses_and_refuses_new_ones() -> None:
    gate = Gate()
    log = StatusLog(gate)
    log.submit([status("a")])
    closing = asyncio.create_task(log.aclose())
    await gate.started.wait()
    await asyncio.sleep(0.01)
    assert not closing.done()  # still writing the last answer's statuses
    gate.open.set()
    await closing
    assert gate.recorded == [["a=OK"]]
    log.submit([status("late")])
    assert log.pending == 0
    assert gate.recorded == [["a=OK"]]


async def test_the_answer_does_not_wait_for_its_statuses(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    await register_url(sessions, demo_nodes[0].url)
    register_identity(sessions, unused_port_url(), standin_identity("gone"))

    async def nodes() -> list[RegisteredNode]:
        with sessions() as session:
            return registry.list_nodes(session)

    gate = Gate()
    async with HttpTransport(timeout=5, retry_backoff=0.01) as transport:
        federation = Federation(nodes, transport, on_answer=gate, cache_seconds=0)
        answer = await federation.coverage({}, authorization=None)
        # The answer is complete while its statuses are still being written.
        assert {s.node_id: s.status for s in answer.sources} == {
            "riverbend": "OK", "gone": "UNREACHABLE",
        }  # fmt: skip
        assert gate.recorded == []
        waiting = asyncio.create_task(federation.statuses_recorded())
        await gate.started.wait()  # asked for, the statuses are written at once
        await asyncio.sleep(0.01)
        assert not waiting.done()
        gate.open.set()
        await waiting
        assert gate.recorded == [["gone=UNREACHABLE", "riverbend=OK"]]  # in registry order
        await federation.aclose()


def test_many_statuses_are_recorded_at_once(sessions: sessionmaker[Session]) -> None:
    for node_id in ("north", "south", "east"):
        register_identity(sessions, unused_port_url(), standin_identity(node_id))
    with sessions.begin() as session:
        registry.record_statuses(
            session,
            [status("north", "TIMEOUT", 5000.0), status("south"), status("removed"),
             status("north", "OK", 12.5)],
            schema_versions={"south": "1.4"},
        )  # fmt: skip
    with sessions() as session:
        known = {node.node_id: node for node in registry.list_nodes(session)}
    assert set(known) == {"north", "south", "east"}
    # A node's last word in the list counts.
    assert (known["north"].last_status, known["north"].last_latency_ms) == ("OK", 12.5)
    assert known["south"].last_status == "OK"
    assert known["south"].schema_version == "1.4"
    assert known["north"].schema_version == "1.0"
    assert known["east"].last_status is None
    assert known["north"].last_checked_at is not None


async def test_statuses_of_the_last_answer_survive_shutdown(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    register_identity(sessions, unused_port_url(), standin_identity("gone"))
    app = create_coordinator_app(coordinator_settings(database_url), engine=coordinator_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
            response = await client.post("/graphql", json={"query": SUMMARY})
            assert response.status_code == 200, response.text
            # The next `nodes` question sees the statuses of the answer just given.
            listed = (await client.post("/graphql", json={"query": NODES})).json()["data"]
            assert {n["id"]: n["lastStatus"] for n in listed["nodes"]} == {
                "riverbend": "OK", "lantern": "OK", "gone": "UNREACHABLE",
            }  # fmt: skip
            first_checked = {
                n["id"]: dt.datetime.fromisoformat(n["lastCheckedAt"]) for n in listed["nodes"]
            }
            await client.post("/graphql", json={"query": SUMMARY})
        # Shutdown at once: the second answer's statuses are still written.
    with sessions() as session:
        after = {node.node_id: node for node in registry.list_nodes(session)}
    assert {node_id: remembered.last_status for node_id, remembered in after.items()} == {
        "riverbend": "OK", "lantern": "OK", "gone": "UNREACHABLE",
    }  # fmt: skip
    for node_id, remembered in after.items():
        assert remembered.last_checked_at is not None
        assert remembered.last_checked_at > first_checked[node_id]
