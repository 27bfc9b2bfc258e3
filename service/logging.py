"""Structured logs that follow one request, and one federated question, across processes.

Each HTTP request runs in a W3C trace context (https://www.w3.org/TR/trace-context/): an incoming
`traceparent` header is continued, otherwise a new trace starts. Every log line written while the
request is handled carries its `trace_id`, and the coordinator sends `current_traceparent()` to
each node it asks, so the node's lines carry the same `trace_id` as the coordinator's.

Logs never hold secrets, tokens or cell values: request lines name the route, status and timing,
never bodies, query strings or headers, and `redact` masks credentials that a message or an
exception might still carry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACEPARENT = "traceparent"
REQUEST_ID_HEADER = "x-request-id"

access_logger = logging.getLogger("lnob.access")

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where this process is in a trace: the trace, its own span, and the caller's span."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    flags: str = "00"

    @property
    def traceparent(self) -> str:
        """The header for an outgoing call: the callee's parent is this process's span."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """`(trace_id, parent_id, flags)` of a valid `traceparent` header, else None.

    Follows the specification's parsing rules: version `ff` and all-zero ids are invalid, and a
    header of a later version is read for its first four fields.
    """
    if value is None:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def continue_trace(traceparent: str | None) -> TraceContext:
    """A new span in the caller's trace, or in a new trace when the header is missing or bad."""
    parsed = parse_traceparent(traceparent)
    span_id = secrets.token_hex(8)
    if parsed is None:
        return TraceContext(trace_id=secrets.token_hex(16), span_id=span_id)
    trace_id, parent_id, flags = parsed
    # Only the sampled bit is defined; the others are passed on as zero (section 3.2.2.5).
    return TraceContext(trace_id, span_id, parent_id, f"{int(flags, 16) & 0x01:02x}")


_current: ContextVar[TraceContext | None] = ContextVar("lnob_trace", default=None)


def current_trace() -> TraceContext | None:
    return _current.get()


def current_traceparent() -> str | None:
    """The `traceparent` header to send on an outgoing call made for the current request."""
    trace = _current.get()
    return trace.traceparent if trace is not None else None


@contextlib.contextmanager
def trace_scope(trace: TraceContext) -> Iterator[TraceContext]:
    """Run a block (a CLI command, a background job) inside `trace`."""
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


# --- keeping secrets out ------------------------------------------------------------------

_REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(?i)(authorization|password|passphrase|secret|token|api[_-]?key|cookie|credential)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "[redacted private key]",
    ),
    (re.compile(r"(?i)\b(bearer|basic|dpop)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + _REDACTED),
    # user:password@ in URLs (database URLs above all)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]*@"), r"\1:" + _REDACTED + "@"),
    (
        re.compile(
            r"(?i)\b((?:client_)?secret|password|passphrase|access_token|refresh_token|"
            r"id_token|token|api[_-]?key)(\s*[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
        ),
        r"\1\2" + _REDACTED,
    ),
    # a bare JWS/JWT (three base64url parts, the first a JSON header)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), _REDACTED),
)


def redact(text: str) -> str:
    """`text` with credentials, tokens and private keys replaced by a marker."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _safe(key: str, value: object) -> object:
    if _SECRET_KEY.search(key):
        return _REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


# --- formatting ---------------------------------------------------------------------------

# What every LogRecord has; anything else on a record came from `extra=` and is logged too.
_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}  # uvicorn's ANSI copy of the message
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids, and `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        trace = current_trace()
        if trace is not None:
            entry["trace_id"] = trace.trace_id
            entry["span_id"] = trace.span_id
            if trace.parent_id is not None:
                entry["parent_id"] = trace.parent_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in entry:
                entry[key] = _safe(key, value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, with the trace id when there is one; secrets masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        trace = current_trace()
        return f"{line} [trace {trace.trace_id}]" if trace is not None else line


_HANDLER_MARK = "_lnob_handler"


def configure_logging(
    level: int | str = logging.INFO,
    *,
    json_lines: bool | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send the process's logs to `stream` (stderr) as JSON lines, or as text on a terminal.

    `json_lines=None` picks JSON unless the stream is a terminal, so containers and services log
    JSON and an operator at a prompt reads text. Calling it again replaces the handler.
    """
    target = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(target, "isatty") and target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


# --- the middleware -----------------------------------------------------------------------


def route_template(scope: Scope) -> str | None:
    """The path of the route that answers this request (`/items/{id}`, not `/items/7`).

    Matched against the application's routes before the request runs, since middleware inside
    may hand the router a copy of the scope; otherwise read from the scope the router filled.
    """
    router = getattr(scope.get("app"), "router", None)
    partial: str | None = None
    for route in getattr(router, "routes", ()):
        match, _child = route.matches(scope)
        path = getattr(route, "path", None)
        if match is Match.FULL and isinstance(path, str):
            return path
        if match is Match.PARTIAL and partial is None and isinstance(path, str):
            partial = path  # the path matches, the method does not (405)
    if partial is not None:
        return partial
    filled = getattr(scope.get("route"), "path", None)
    return filled if isinstance(filled, str) else None


class RequestContextMiddleware:
    """Runs each HTTP request in its trace context and logs one line when it is answered.

    The response carries `X-Request-Id` (the trace id), which a caller can quote to an operator.
    The line names the method, route, status and duration; never the query string, body or
    headers, which may hold filters a caller considers private, tokens or cell values.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                incoming = value.decode("latin-1")
                break
        trace = continue_trace(incoming)
        route = route_template(scope)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), trace.trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with trace_scope(trace):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                access_logger.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route or route_template(scope),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
