"""Prometheus metrics of one app at `/metrics`: requests, latency, cells, and the fan-out.

Each app owns its registry (never prometheus_client's global one), so several apps can live in
one process, as they do in tests. `instrument(app, service)` adds the route and the middleware;
code that runs while a request is handled reports into that request's app through the module
functions `record_cells`, `record_graphql` and `record_fanout`, which do nothing outside a
request.

Series (every name starts with `lnob_`):

- `requests_total{route, operation, status}` and `request_duration_seconds{route, operation}`:
  `route` is the route's path (`unmatched` for none), `operation` the GraphQL operation as
  "query Observations" (empty for other requests and for documents that never reached one);
- `cells_returned_total{route}` and `cells_suppressed_total{route}`: cells in answers, as the
  audit log counts them (returned includes suppressed);
- `fanout_duration_seconds{node, status}`: the coordinator's wait for each node's part of a
  federated question, by the status its answer's `sources` gives (`OK`, `TIMEOUT`, ...);
- `requests_in_flight`, `build_info{service, version}`, and the process's CPU, memory and files.
"""

from __future__ import annotations

import importlib.metadata
import time
from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.graphql_http import GraphQLOutcome
from service.logging import RequestContextMiddleware, route_template

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
OTHER = "other"
# Requests: a GraphQL answer takes milliseconds to seconds; a large download, up to minutes.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Fan-out: bounded by LNOB_NODE_TIMEOUT (5 s) and LNOB_FANOUT_DEADLINE (15 s) by default.
FANOUT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30)


def _version() -> str:
    try:
        return importlib.metadata.version("lnob-data-federation")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


class Metrics:
    """The Prometheus metrics of one app (`service` is node, coordinator or auth)."""

    def __init__(self, service: str, *, max_operations: int = 100) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        # Operation names come from callers: beyond this many, new ones count as "other".
        self._max_operations = max_operations
        self._operations: set[str] = set()
        registry = self.registry
        self.requests = Counter(
            "lnob_requests",
            "HTTP requests answered, by route, GraphQL operation and status.",
            ["route", "operation", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "lnob_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["route", "operation"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "lnob_requests_in_flight", "HTTP requests being answered now.", registry=registry
        )
        self.cells_returned = Counter(
            "lnob_cells_returned",
            "Cells in answers, suppressed ones included (as the audit log counts them).",
            ["route"],
            registry=registry,
        )
        self.cells_suppressed = Counter(
            "lnob_cells_suppressed",
            "Cells in answers that disclosure control suppressed.",
            ["route"],
            registry=registry,
        )
        self.fanout_duration = Histogram(
            "lnob_fanout_duration_seconds",
            "Coordinator: time each node took over its part of a federated question, by status.",
            ["node", "status"],
            buckets=FANOUT_BUCKETS,
            registry=registry,
        )
        build = Gauge(
            "lnob_build_info",
            "Which service and version this process runs (always 1).",
            ["service", "version"],
            registry=registry,
        )
        build.labels(service=service, version=_version()).set(1)
        ProcessCollector(registry=registry)

    def operation_label(self, operation: str) -> str:
        if operation in self._operations or not operation:
            return operation
        if len(self._operations) >= self._max_operations:
            return OTHER
        self._operations.add(operation)
        return operation

    def observe_request(self, route: str, operation: str, status: int, seconds: float) -> None:
        operation = self.operation_label(operation)
        self.requests.labels(route=route, operation=operation, status=str(status)).inc()
        self.request_duration.labels(route=route, operation=operation).observe(seconds)

    def record_cells(self, route: str, returned: int, suppressed: int) -> None:
        if returned:
            self.cells_returned.labels(route=route).inc(returned)
        if suppressed:
            self.cells_suppressed.labels(route=route).inc(suppressed)

    def record_fanout(self, node_id: str, status: str, seconds: float) -> None:
        self.fanout_duration.labels(node=node_id, status=status).observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def endpoint(self, request: Request) -> Response:
        """`GET /metrics` in the Prometheus text format."""
        return Response(self.exposition(), media_type=CONTENT_TYPE_LATEST)


@dataclass(slots=True)
class _RequestTally:
    """What code handling one request reported; the middleware adds it up at the end."""

    metrics: Metrics
    operation: str = ""
    cells_returned: int = 0
    cells_suppressed: int = 0


# The object is shared, not copied, with threads and tasks started for the request, so a report
# from a worker thread (a download's generator, a threadpool resolver) reaches the same tally.
_tally: ContextVar[_RequestTally | None] = ContextVar("lnob_metrics_tally", default=None)


def record_cells(returned: int, suppressed: int) -> None:
    """Count cells in the answer to the current request (no-op outside a request)."""
    tally = _tally.get()
    if tally is not None:
        tally.cells_returned += returned
        tally.cells_suppressed += suppressed


def graphql_operation(operation_type: str | None, operation_name: str | None) -> str:
    """The `operation` label: "query Observations", "query" when anonymous, "" when unknown."""
    if not operation_type:
        return ""
    return f"{operation_type} {operation_name}" if operation_name else operation_type


def record_graphql(outcome: GraphQLOutcome) -> None:
    """Label the current request with its GraphQL operation (no-op outside a request)."""
    tally = _tally.get()
    if tally is not None:
        tally.operation = graphql_operation(outcome.operation_type, outcome.operation_name)


async def observe_graphql(request: Request, context: object, outcome: GraphQLOutcome) -> None:
    """`GraphQLHTTP(after_request=observe_graphql)` for an app with no hook of its own."""
    record_graphql(outcome)


def record_fanout(node_id: str, status: str, seconds: float) -> None:
    """Count one node's part of a federated question (no-op outside a request).

    The coordinator calls it once per node and question, with the node's `SourceStatus` status
    and its latency in seconds.
    """
    tally = _tally.get()
    if tally is not None:
        tally.metrics.record_fanout(node_id, status, seconds)


class MetricsMiddleware:
    """Times and counts every HTTP request of the app it wraps into `metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tally = _RequestTally(self.metrics)
        route = route_template(scope)
        token = _tally.set(tally)
        status = 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.in_flight.dec()
            # The route's path, not the request's, keeps the label set small whatever paths
            # callers try.
            route = route or route_template(scope) or UNMATCHED
            self.metrics.observe_request(
                route, tally.operation, status, time.perf_counter() - started
            )
            self.metrics.record_cells(route, tally.cells_returned, tally.cells_suppressed)
            _tally.reset(token)


def instrument(app: Starlette, service: str) -> Metrics:
    """Add `/metrics`, request metrics and trace-aware request logs to `app`; before it starts.

    Idempotent: an app already instrumented keeps (and returns) its metrics."""
    existing: Metrics | None = getattr(app.state, "lnob_metrics", None)
    if existing is not None:
        return existing
    metrics = Metrics(service)
    app.state.lnob_metrics = metrics
    app.add_route(METRICS_PATH, metrics.endpoint, methods=["GET"], include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Added last, so outermost: the trace context covers the metrics and everything inside.
    app.add_middleware(RequestContextMiddleware)
    return metrics
