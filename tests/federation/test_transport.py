"""The HTTP transport: connections kept alive per node, all of them closed with it."""

from __future__ import annotations

import asyncio
import gc
import urllib.parse
import warnings

import aiohttp
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from federation.answers import COVERAGE_QUERY, DATA_VERSION_QUERY
from federation.registry import RegisteredNode
from federation.transport import HttpTransport, NodeEndpoint, node_keys
from service.coordinator_app import CoordinatorState, create_coordinator_app
from tests.federation.conftest import (
    RunningNode,
    coordinator_settings,
    register_url,
    serve,
    standin_identity,
)


async def registered(
    sessions: sessionmaker[Session], nodes: list[RunningNode]
) -> list[RegisteredNode]:
    return [await register_url(sessions, node.url) for node in nodes]


async def test_the_transport_opens_one_session_and_closes_it_with_itself(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    riverbend, lantern = await registered(sessions, demo_nodes)
    async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
        assert transport.opened is None  # nothing opened before the first question
        for node in (riverbend, lantern, riverbend):
            data = await transport.execute(node, DATA_VERSION_QUERY, {}, None)
            assert data["node"]["id"] == node.node_id
        session = transport.opened
        assert session is not None and not session.closed
    assert session.closed
    assert transport.opened is None
    with pytest.raises(RuntimeError, match="closed"):
        await transport.execute(riverbend, DATA_VERSION_QUERY, {}, None)


def connection_counter() -> tuple[aiohttp.TraceConfig, dict[str, int]]:
    counts = {"opened": 0, "reused": 0}
    trace = aiohttp.TraceConfig()

    async def opened(*_: object) -> None:
        counts["opened"] += 1

    async def reused(*_: object) -> None:
        counts["reused"] += 1

    trace.on_connection_create_end.append(opened)
    trace.on_connection_reuseconn.append(reused)
    return trace, counts


async def test_a_node_is_asked_again_on_the_connection_it_answered_on(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    riverbend, lantern = await registered(sessions, demo_nodes)
    trace, counts = connection_counter()
    async with aiohttp.ClientSession(trace_configs=[trace]) as shared:
        transport = HttpTransport(shared, timeout=5, retry_backoff=0.05)
        for node in (riverbend, lantern, riverbend, lantern, riverbend):
            # Whole answers are read (coverage, with a body to drain) before the next question.
            await transport.execute(node, COVERAGE_QUERY, {"filter": None}, None)
    assert counts == {"opened": 2, "reused": 3}


async def test_a_session_it_is_given_is_used_for_every_node_and_left_open(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    nodes = await registered(sessions, demo_nodes)
    async with aiohttp.ClientSession() as shared:
        async with HttpTransport(shared, timeout=5, retry_backoff=0.05) as transport:
            for node in nodes:
                assert transport.session_for_requests() is shared
                await transport.execute(node, COVERAGE_QUERY, {"filter": None}, None)
            assert transport.opened is None
        assert not shared.closed


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
        session = transport.opened
        assert session is not None and not session.closed
    assert session.closed


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


class ForwardProxy:
    """A plain-HTTP forward proxy on a loopback port: it records each request line and passes
    the request on, one request per connection."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        self.requests.append(request_line)
        method, target, version = request_line.split(" ")
        url = urllib.parse.urlsplit(target)
        fields = [line for line in lines if line]
        length = next(
            (int(f.split(":", 1)[1]) for f in fields if f.lower().startswith("content-length:")), 0
        )
        body = await reader.readexactly(length)
        kept = [f for f in fields if not f.lower().startswith(("connection:", "proxy-"))]
        upstream_reader, upstream_writer = await asyncio.open_connection(url.hostname, url.port)
        upstream_writer.write(
            f"{method} {url.path}{'?' + url.query if url.query else ''} {version}\r\n".encode()
            + "\r\n".join([*kept, "Connection: close", "", ""]).encode("latin-1")
            + body
        )
        writer.write(await upstream_reader.read())
        await writer.drain()
        upstream_writer.close()
        writer.close()


async def test_a_proxy_named_in_the_environment_carries_the_requests(
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node, _ = await registered(sessions, demo_nodes)
    proxy = ForwardProxy()
    async with proxy as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
            data = await transport.execute(node, DATA_VERSION_QUERY, {}, None)
    assert data["node"]["id"] == node.node_id
    # The answer came through the proxy, and still verified against the node's key.
    (request,) = proxy.requests
    assert request.startswith(f"GET {node.url}?query=") and request.endswith(" HTTP/1.1")


async def test_questions_go_as_gets_and_long_ones_as_posts(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    node, _ = await registered(sessions, demo_nodes)
    recorder = demo_nodes[0].recorder
    long_filter = {"filter": {"indicators": [f"1.{i}.{i}" for i in range(400)]}}
    async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
        start = len(recorder.requests)
        await transport.execute(node, COVERAGE_QUERY, {"filter": {"refAreas": ["BGD"]}}, None)
        await transport.execute(node, COVERAGE_QUERY, long_filter, None)
    short, long = recorder.requests[start:]
    assert (short.method, short.document) == ("GET", COVERAGE_QUERY)
    assert "refAreas" in urllib.parse.parse_qs(short.query_string)["variables"][0]
    assert (long.method, long.document) == ("POST", COVERAGE_QUERY)


async def test_a_node_that_refuses_gets_is_asked_by_post_from_then_on() -> None:
    methods: list[str] = []

    async def graphql(request: Request) -> Response:
        methods.append(request.method)
        if request.method != "POST":
            return PlainTextResponse("POST only", status_code=405)
        answer = {"data": {"node": {"id": "post-only", "schemaVersion": "1.0", "dataVersion": "1"}}}
        return JSONResponse(answer)

    server = serve(Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])]))
    try:
        node = NodeEndpoint(url=f"{server.url}/graphql")
        async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
            for _ in range(2):
                data = await transport.execute(node, DATA_VERSION_QUERY, {}, None)
                assert data["node"]["id"] == "post-only"
    finally:
        server.stop()
    assert methods == ["GET", "POST", "POST"]
