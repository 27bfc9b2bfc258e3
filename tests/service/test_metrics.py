"""`/metrics` as Prometheus scrapes it: requests by route, operation and status, latency,
cells returned and suppressed, and the coordinator's fan-out per node — during a real
federated question over real node servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import strawberry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from auth.caller import Caller, StaticResolver
from auth.levels import Level
from federation.transport import HttpTransport, NodeAddress, NodeCallError
from service import migrate
from service.coordinator_app import create_coordinator_app
from service.db import make_engine, make_session_factory
from service.graphql_http import GraphQLHTTP, GraphQLLimits
from service.metrics import (
    Metrics,
    MetricsMiddleware,
    instrument,
    observe_graphql,
    record_cells,
    record_fanout,
)
from service.node.identity import init_node
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from tests.federation.conftest import (
    Server,
    coordinator_settings,
    register_identity,
    register_url,
    serve,
    standin_identity,
)
from tests.node.conftest import NodeUnderTest, sex_table

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels (0 when absent, as Prometheus treats it)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample `name` whose labels include these."""
    wanted = set(labels.items())
    return {key: v for (n, key), v in samples.items() if n == name and wanted <= key}


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return scrape_text(response.text)


# --- a small app of our own -----------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    def shelf(self) -> int:
        record_cells(5, 2)
        return 5


def small_app() -> Starlette:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def item(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def boom(request: Request) -> Response:
        raise RuntimeError("broken")

    async def download(request: Request) -> Response:
        def lines() -> Iterator[str]:  # iterated in a worker thread, as the node's downloads
            yield "a\n"
            yield "b\n"
            record_cells(2, 1)

        return StreamingResponse(lines(), media_type="text/csv")

    async def get_context(request: Request) -> None:
        return None

    graphql = GraphQLHTTP(
        strawberry.Schema(query=Query),
        get_context=get_context,
        limits=GraphQLLimits(),
        after_request=observe_graphql,
        execute_in_thread=True,
    )
    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/items/{item_id}", item),
            Route("/boom", boom),
            Route("/download", download),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture
async def small() -> AsyncIterator[tuple[httpx.AsyncClient, Metrics]]:
    app = small_app()
    metrics = instrument(app, "node")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, metrics


async def test_requests_are_counted_by_route_operation_and_status(
    small: tuple[httpx.AsyncClient, Metrics],
) -> None:
    client, _metrics = small
    for _ in range(3):
        assert (await client.get("/ok")).status_code == 200
    for item_id in ("a", "b", "c"):
        await client.get(f"/items/{item_id}")
    assert (await client.get("/boom")).status_code == 500
    for path in ("/nowhere", "/wp-login.php", "/.env"):
        assert (await client.get(path)).status_code == 404
    await client.post("/graphql", json={"query": "query Shelf { shelf }"})
    await client.post("/graphql", json={"query": "{ shelf }"})
    await client.post("/graphql", json={"query": "{ nope"})

    samples = await scrape(client)
    count = "lnob_requests_total"
    assert value(samples, count, route="/ok", operation="", status="200") == 3
    # The route's template, not each path: callers cannot grow the label set.
    assert value(samples, count, route="/items/{item_id}", operation="", status="200") == 3
    assert value(samples, count, route="/boom", operation="", status="500") == 1
    assert value(samples, count, route="unmatched", operation="", status="404") == 3
    assert value(samples, count, route="/graphql", operation="query Shelf", status="200") == 1
    assert value(samples, count, route="/graphql", operation="query", status="200") == 1
    assert value(samples, count, route="/graphql", operation="", status="400") == 1
    assert not matching(samples, count, route="/nowhere")

    histogram = "lnob_request_duration_seconds"
    assert value(samples, f"{histogram}_count", route="/ok", operation="") == 3
    assert value(samples, f"{histogram}_bucket", route="/ok", operation="", le="+Inf") == 3
    assert value(samples, f"{histogram}_sum", route="/ok", operation="") > 0
    assert value(samples, "lnob_requests_in_flight") == 1  # the scrape itself
    builds = matching(samples, "lnob_build_info", service="node")
    assert list(builds.values()) == [1.0]
    assert matching(samples, "process_resident_memory_bytes")


async def test_cells_are_counted_from_resolvers_and_streamed_downloads(
    small: tuple[httpx.AsyncClient, Metrics],
) -> None:
    client, _metrics = small
    await client.post("/graphql", json={"query": "{ shelf }"})
    await client.post("/graphql", json={"query": "{ a: shelf b: shelf }"})
    download = await client.get("/download")
    assert download.text == "a\nb\n"

    samples = await scrape(client)
    assert value(samples, "lnob_cells_returned_total", route="/graphql") == 15
    assert value(samples, "lnob_cells_suppressed_total", route="/graphql") == 6
    assert value(samples, "lnob_cells_returned_total", route="/download") == 2
    assert value(samples, "lnob_cells_suppressed_total", route="/download") == 1


async def test_operation_names_chosen_by_callers_are_capped() -> None:
    app = small_app()
    metrics = Metrics("node", max_operations=2)
    app.add_route("/metrics", metrics.endpoint)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        for name in ("A", "B", "C", "D", "A"):
            await client.post("/graphql", json={"query": f"query {name} {{ shelf }}"})
        samples = await scrape(client)
    operations = {
        dict(labels)["operation"]: v
        for labels, v in matching(samples, "lnob_requests_total", route="/graphql").items()
    }
    assert operations == {"query A": 2, "query B": 1, "other": 2}


async def test_each_app_keeps_its_own_registry() -> None:
    first, second = small_app(), small_app()
    instrument(first, "node")
    instrument(second, "coordinator")
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        await a.get("/ok")
        await a.get("/ok")
        await b.get("/ok")
        first_samples, second_samples = await scrape(a), await scrape(b)
    assert value(first_samples, "lnob_requests_total", route="/ok", operation="", status="200") == 2
    assert (
        value(second_samples, "lnob_requests_total", route="/ok", operation="", status="200") == 1
    )
    assert matching(second_samples, "lnob_build_info", service="coordinator")


async def test_fanout_is_recorded_into_the_app_serving_the_request() -> None:
    async def federated(request: Request) -> Response:
        async def one(node: str, status: str, seconds: float) -> None:
            await asyncio.sleep(0)
            record_fanout(node, status, seconds)

        # Tasks, as the fan-out runs them: each sees the request it was started for.
        await asyncio.gather(one("riverbend", "OK", 0.03), one("lantern", "TIMEOUT", 5.0))
        return JSONResponse({})

    app = Starlette(routes=[Route("/graphql", federated, methods=["POST"])])
    instrument(app, "coordinator")
    record_fanout("outside", "OK", 1.0)  # no request: nowhere to record, nothing fails
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://c"
    ) as client:
        await client.post("/graphql")
        samples = await scrape(client)
    fanout = "lnob_fanout_duration_seconds"
    assert value(samples, f"{fanout}_count", node="riverbend", status="OK") == 1
    assert value(samples, f"{fanout}_bucket", node="riverbend", status="OK", le="0.05") == 1
    assert value(samples, f"{fanout}_count", node="lantern", status="TIMEOUT") == 1
    assert value(samples, f"{fanout}_bucket", node="lantern", status="TIMEOUT", le="3.0") == 0
    assert not matching(samples, f"{fanout}_count", node="outside")


# --- a real node ----------------------------------------------------------------------------


async def test_a_real_node_is_measured(test_node_here: NodeUnderTest) -> None:
    test_node_here.load("survey", sex_table(female=(30, 3), male=(40, 40), total=(70, 43)))
    app = create_node_app(
        test_node_here.settings,
        callers=StaticResolver(Caller("ministry", level=Level.GOVERNMENT)),
        engine=test_node_here.engine,
    )
    instrument(app, "node")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client,
    ):
        query = "query Cells { observations(first: 10) { edges { node { value } } } }"
        assert (await client.post("/graphql", json={"query": query})).status_code == 200
        assert (await client.get("/download/observations.csv")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        samples = await scrape(client)
    count = "lnob_requests_total"
    assert sum(matching(samples, count, route="/graphql", status="200").values()) == 1
    assert value(samples, count, route="/download/observations.csv", operation="", status="200")
    assert value(samples, count, route="/readyz", operation="", status="200") == 1
    assert sum(matching(samples, "lnob_request_duration_seconds_count", route="/graphql").values())


@pytest.fixture
def test_node_here(node_engine: Engine, database_url: str, tmp_path: Path) -> NodeUnderTest:
    settings = load_settings(database_url=database_url, key_file=tmp_path / "node-key.pem")
    init_node(node_engine, settings, name="Test node", organisation="Test ICSO", node_id="test")
    return NodeUnderTest(settings=settings, engine=node_engine, folder=tmp_path)


# --- a federated question, scraped while it runs --------------------------------------------


def start_small_node(folder: Path, node_id: str, organisation: str) -> tuple[Server, Engine]:
    """A node on SQLite with one small table, served by uvicorn on a loopback port."""
    folder.mkdir(parents=True)
    settings = load_settings(
        database_url=f"sqlite:///{folder / 'node.sqlite3'}", key_file=folder / "key.pem"
    )
    engine = make_engine(settings.database_url)
    init_node(engine, settings, name=f"{organisation} node", organisation=organisation,
              node_id=node_id)  # fmt: skip
    node = NodeUnderTest(settings=settings, engine=engine, folder=folder)
    node.load("survey", sex_table(female=(30, 30), male=(40, 40), total=(70, 70)))
    app = create_node_app(settings, engine=engine)
    instrument(app, "node")
    return serve(app), engine


T = TypeVar("T")

NODES_CHECK = "{ nodes(check: true) { id lastStatus } }"


class HeldTransport:
    """Reaches the nodes over HTTP, holding `held` node's answer until released, and reports
    each node's part as the coordinator does (`record_fanout`, in the fan-out's own task)."""

    def __init__(self, inner: HttpTransport, held: str) -> None:
        self.inner = inner
        self.held = held
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def execute(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> dict[str, Any]:
        return await self._timed(node, self.inner.execute(node, document, variables, authorization))

    async def execute_as(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
        shape: type[T],
    ) -> T:
        return await self._timed(
            node, self.inner.execute_as(node, document, variables, authorization, shape)
        )

    async def _timed(self, node: NodeAddress, call: Coroutine[Any, Any, T]) -> T:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status = "OK"
        try:
            if node.node_id == self.held:
                self.holding.set()
                await self.release.wait()
            return await call
        except NodeCallError as exc:
            status = exc.status
            raise
        finally:
            call.close()  # never awaited when the wait was cancelled
            record_fanout(node.node_id, status, loop.time() - started)


@pytest.fixture
def coordinator_engine_here(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "coordinator")
    yield engine
    engine.dispose()


async def test_scraping_metrics_during_a_federated_question(
    coordinator_engine_here: Engine, database_url: str, tmp_path: Path
) -> None:
    nodes = [
        start_small_node(tmp_path / "a", "riverbend", "Riverbend"),
        start_small_node(tmp_path / "b", "lantern", "Lantern"),
    ]
    gone = "http://127.0.0.1:9"  # discard port: nothing listens, the node is UNREACHABLE
    try:
        sessions: sessionmaker[Session] = make_session_factory(coordinator_engine_here)
        for server, _engine in nodes:
            await register_url(sessions, server.url)
        register_identity(sessions, gone, standin_identity("unreachable"))
        settings: Settings = coordinator_settings(
            database_url, node_timeout=2.0, fanout_retry_backoff=0.01
        )
        async with HttpTransport(timeout=2.0, retry_backoff=0.01) as node_transport:
            transport = HeldTransport(node_transport, held="lantern")
            app = create_coordinator_app(
                settings, transport=transport, engine=coordinator_engine_here
            )
            instrument(app, "coordinator")
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://coordinator"
                ) as client,
            ):
                question = asyncio.create_task(
                    client.post(
                        "/graphql", json={"query": "{ nodes(check: true) { id lastStatus } }"}
                    )
                )
                await asyncio.wait_for(transport.holding.wait(), 10)
                await asyncio.sleep(0.3)  # the other nodes answer (or fail) meanwhile

                during = await scrape(client)
                transport.release.set()
                answer = await asyncio.wait_for(question, 15)
                after = await scrape(client)
    finally:
        for server, engine in nodes:
            server.stop()
            engine.dispose()

    assert answer.status_code == 200, answer.text
    fanout = "lnob_fanout_duration_seconds_count"
    # While the question runs: it is in flight, and the nodes that answered are already counted.
    assert value(during, "lnob_requests_in_flight") == 2  # the question and this scrape
    assert value(during, fanout, node="riverbend", status="OK") >= 1
    assert value(during, fanout, node="unreachable", status="UNREACHABLE") >= 1
    assert value(during, fanout, node="lantern", status="OK") == 0
    # Once answered: every node, with its status, and the question itself.
    assert value(after, fanout, node="lantern", status="OK") >= 1
    assert value(after, "lnob_fanout_duration_seconds_sum", node="lantern", status="OK") >= 0.3
    assert sum(matching(after, "lnob_requests_total", route="/graphql", status="200").values()) == 1
