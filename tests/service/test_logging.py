"""Structured logs: one JSON object a line, the request's trace id on every line written while it
is handled, the trace continued across a coordinator → node call, and no secrets or cell values."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.caller import Caller, StaticResolver
from auth.levels import Level
from service.logging import (
    JsonFormatter,
    RequestContextMiddleware,
    TextFormatter,
    configure_logging,
    continue_trace,
    current_traceparent,
    parse_traceparent,
    redact,
    trace_scope,
)
from service.metrics import instrument
from service.node.identity import init_node
from service.node_app import create_node_app
from service.settings import load_settings
from tests.federation.conftest import serve
from tests.node.conftest import NodeUnderTest, sex_table

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
logger = logging.getLogger("tests.service.logging")

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def test_node(node_engine: Engine, database_url: str, tmp_path: Path) -> NodeUnderTest:
    """An initialised node, as tests/node has it."""
    settings = load_settings(database_url=database_url, key_file=tmp_path / "node-key.pem")
    init_node(node_engine, settings, name="Test node", organisation="Test ICSO", node_id="test")
    return NodeUnderTest(settings=settings, engine=node_engine, folder=tmp_path)


@pytest.fixture
def json_logs() -> Iterator[Lines]:
    """Every log line the process writes during the test, parsed (each must be one JSON object)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line]

    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-{PARENT}-01", (TRACE, PARENT, "01")),
        (f"00-{TRACE}-{PARENT}-00", (TRACE, PARENT, "00")),
        (f"  00-{TRACE}-{PARENT}-01 ", (TRACE, PARENT, "01")),
        # a later version is read for its first four fields
        (f"01-{TRACE}-{PARENT}-01-future-stuff", (TRACE, PARENT, "01")),
        (f"00-{TRACE}-{PARENT}-01-extra", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{PARENT}-01", None),
        (f"00-{'0' * 32}-{PARENT}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{PARENT}-01", None),
        (f"00-{TRACE[:-1]}-{PARENT}-01", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_traceparent_parsing_follows_the_w3c_rules(
    header: str | None, expected: tuple[str, str, str] | None
) -> None:
    assert parse_traceparent(header) == expected


def test_a_trace_is_continued_or_started() -> None:
    continued = continue_trace(f"00-{TRACE}-{PARENT}-01")
    assert (continued.trace_id, continued.parent_id, continued.flags) == (TRACE, PARENT, "01")
    assert re.fullmatch(r"[0-9a-f]{16}", continued.span_id) and continued.span_id != PARENT
    assert continued.traceparent == f"00-{TRACE}-{continued.span_id}-01"
    started = continue_trace("not a header")
    assert re.fullmatch(r"[0-9a-f]{32}", started.trace_id) and started.parent_id is None
    assert parse_traceparent(started.traceparent) == (started.trace_id, started.span_id, "00")
    assert current_traceparent() is None  # outside a request or scope
    with trace_scope(started):
        assert current_traceparent() == started.traceparent
    assert current_traceparent() is None


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "eyJzdWIiOiJ4In0"),
        ("connecting to postgresql://lnob:s3cr3t-pw@db:5432/lnob", "s3cr3t-pw"),
        ("POST /token client_secret=abcDEF123&grant_type=client_credentials", "abcDEF123"),
        ('{"password": "hunter22", "user": "x"}', "hunter22"),
        ("passphrase=correct-horse", "correct-horse"),
        ("no connection to postgresql+psycopg://lnob:pa%40ss@db.internal/lnob", "pa%40ss"),
        ("token eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.sig-part", "eyJpc3MiOiJ4In0"),
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIabc\n-----END PRIVATE KEY-----",
            "MC4CAQAwBQYDK2VwBCIEIabc",
        ),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "[redacted" in masked


def test_json_lines_carry_extras_exceptions_and_no_secrets(json_logs: Lines) -> None:
    with trace_scope(continue_trace(f"00-{TRACE}-{PARENT}-01")):
        logger.info("loaded %s rows", 12, extra={"dataset": "survey", "authorization": "Bearer x"})
        try:
            raise ValueError("cannot reach postgresql://lnob:pw-in-url@db/lnob")
        except ValueError:
            logger.exception("database unreachable")
    logger.warning("outside any request")
    first, second, third = json_logs()
    assert first["message"] == "loaded 12 rows" and first["level"] == "INFO"
    assert first["logger"] == "tests.service.logging"
    assert first["trace_id"] == TRACE and first["parent_id"] == PARENT
    assert first["dataset"] == "survey" and first["authorization"] == "[redacted]"
    assert "ValueError" in second["exception"] and "pw-in-url" not in second["exception"]
    assert "trace_id" not in third
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", third["time"])


def test_configure_logging_chooses_json_off_a_terminal_and_replaces_itself() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        stream = io.StringIO()
        handler = configure_logging("INFO", stream=stream)
        assert isinstance(handler.formatter, JsonFormatter)
        again = configure_logging("WARNING", json_lines=False, stream=stream)
        assert isinstance(again.formatter, TextFormatter)
        assert handler not in root.handlers and again in root.handlers
        assert root.level == logging.WARNING
        logger.warning("plain text for a person, token=abc123")
        assert "token=[redacted]" in stream.getvalue()
    finally:
        for extra in [h for h in root.handlers if h not in before]:
            root.removeHandler(extra)
        root.setLevel(level)


def small_app() -> Starlette:
    async def hello(request: Request) -> Response:
        logger.info("inside the handler")
        return JSONResponse({"traceparent": current_traceparent()})

    return Starlette(routes=[Route("/hello", hello)])


async def test_middleware_puts_the_request_trace_on_every_line(json_logs: Lines) -> None:
    app = RequestContextMiddleware(small_app())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        continued = await client.get("/hello", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
        fresh = await client.get("/hello")
    assert continued.headers["x-request-id"] == TRACE
    outgoing = parse_traceparent(continued.json()["traceparent"])
    assert outgoing is not None and outgoing[0] == TRACE and outgoing[1] != PARENT
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert fresh.headers["x-request-id"] != TRACE

    lines = json_logs()
    inside = [line for line in lines if line["message"] == "inside the handler"]
    access = [line for line in lines if line["logger"] == "lnob.access"]
    assert [line["trace_id"] for line in inside] == [TRACE, fresh.headers["x-request-id"]]
    assert [line["trace_id"] for line in access] == [TRACE, fresh.headers["x-request-id"]]
    assert access[0]["parent_id"] == PARENT and access[0]["span_id"] == outgoing[1]
    assert access[0]["status"] == 200 and access[0]["route"] == "/hello"
    assert access[0]["method"] == "GET" and access[0]["duration_ms"] >= 0


# Values no timing or count in a log line could match by chance.
SECRET_VALUES = ("4321.987", "8765.123", "13087.11")


async def test_a_node_logs_no_cell_values_and_no_tokens(
    test_node: NodeUnderTest, json_logs: Lines
) -> None:
    rows = sex_table(female=(4321.987, 40), male=(8765.123, 38), total=(13087.11, 78))
    test_node.load("survey", rows, release=Level.GOVERNMENT)
    app = create_node_app(
        test_node.settings,
        callers=StaticResolver(Caller("ministry", level=Level.OWNER)),
        engine=test_node.engine,
    )
    instrument(app, "node")
    token = "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJtaW5pc3RyeSJ9.c2lnbmF0dXJl"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client,
    ):
        answer = await client.post(
            "/graphql",
            json={"query": "{ observations(first: 10) { edges { node { value n } } } }"},
            headers={"authorization": token, "traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
        download = await client.get("/download/observations.csv?refAreas=BGD")
    assert answer.status_code == 200 and SECRET_VALUES[0] in answer.text
    assert SECRET_VALUES[1] in download.text
    # The test's own client logs its URLs (logger "httpx"); the node's lines are the rest.
    lines = [line for line in json_logs() if line["logger"] != "httpx"]
    written = "\n".join(json.dumps(line) for line in lines)
    assert any(line.get("route") == "/graphql" and line["trace_id"] == TRACE for line in lines)
    for value in SECRET_VALUES:
        assert value not in written
    assert "eyJzdWIiOiJtaW5pc3RyeSJ9" not in written and "refAreas" not in written


def test_a_question_is_followed_from_caller_to_node(
    test_node: NodeUnderTest, json_logs: Lines
) -> None:
    """The caller sends `current_traceparent()`; the node's lines carry the caller's trace id,
    and the node's span names the caller's span as its parent. Two servers, real HTTP."""
    test_node.load("survey", sex_table(female=(30, 30), male=(40, 40), total=(70, 70)))
    node_app = create_node_app(test_node.settings, engine=test_node.engine)
    instrument(node_app, "node")
    node = serve(node_app)

    async def ask_node(request: Request) -> Response:
        headers = {"traceparent": current_traceparent() or ""}
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{node.url}/graphql", json={"query": "{ node { id } }"}, headers=headers
            )
        logger.info("asked the node", extra={"node_status": answer.status_code})
        return JSONResponse({"node_request_id": answer.headers["x-request-id"]})

    caller_app = Starlette(routes=[Route("/ask", ask_node)])
    instrument(caller_app, "coordinator")
    caller = serve(caller_app)
    try:
        response = httpx.get(f"{caller.url}/ask", timeout=10)
    finally:
        caller.stop()
        node.stop()
    trace_id = response.headers["x-request-id"]
    assert response.json()["node_request_id"] == trace_id
    lines = json_logs()
    access = {line["route"]: line for line in lines if line["logger"] == "lnob.access"}
    assert access["/ask"]["trace_id"] == access["/graphql"]["trace_id"] == trace_id
    assert access["/graphql"]["parent_id"] == access["/ask"]["span_id"]
    asked = [line for line in lines if line["message"] == "asked the node"]
    assert asked and asked[0]["trace_id"] == trace_id
