"""The node registry: registering nodes by the key they present, pinning, removing, migrations."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from auth.keys import fingerprint
from federation import registry
from federation.fanout import SourceStatus
from federation.models import CoordinatorBase
from federation.registry import AlreadyRegistered, KeyMismatch, RegisteredNode
from federation.transport import HttpTransport, NodeBadAnswer, NodeUnreachable
from service import migrate
from service.coordinator_app import create_coordinator_app
from service.errors import BadRequest, NotFound
from service.node.identity import load_signing_key
from tests.federation.conftest import (
    RunningNode,
    StandIns,
    coordinator_settings,
    register_identity,
    register_url,
    standin_identity,
    unused_port_url,
)


def test_migrations_build_the_tables_the_models_describe(coordinator_engine: Engine) -> None:
    assert migrate.at_head(coordinator_engine, "coordinator")
    with coordinator_engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), CoordinatorBase.metadata
        )
    assert differences == []
    migrate.downgrade(coordinator_engine, "coordinator", "coordinator@base")
    assert "registered_node" not in inspect(coordinator_engine).get_table_names()
    migrate.upgrade(coordinator_engine, "coordinator")
    assert migrate.at_head(coordinator_engine, "coordinator")


async def fetch(url: str) -> tuple[str, registry.NodeIdentity]:
    async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
        return await registry.fetch_identity(transport, url)


async def test_a_node_is_registered_with_the_key_it_presents(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    node = demo_nodes[0]
    endpoint, identity = await fetch(node.url + "/")
    key = load_signing_key(node.settings)

    assert endpoint == f"{node.url}/graphql"
    assert identity.node_id == "riverbend"
    assert identity.fingerprint == fingerprint(key.public_jwk())
    assert identity.key_id == key.key_id
    with sessions.begin() as session:
        registered = registry.register(session, endpoint, identity)
    with sessions() as session:
        (listed,) = registry.list_nodes(session)
    assert listed == registered
    assert listed.organisation == node.prepared.organisation.organisation
    assert listed.fingerprint == identity.fingerprint
    assert listed.last_status is None


async def test_a_pinned_key_must_match_the_presented_one(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode], tmp_path: Path
) -> None:
    node = demo_nodes[1]
    endpoint, identity = await fetch(node.url)
    own_key = load_signing_key(node.settings).public_jwk()
    other_key = standin_identity("other").public_key

    with sessions.begin() as session, pytest.raises(KeyMismatch, match="not the pinned key"):
        registry.register(session, endpoint, identity, pinned_key=other_key)
    with sessions() as session:
        assert registry.list_nodes(session) == []

    key_file = tmp_path / "lantern.jwk"
    key_file.write_text(json.dumps(own_key), encoding="utf-8")
    with sessions.begin() as session:
        registered = registry.register(
            session, endpoint, identity, pinned_key=registry.read_jwk(str(key_file))
        )
    assert registered.node_id == "lantern"


def test_registering_twice_is_harmless_but_a_changed_node_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    identity = standin_identity("twice")
    first = register_identity(sessions, "http://127.0.0.1:9", identity)
    again = register_identity(sessions, "http://127.0.0.1:9", identity)
    assert again == first

    with pytest.raises(AlreadyRegistered, match="already registered at"):
        register_identity(sessions, "http://127.0.0.1:10", identity)
    new_key = standin_identity("twice")
    with pytest.raises(AlreadyRegistered, match="remove it first"):
        register_identity(sessions, "http://127.0.0.1:9", new_key)
    with pytest.raises(AlreadyRegistered, match="already registered as node twice"):
        register_identity(sessions, "http://127.0.0.1:9", standin_identity("another"))


def test_nodes_are_removed_by_id_or_url(sessions: sessionmaker[Session]) -> None:
    register_identity(sessions, "http://127.0.0.1:9", standin_identity("by-id"))
    register_identity(sessions, "http://127.0.0.1:10", standin_identity("by-url"))
    with sessions.begin() as session:
        assert registry.remove_node(session, "by-id").node_id == "by-id"
        assert registry.remove_node(session, "http://127.0.0.1:10/").node_id == "by-url"
        assert registry.list_nodes(session) == []
        with pytest.raises(NotFound):
            registry.remove_node(session, "by-id")


def test_statuses_are_remembered(sessions: sessionmaker[Session]) -> None:
    node = register_identity(sessions, "http://127.0.0.1:9", standin_identity("remembered"))
    status = SourceStatus(node.node_id, node.organisation, node.url, "TIMEOUT", 1000.0, "slow")
    gone = SourceStatus("removed-meanwhile", "x", "http://x", "OK", 1.0)
    with sessions.begin() as session:
        registry.record_statuses(session, [status, gone], schema_versions={"remembered": "1.3"})
    with sessions() as session:
        remembered = registry.get_node(session, "remembered")
    assert (remembered.last_status, remembered.last_latency_ms, remembered.last_message) == (
        "TIMEOUT", 1000.0, "slow",
    )  # fmt: skip
    assert remembered.schema_version == "1.3"
    assert remembered.last_checked_at is not None


async def test_a_node_that_cannot_say_who_it_is_is_not_registered(standins: StandIns) -> None:
    with pytest.raises(NodeUnreachable):
        await fetch(unused_port_url())
    with pytest.raises(NodeBadAnswer, match="not JSON"):
        await fetch(standins.garbage.url)
    with pytest.raises(NodeBadAnswer, match="database is locked"):
        await fetch(standins.graphql_error.url)
    with pytest.raises(BadRequest, match="http"):
        await fetch("ftp://example.org")


def test_a_pinned_key_is_read_from_text_or_a_file(tmp_path: Path) -> None:
    key = standin_identity("k").public_key
    assert registry.read_jwk(json.dumps(key)) == key
    with pytest.raises(BadRequest, match="cannot read the key file"):
        registry.read_jwk(str(tmp_path / "missing.jwk"))
    with pytest.raises(BadRequest, match="not usable"):
        registry.read_jwk('{"kty": "RSA", "n": "x"}')
    with pytest.raises(BadRequest, match="not JSON"):
        registry.read_jwk("{nope")


def standin_registered(node_id: str) -> RegisteredNode:
    identity = standin_identity(node_id)
    return RegisteredNode(
        node_id=identity.node_id, name=identity.name, organisation=identity.organisation,
        url=f"http://127.0.0.1:9/{node_id}/graphql", public_key=identity.public_key,
        key_id=identity.key_id, schema_version=identity.schema_version,
        added_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


class Reads:
    """A registry reader that counts its reads and can be held mid-read."""

    def __init__(self, nodes: list[RegisteredNode]) -> None:
        self.nodes = nodes
        self.count = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> list[RegisteredNode]:
        self.count += 1
        await self.release.wait()
        return list(self.nodes)


def snapshot_over(reads: Reads) -> tuple[registry.RegistrySnapshot, list[float]]:
    now = [100.0]
    return registry.RegistrySnapshot(reads, max_age=1.0, clock=lambda: now[0]), now


async def test_the_snapshot_reads_again_only_once_it_is_older_than_its_age() -> None:
    first = standin_registered("one")
    reads = Reads([first])
    snapshot, now = snapshot_over(reads)
    assert [n.node_id for n in await snapshot()] == ["one"]
    reads.nodes.append(standin_registered("two"))  # added elsewhere
    now[0] += 0.5
    assert [n.node_id for n in await snapshot()] == ["one"]
    assert reads.count == 1
    now[0] += 0.5  # one second since the read
    assert [n.node_id for n in await snapshot()] == ["one", "two"]
    assert reads.count == 2
    snapshot.invalidate()
    await snapshot()
    assert reads.count == 3


async def test_questions_arriving_together_share_one_read() -> None:
    reads = Reads([standin_registered("one")])
    reads.release.clear()
    snapshot, _ = snapshot_over(reads)
    waiting = [asyncio.create_task(snapshot()) for _ in range(5)]
    await asyncio.sleep(0.01)
    reads.release.set()
    answers = await asyncio.gather(*waiting)
    assert reads.count == 1
    assert all([n.node_id for n in answer] == ["one"] for answer in answers)


async def test_a_coordinator_asks_a_node_added_elsewhere_within_a_second(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    first, second = demo_nodes
    await register_url(sessions, first.url)
    app = create_coordinator_app(coordinator_settings(database_url), engine=coordinator_engine)
    async with app.router.lifespan_context(app):
        federation = app.state.coordinator.federation
        before = await federation.check(authorization=None)
        await register_url(sessions, second.url)  # as `lnob coordinator nodes add` would
        await asyncio.sleep(1.05)
        after = await federation.check(authorization=None)
    assert len(before.sources) == 1
    assert {s.status for s in after.sources} == {"OK"} and len(after.sources) == 2
