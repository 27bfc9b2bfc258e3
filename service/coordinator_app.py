"""The coordinator's HTTP application: federated GraphQL, CSV downloads, health.

`create_coordinator_app(settings)`; its lifespan builds the database engine, the HTTP transport
that reaches the nodes (connections kept alive per node), and the `Federation` over the node
registry. Every node answer is verified against the keys the registry holds for that node
(`RegistryVerifier`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import anyio.to_thread
import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from federation import registry
from federation.fanout import Federation, SourceStatus
from federation.registry import RegisteredNode
from federation.transport import HttpTransport, NodeTransport
from federation.trust import RegistryVerifier
from schema.coordinator import build_coordinator_schema
from schema.coordinator_context import CoordinatorContext
from service.coordinator_downloads import gaps_download, stocktake_download
from service.db import make_engine, make_session_factory
from service.graphql_http import GraphQLHTTP, GraphQLLimits
from service.hardening import harden
from service.health import database_ready, healthz, readyz
from service.metrics import instrument, observe_graphql
from service.reference import Reference, load_reference
from service.settings import Settings
from service.web import coordinator_pages
from service.web.dashboard import mount_dashboard

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CoordinatorState:
    """What one coordinator process holds for its lifetime, built in the lifespan."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    federation: Federation
    reference: Reference


def create_coordinator_app(
    settings: Settings,
    *,
    transport: NodeTransport | None = None,
    engine: Engine | None = None,
) -> Starlette:
    """A coordinator over the registry in `settings.coordinator_database_url`.

    `transport` replaces how nodes are reached (HTTP, connections kept alive per node, by default,
    verifying every answer's signature: a replacement transport is responsible for its own).
    """
    schema = build_coordinator_schema()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_engine = engine is None
        db = engine if engine is not None else make_engine(settings.coordinator_database_url)
        sessions = make_session_factory(db)

        def read_registry() -> list[RegisteredNode]:
            with sessions() as session:
                return registry.list_nodes(session)

        def remember(statuses: Sequence[SourceStatus]) -> None:
            with sessions.begin() as session:
                registry.record_statuses(session, statuses)

        async def read_registry_off_the_loop() -> list[RegisteredNode]:
            return await anyio.to_thread.run_sync(read_registry)

        registered_nodes = registry.RegistrySnapshot(read_registry_off_the_loop)

        async def on_answer(statuses: Sequence[SourceStatus]) -> None:
            await anyio.to_thread.run_sync(remember, statuses)

        # The nodes are asked through HttpTransport; this client fetches identity documents.
        try:
            async with (
                httpx.AsyncClient(timeout=settings.node_timeout, follow_redirects=False) as client,
                HttpTransport(
                    timeout=settings.node_timeout,
                    retry_backoff=settings.fanout_retry_backoff,
                    verify_response=RegistryVerifier(
                        sessions, client, timeout=settings.node_timeout
                    ),
                    connections=max(settings.fanout_concurrency, 1),
                ) as http_transport,
            ):
                federation = Federation.from_settings(
                    settings, registered_nodes, transport or http_transport, on_answer=on_answer
                )
                app.state.coordinator = CoordinatorState(
                    settings=settings,
                    engine=db,
                    sessions=sessions,
                    federation=federation,
                    reference=load_reference(),
                )
                try:
                    yield
                finally:
                    await federation.aclose()  # the statuses of the last answers, recorded
        finally:
            if own_engine:
                db.dispose()

    def state_of(request: Request) -> CoordinatorState:
        state: CoordinatorState = request.app.state.coordinator
        return state

    async def get_context(request: Request) -> CoordinatorContext:
        state = state_of(request)
        return CoordinatorContext(
            federation=state.federation,
            authorization=request.headers.get("authorization"),
            settings=state.settings,
            sessions=state.sessions,
            reference=state.reference,
        )

    graphql = GraphQLHTTP(
        schema,
        get_context=get_context,
        limits=GraphQLLimits.from_settings(settings),
        after_request=observe_graphql,
        execute_in_thread=False,
    )

    async def stocktake_csv(request: Request) -> Response:
        return await stocktake_download(request, await get_context(request))

    async def gaps_csv(request: Request) -> Response:
        return await gaps_download(request, await get_context(request), schema)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz(lambda request: _readiness(state_of(request)))),
            Route("/download/stocktake.csv", stocktake_csv),
            Route("/download/gaps.csv", gaps_csv),
        ],
        lifespan=lifespan,
    )
    mount_dashboard(
        app,
        settings,
        pages=coordinator_pages.routes(),
        nav=coordinator_pages.NAV,
        title=coordinator_pages.TITLE,
        cookie="lnob-coordinator",
    )
    harden(app, settings)
    instrument(app, "coordinator")
    return app


def _readiness(state: CoordinatorState) -> tuple[bool, str]:
    ready, detail = database_ready(state.engine, "coordinator")
    if not ready:
        return ready, detail
    with state.sessions() as session:
        count = len(registry.list_nodes(session))
    return True, f"{detail}, {count} node(s) registered"
