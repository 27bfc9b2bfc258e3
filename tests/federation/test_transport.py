"""The HTTP transport: one connection pool per node origin, all of them closed with it."""

from __future__ import annotations

import gc
import warnings

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation.answers import COVERAGE_QUERY, DATA_VERSION_QUERY
from federation.registry import RegisteredNode
from federation.transport import HttpTransport, NodeEndpoint, node_keys
from service.coordinator_app import CoordinatorState, create_coordinator_app
from tests.federation.conftest import (
    RunningNode,
    coordinator_settings,
    register_url,
    standin_identity,
)


async def registered(
    sessions: sessionmaker[Session], nodes: list[RunningNode]
) -> list[RegisteredNode]:
    return [await register_url(sessions, node.url) for node in nodes]


async def test_each_node_origin_gets_a_pool_of_its_own(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    riverbend, lantern = await registered(sessions, demo_nodes)
    async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
        for node in (riverbend, lantern, riverbend):
            data = await transport.execute(node, DATA_VERSION_QUERY, {}, None)
            assert data["node"]["id"] == node.node_id
        # The same origin, however its URL is spelt, shares one pool.
        same = NodeEndpoint(url=riverbend.url.removesuffix("/graphql") + "/graphql?x=1")
        assert transport.client_for(same.url) is transport.client_for(riverbend.url)
        pools = transport.pools
        assert set(pools) == {node.url.removesuffix("/graphql") for node in demo_nodes}
        assert pools[demo_nodes[0].url] is not pools[demo_nodes[1].url]
        assert not any(client.is_closed for client in pools.values())
    assert all(client.is_closed for client in pools.values())
    assert transport.pools == {}
    with pytest.raises(RuntimeError, match="closed"):
        await transport.execute(riverbend, DATA_VERSION_QUERY, {}, None)


async def test_a_client_it_is_given_is_used_for_every_node_and_left_open(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    nodes = await registered(sessions, demo_nodes)
    async with httpx.AsyncClient() as shared:
        async with HttpTransport(shared, timeout=5, retry_backoff=0.05) as transport:
            for node in nodes:
                assert transport.client_for(node.url) is shared
                await transport.execute(node, COVERAGE_QUERY, {"filter": None}, None)
            assert transport.pools == {}
        assert not shared.is_closed


async def test_closing_leaves_no_socket_open(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    nodes = await registered(sessions, demo_nodes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transport = HttpTransport(timeout=5, retry_backoff=0.05)
        for node in nodes:
            await transport.execute(node, COVERAGE_QUERY, {"filter": None}, None)
        await transport.aclose()
        del transport
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_the_coordinator_closes_its_node_pools_at_shutdown(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    await registered(sessions, demo_nodes)
    app = create_coordinator_app(coordinator_settings(database_url), engine=coordinator_engine)
    async with app.router.lifespan_context(app):
        state: CoordinatorState = app.state.coordinator
        transport = state.federation.transport
        assert isinstance(transport, HttpTransport)
        answer = await state.federation.check(authorization=None)
        assert {s.status for s in answer.sources} == {"OK"}
        pools = list(transport.pools.values())
        assert len(pools) == len(demo_nodes)
        assert not any(client.is_closed for client in pools)
    assert all(client.is_closed for client in pools)


def test_a_nodes_keys_follow_the_registry_not_a_stale_cache() -> None:
    first, second = standin_identity("rekeyed"), standin_identity("rekeyed")
    before = NodeEndpoint(url="http://127.0.0.1:9/graphql", public_key=first.public_key)
    after = NodeEndpoint(url="http://127.0.0.1:9/graphql", public_key=second.public_key)
    assert set(node_keys(before)) == {first.key_id}
    # The same node with another key: decoded keys are cached by the key itself.
    assert set(node_keys(after)) == {second.key_id}
    assert node_keys(before)[first.key_id].public_bytes_raw() != (
        node_keys(after)[second.key_id].public_bytes_raw()
    )
