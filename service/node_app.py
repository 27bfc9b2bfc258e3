"""The node's HTTP application: GraphQL, downloads, health. `create_node_app(settings)`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from auth.caller import AnonymousResolver, Caller, CallerResolver
from auth.keys import SigningKey
from auth.levels import Level
from auth.resolver import TokenResolver
from schema.context import NodeContext
from schema.node import build_node_schema
from service.db import make_engine, make_session_factory
from service.errors import LnobError
from service.graphql_http import GraphQLHTTP, GraphQLLimits, GraphQLOutcome
from service.hardening import harden
from service.health import database_ready, healthz, readyz
from service.http_errors import error_response, status_for
from service.metrics import instrument, record_cells, record_graphql
from service.node import audit
from service.node.decision_cache import DecisionCache
from service.node.disclosure import DisclosurePolicy
from service.node.downloads import cell_filter_from_query, csv_lines, sdmx_csv_lines
from service.node.filters import CellFilter
from service.node.identity import get_identity, load_signing_key
from service.node.observations import ReleasedCell, iterate_cells
from service.reference import Reference, load_reference
from service.settings import Settings
from service.signing import SignResponses, node_identity_route
from service.web.dashboard import mount_dashboard
from service.web.node_pages import NAV, TITLE, node_page_routes, session_cookie

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What one node process holds for its lifetime, built in the lifespan."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policy: DisclosurePolicy
    reference: Reference
    signing_key: SigningKey
    callers: CallerResolver
    decision_cache: DecisionCache


def record_audit(state: NodeState, entry: audit.AuditRecord) -> None:
    record_cells(entry.cells_returned, entry.cells_suppressed)
    with state.sessions.begin() as session:
        audit.append(session, entry)


def create_node_app(
    settings: Settings,
    *,
    callers: CallerResolver | None = None,
    engine: Engine | None = None,
) -> Starlette:
    """A node over the database in `settings`; `callers` plugs in token-based identity."""
    schema = build_node_schema()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_engine = engine is None
        db = engine if engine is not None else make_engine(settings.database_url)
        sessions = make_session_factory(db)
        try:
            async with contextlib.AsyncExitStack() as stack:
                state = NodeState(
                    settings=settings,
                    engine=db,
                    sessions=sessions,
                    policy=DisclosurePolicy.from_settings(settings),
                    reference=load_reference(),
                    signing_key=load_signing_key(settings),
                    callers=callers or await _callers_from_settings(settings, sessions, stack),
                    decision_cache=DecisionCache(),
                )
                app.state.node = state
                yield
        finally:
            if own_engine:
                db.dispose()

    def state_of(request: Request) -> NodeState:
        node_state: NodeState = request.app.state.node
        return node_state

    async def get_context(request: Request) -> NodeContext:
        state = state_of(request)
        caller = await state.callers.resolve(request)
        return NodeContext(
            caller=caller,
            session=state.sessions(),
            settings=state.settings,
            policy=state.policy,
            reference=state.reference,
            signing_key=state.signing_key,
            decision_cache=state.decision_cache,
        )

    async def after_graphql(
        request: Request, context: NodeContext | None, outcome: GraphQLOutcome
    ) -> None:
        record_graphql(outcome)
        state = state_of(request)
        caller = context.caller if context else Caller("unauthenticated", level=Level.PUBLIC)
        tally = context.tally if context else None
        entry = audit.AuditRecord(
            caller=caller.identity,
            level=caller.level.label,
            action="graphql",
            operation=outcome.document or "",
            detail={
                "operation_type": outcome.operation_type,
                "operation_name": outcome.operation_name,
                "level_reason": caller.reason,
                "status": outcome.status_code,
                "errors": list(outcome.error_codes),
                "datasets": sorted(tally.datasets) if tally else [],
            },
            cells_returned=tally.cells_returned if tally else 0,
            cells_suppressed=tally.cells_suppressed if tally else 0,
        )
        await run_in_threadpool(record_audit, state, entry)

    graphql = GraphQLHTTP(
        schema,
        get_context=get_context,
        limits=GraphQLLimits.from_settings(settings),
        after_request=after_graphql,
        execute_in_thread=True,
        close_context=lambda context: context.session.close(),
    )

    async def download(request: Request) -> Response:
        state = state_of(request)
        sdmx = request.url.path.endswith(".sdmx.csv")
        try:
            caller = await state.callers.resolve(request)
            cell_filter = cell_filter_from_query(request.query_params, request.query_params.getlist)
            cell_filter.conditions()  # refuse a bad goal or target now, not mid-stream
        except LnobError as exc:
            return error_response(exc, status_for(exc), "application/json")
        return StreamingResponse(
            _download_lines(state, caller, cell_filter, sdmx, str(request.url.query)),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="observations'
                + ('.sdmx.csv"' if sdmx else '.csv"')
            },
        )

    app = Starlette(
        routes=[
            Route("/.well-known/lnob-node.json", node_identity_route),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz(lambda request: _readiness(state_of(request)))),
            Route("/download/observations.csv", download),
            Route("/download/observations.sdmx.csv", download),
        ],
        lifespan=lifespan,
    )
    mount_dashboard(
        app,
        settings,
        pages=node_page_routes(state_of),
        nav=NAV,
        title=TITLE,
        cookie=session_cookie(settings),
    )
    # Every answer leaves signed (RFC 9421) with the node's current key.
    app.add_middleware(SignResponses, key_provider=lambda: app.state.node.signing_key)
    harden(app, settings)
    instrument(app, "node")
    return app


async def _callers_from_settings(
    settings: Settings, sessions: sessionmaker[Session], stack: contextlib.AsyncExitStack
) -> CallerResolver:
    """Bearer tokens of the trusted issuers when any are set; otherwise every caller is public."""
    if not settings.trusted_issuers:
        return AnonymousResolver()
    client = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.node_timeout))
    with sessions() as session:
        organisation = get_identity(session).organisation
    return TokenResolver(settings, client, organisation)


def _readiness(state: NodeState) -> tuple[bool, str]:
    ready, detail = database_ready(state.engine, "node")
    if ready:
        with state.sessions() as session:
            get_identity(session)
    return ready, detail


def _download_lines(
    state: NodeState,
    caller: Caller,
    cell_filter: CellFilter,
    sdmx: bool,
    query: str,
) -> Iterator[str]:
    """Runs in a worker thread (Starlette iterates sync generators there); audits at the end."""
    returned = suppressed = 0

    def counted(cells: Iterator[ReleasedCell]) -> Iterator[ReleasedCell]:
        nonlocal returned, suppressed
        for cell in cells:
            returned += 1
            suppressed += cell.suppressed
            yield cell

    with state.sessions() as session:
        cells = counted(
            iterate_cells(
                session,
                level=caller.level,
                policy=state.policy,
                cell_filter=cell_filter,
                decision_cache=state.decision_cache,
            )
        )
        lines = sdmx_csv_lines(cells, state.reference) if sdmx else csv_lines(cells)
        try:
            yield from lines
        finally:
            record_audit(
                state,
                audit.AuditRecord(
                    caller=caller.identity,
                    level=caller.level.label,
                    action="download",
                    operation=("sdmx-csv" if sdmx else "csv") + (f"?{query}" if query else ""),
                    detail={"format": "sdmx-csv" if sdmx else "csv", "level_reason": caller.reason},
                    cells_returned=returned,
                    cells_suppressed=suppressed,
                ),
            )
