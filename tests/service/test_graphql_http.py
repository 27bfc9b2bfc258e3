"""The GraphQL endpoint as an HTTP client sees it: the graphql-over-http draft, limits, masking."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from auth.errors import TokenInvalid
from service.errors import BadRequest, ConfigError, LnobError, NotFound, NotInitialised
from service.graphql_http import GraphQLHTTP, GraphQLLimits, GraphQLOutcome
from service.http_errors import error_response, status_for
from service.node.models import Dataset
from service.settings import Settings

GQL = "application/graphql-response+json"
JSON = "application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SECRET = "password=hunter2 in SELECT * FROM observation"


class ShelfEmpty(LnobError):
    code = "SHELF_EMPTY"


@dataclass
class Context:
    caller: str
    session: Session | None = None


@strawberry.type
class Node:
    level: int

    @strawberry.field
    def child(self) -> Node:
        return Node(level=self.level + 1)


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"hello {name}"

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return "later"

    @strawberry.field
    def caller(self, info: strawberry.Info[Context, None]) -> str:
        return info.context.caller

    @strawberry.field
    def thread(self) -> str:
        return threading.current_thread().name

    @strawberry.field
    def dataset_count(self, info: strawberry.Info[Context, None]) -> int:
        assert info.context.session is not None
        return info.context.session.scalar(select(func.count()).select_from(Dataset)) or 0

    @strawberry.field
    def broken(self) -> str | None:
        raise ShelfEmpty("the shelf is empty")

    @strawberry.field
    def crash(self) -> str | None:
        raise RuntimeError(SECRET)

    @strawberry.field
    def node(self) -> Node:
        return Node(level=1)

    @strawberry.field
    def guarded(self) -> str | None:
        raise GraphQLError("ask the dataset owner", extensions={"code": "FORBIDDEN"})

    @strawberry.field
    def never_null(self) -> str:
        return None  # type: ignore[return-value]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self, by: int = 1) -> int:
        return by + 1


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)


@dataclass
class Recorder:
    outcomes: list[tuple[Context | None, GraphQLOutcome]] = field(default_factory=list)
    closed_in: list[str] = field(default_factory=list)
    fail_after: bool = False


def make_app(
    recorder: Recorder,
    limits: GraphQLLimits | None = None,
    *,
    execute_in_thread: bool = False,
    engine: Engine | None = None,
) -> Starlette:
    async def get_context(request: Request) -> Context:
        authorization = request.headers.get("authorization", "")
        if authorization == "Bearer bad":
            raise TokenInvalid("signature of key kid-42 expired at 12:00")
        if authorization == "Bearer uninitialised":
            raise NotInitialised("this node has not been initialised")
        if authorization == "Bearer crash":
            raise RuntimeError(SECRET)
        caller = "alice" if authorization == "Bearer good" else "anonymous"
        return Context(caller=caller, session=Session(engine) if engine is not None else None)

    def close_context(context: Context) -> None:
        recorder.closed_in.append(threading.current_thread().name)
        if context.session is not None:
            context.session.close()

    async def after_request(
        request: Request, context: Context | None, outcome: GraphQLOutcome
    ) -> None:
        recorder.outcomes.append((context, outcome))
        if recorder.fail_after:
            raise RuntimeError("audit log unavailable")

    endpoint = GraphQLHTTP(
        SCHEMA,
        get_context=get_context,
        limits=limits or GraphQLLimits(),
        after_request=after_request,
        execute_in_thread=execute_in_thread,
        close_context=close_context,
    )
    return Starlette(routes=[Route("/graphql", endpoint=endpoint, methods=["GET", "POST"])])


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def client_for(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        yield client


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(make_app(recorder)):
        yield client


def post(body: object, **headers: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "content": body if isinstance(body, bytes) else json.dumps(body).encode(),
        "headers": {"content-type": JSON, **headers},
    }


def get(**params: str) -> dict[str, Any]:
    headers = {key: params.pop(key) for key in ("accept",) if key in params}
    return {"method": "GET", "params": params, "headers": headers}


HELLO = {"query": "{ hello }"}
DEEP = "{ node { child { child { child { level } } } } }"  # 5 fields deep
DEEP_BY_FRAGMENTS = "{ node { ...A } } fragment A on Node { child { ...B } } " + (
    "fragment B on Node { child { child { level } } }"
)

# (request, expected status, media type of the answer, extensions.code of the first error)
CASES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("post, graphql-response+json", post(HELLO, accept=GQL), 200, GQL, None),
    ("post, application/json", post(HELLO, accept=JSON), 200, JSON, None),
    ("no Accept means graphql-response+json", post(HELLO), 200, GQL, None),
    ("*/* picks graphql-response+json", post(HELLO, accept="*/*"), 200, GQL, None),
    ("application/* picks it too", post(HELLO, accept="application/*"), 200, GQL, None),
    ("recommended Accept", post(HELLO, accept=f"{GQL}; charset=utf-8, {JSON}"), 200, GQL, None),
    ("q-values win", post(HELLO, accept=f"{GQL};q=0.5, {JSON};q=0.9"), 200, JSON, None),
    ("q=0 refuses a type", post(HELLO, accept=f"{GQL};q=0, */*;q=0.1"), 200, JSON, None),
    ("nothing acceptable", post(HELLO, accept="text/plain"), 406, JSON, "NOT_ACCEPTABLE"),
    ("only q=0", post(HELLO, accept=f"{GQL};q=0"), 406, JSON, "NOT_ACCEPTABLE"),
    ("not UTF-8", post(HELLO, accept=f"{JSON}; charset=utf-16"), 406, JSON, "NOT_ACCEPTABLE"),
    (
        "utf-8 body charset",
        post(HELLO, **{"content-type": f"{JSON}; charset=UTF-8"}),
        200,
        GQL,
        None,
    ),
    ("quoted charset", post(HELLO, **{"content-type": f'{JSON};charset="utf-8"'}), 200, GQL, None),
    (
        "no Content-Type",
        {"method": "POST", "content": b'{"query":"{hello}"}'},
        415,
        GQL,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "text/plain body",
        post(HELLO, **{"content-type": "text/plain"}),
        415,
        GQL,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "application/graphql body",
        post(HELLO, **{"content-type": "application/graphql"}),
        415,
        GQL,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "latin-1 body",
        post(HELLO, **{"content-type": f"{JSON}; charset=latin-1"}),
        415,
        GQL,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "form body",
        post(HELLO, **{"content-type": "application/x-www-form-urlencoded"}),
        415,
        GQL,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ("malformed JSON", post(b'{"query":'), 400, GQL, "BAD_REQUEST"),
    ("malformed JSON, legacy", post(b"NONSENSE", accept=JSON), 400, JSON, "BAD_REQUEST"),
    ("not UTF-8 bytes", post(b'{"query":"{ hello }", "x": "\xff"}'), 400, GQL, "BAD_REQUEST"),
    ("empty body", post(b""), 400, GQL, "BAD_REQUEST"),
    ("deeply nested JSON", post(b"[" * 100_000), 400, GQL, "BAD_REQUEST"),
    ("batch", post([HELLO, HELLO]), 400, GQL, "BAD_REQUEST"),
    ("body is a string", post("{ hello }"), 400, GQL, "BAD_REQUEST"),
    ("missing query", post({"qeury": "{ hello }"}), 400, GQL, "BAD_REQUEST"),
    ("missing query, legacy", post({"qeury": "{ hello }"}, accept=JSON), 400, JSON, "BAD_REQUEST"),
    ("null query", post({"query": None}), 400, GQL, "BAD_REQUEST"),
    ("object query", post({"query": {"obj": "ect"}}), 400, GQL, "BAD_REQUEST"),
    ("number query", post({"query": 0}), 400, GQL, "BAD_REQUEST"),
    ("false query", post({"query": False}), 400, GQL, "BAD_REQUEST"),
    ("list query", post({"query": ["{ hello }"]}), 400, GQL, "BAD_REQUEST"),
    ("list variables", post({"query": "{ hello }", "variables": [7]}), 400, GQL, "BAD_REQUEST"),
    ("string variables", post({"query": "{ hello }", "variables": "{}"}), 400, GQL, "BAD_REQUEST"),
    ("list extensions", post({"query": "{ hello }", "extensions": []}), 400, GQL, "BAD_REQUEST"),
    (
        "number operationName",
        post({"query": "{ hello }", "operationName": 0}),
        400,
        GQL,
        "BAD_REQUEST",
    ),
    (
        "null optionals",
        post({"query": "{ hello }", "variables": None, "operationName": None, "extensions": None}),
        200,
        GQL,
        None,
    ),
    (
        "map extensions",
        post({"query": "{ hello }", "extensions": {"some": "value"}}),
        200,
        GQL,
        None,
    ),
    ("parse error", post({"query": "{"}), 400, GQL, "GRAPHQL_PARSE_FAILED"),
    ("parse error, legacy", post({"query": "{"}, accept=JSON), 200, JSON, "GRAPHQL_PARSE_FAILED"),
    ("empty document", post({"query": ""}), 400, GQL, "GRAPHQL_PARSE_FAILED"),
    ("validation error", post({"query": "{ nope }"}), 400, GQL, "GRAPHQL_VALIDATION_FAILED"),
    (
        "validation error, legacy",
        post({"query": "{ nope }"}, accept=JSON),
        200,
        JSON,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "no operation chosen",
        post({"query": "query A { hello } query B { hello }"}),
        400,
        GQL,
        "OPERATION_RESOLUTION_FAILURE",
    ),
    (
        "no operation chosen, legacy",
        post({"query": "query A { hello } query B { hello }"}, accept=JSON),
        200,
        JSON,
        "OPERATION_RESOLUTION_FAILURE",
    ),
    (
        "unknown operationName",
        post({"query": "query A { hello }", "operationName": "B"}),
        400,
        GQL,
        "OPERATION_RESOLUTION_FAILURE",
    ),
    (
        "variable coercion",
        post({"query": "query ($n: String!) { hello(name: $n) }", "variables": {"n": 3}}),
        400,
        GQL,
        "BAD_USER_INPUT",
    ),
    (
        "missing variable",
        post({"query": "query ($n: String!) { hello(name: $n) }"}),
        400,
        GQL,
        "BAD_USER_INPUT",
    ),
    (
        "missing variable, legacy",
        post({"query": "query ($n: String!) { hello(name: $n) }"}, accept=JSON),
        200,
        JSON,
        "BAD_USER_INPUT",
    ),
    (
        "subscription",
        post({"query": "subscription { hello }"}),
        400,
        GQL,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    ("field error", post({"query": "{ hello broken }"}), 200, GQL, "SHELF_EMPTY"),
    ("unexpected error", post({"query": "{ crash }"}), 200, GQL, "INTERNAL_ERROR"),
    ("error with its own code", post({"query": "{ guarded }"}), 200, GQL, "FORBIDDEN"),
    ("null where none may be", post({"query": "{ neverNull }"}), 200, GQL, "INTERNAL_ERROR"),
    ("mutation over POST", post({"query": "mutation { bump }"}), 200, GQL, None),
    ("bad token", post(HELLO, authorization="Bearer bad"), 401, GQL, "UNAUTHENTICATED"),
    (
        "bad token, legacy",
        post(HELLO, accept=JSON, authorization="Bearer bad"),
        401,
        JSON,
        "UNAUTHENTICATED",
    ),
    (
        "node not initialised",
        post(HELLO, authorization="Bearer uninitialised"),
        503,
        GQL,
        "NOT_INITIALISED",
    ),
    ("context crashes", post(HELLO, authorization="Bearer crash"), 500, GQL, "INTERNAL_ERROR"),
    ("good token", post(HELLO, authorization="Bearer good"), 200, GQL, None),
    ("too deep", post({"query": DEEP}), 400, GQL, "QUERY_TOO_DEEP"),
    ("too deep through fragments", post({"query": DEEP_BY_FRAGMENTS}), 400, GQL, "QUERY_TOO_DEEP"),
    ("deep enough", post({"query": "{ node { child { child { level } } } }"}), 200, GQL, None),
    (
        "too many aliases",
        post({"query": "{ a: hello b: hello c: hello d: hello }"}),
        400,
        GQL,
        "TOO_MANY_ALIASES",
    ),
    ("aliases within limit", post({"query": "{ a: hello b: hello c: hello }"}), 200, GQL, None),
    ("too many tokens", post({"query": "{ " + "hello " * 60 + "}"}), 400, GQL, "TOO_MANY_TOKENS"),
    ("too many comments", post({"query": "{ hello }\n" + "#\n" * 60}), 400, GQL, "TOO_MANY_TOKENS"),
    (
        "too many tokens, legacy",
        post({"query": "{ " + "hello " * 60 + "}"}, accept=JSON),
        200,
        JSON,
        "TOO_MANY_TOKENS",
    ),
    (
        "introspection allowed",
        post({"query": "{ __schema { queryType { name } } }"}),
        200,
        GQL,
        None,
    ),
    ("get", get(query="{ hello }"), 200, GQL, None),
    ("get, legacy", get(query="{ hello }", accept=JSON), 200, JSON, None),
    (
        "get with variables",
        get(query="query ($n: String!) { hello(name: $n) }", variables='{"n": "x"}'),
        200,
        GQL,
        None,
    ),
    ("get, malformed variables", get(query="{ hello }", variables="{"), 400, GQL, "BAD_REQUEST"),
    ("get, list variables", get(query="{ hello }", variables="[1]"), 400, GQL, "BAD_REQUEST"),
    ("get, no query", get(), 400, GQL, "BAD_REQUEST"),
    ("get, empty operationName", get(query="{ hello }", operationName=""), 200, GQL, None),
    ("get mutation", get(query="mutation { bump }"), 405, GQL, "METHOD_NOT_ALLOWED"),
    (
        "get mutation, legacy",
        get(query="mutation { bump }", accept=JSON),
        405,
        JSON,
        "METHOD_NOT_ALLOWED",
    ),
    (
        "get mutation by name",
        get(query="query Q { hello } mutation M { bump }", operationName="M"),
        405,
        GQL,
        "METHOD_NOT_ALLOWED",
    ),
    (
        "get query by name",
        get(query="query Q { hello } mutation M { bump }", operationName="Q"),
        200,
        GQL,
        None,
    ),
    ("get, browser with a query", get(query="{ hello }", accept=BROWSER), 200, GQL, None),
    ("get, curl without a query", get(accept="*/*"), 400, GQL, "BAD_REQUEST"),
]
LIMITS = GraphQLLimits(max_depth=4, max_aliases=3, max_tokens=50)


@pytest.mark.parametrize(
    ("request_args", "status", "media_type", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_request_table(
    recorder: Recorder,
    request_args: dict[str, Any],
    status: int,
    media_type: str,
    code: str | None,
) -> None:
    async for client in client_for(make_app(recorder, LIMITS)):
        response = await client.request(url="/graphql", **request_args)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    body = response.json()
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert (codes[0] if codes else None) == code
    if status != 200:
        assert "data" not in body, "a refused request has no data entry"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert recorder.outcomes[-1][1].status_code == status
    assert recorder.outcomes[-1][1].error_codes == tuple(codes)


async def test_repeated_get_parameter_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql?query={hello}&query={caller}")
    assert response.status_code == 400
    assert "more than once" in response.json()["errors"][0]["message"]


async def test_head_is_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/graphql", params={"query": "{ hello }"})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GQL}; charset=utf-8"


async def test_the_endpoint_answers_a_request_object_too(recorder: Recorder) -> None:
    [route] = make_app(recorder).routes
    assert isinstance(route, Route)
    endpoint = route.endpoint
    assert isinstance(endpoint, GraphQLHTTP)
    body = json.dumps(HELLO).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [(b"content-type", JSON.encode())],
    }
    response = await endpoint(Request(scope, receive))
    assert response.status_code == 200
    assert json.loads(bytes(response.body)) == {"data": {"hello": "hello world"}}


async def test_get_mutation_says_allow_post(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { bump }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_bad_token_is_challenged_and_told_nothing_more(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.post("/graphql", json=HELLO, headers={"authorization": "Bearer bad"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {
        "errors": [
            {
                "message": "The bearer token is invalid or has expired.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
    context, outcome = recorder.outcomes[-1]
    assert context is None
    assert outcome.error_codes == ("UNAUTHENTICATED",)
    assert recorder.closed_in == [], "no context was made, so none is closed"


async def test_body_over_the_limit_is_refused_by_declared_length(recorder: Recorder) -> None:
    async for client in client_for(make_app(recorder, GraphQLLimits(max_body_bytes=64))):
        body = json.dumps({"query": "{ hello }", "padding": "x" * 100})
        response = await client.post("/graphql", content=body, headers={"content-type": JSON})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_body_over_the_limit_is_refused_when_streamed(recorder: Recorder) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ hello }", "padding": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'"}'

    async for client in client_for(make_app(recorder, GraphQLLimits(max_body_bytes=64))):
        response = await client.post("/graphql", content=chunks(), headers={"content-type": JSON})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_body_at_the_limit_is_served(recorder: Recorder) -> None:
    body = json.dumps({"query": "{ hello }"}).encode()
    limits = GraphQLLimits(max_body_bytes=len(body))
    async for client in client_for(make_app(recorder, limits)):
        response = await client.post("/graphql", content=body, headers={"content-type": JSON})
    assert response.status_code == 200


async def test_response_shape_with_partial_data(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello\n  broken }"})
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "the shelf is empty",
                "locations": [{"line": 2, "column": 3}],
                "path": ["broken"],
                "extensions": {"code": "SHELF_EMPTY"},
            }
        ],
        "data": {"hello": "hello world", "broken": None},
    }


async def test_request_error_has_no_data_and_keeps_locations(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello\n  nope }"})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["errors"]
    [error] = body["errors"]
    assert "nope" in error["message"]
    assert error["locations"] == [{"line": 2, "column": 3}]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_unexpected_errors_are_masked_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="service.http_errors"):
        response = await client.post("/graphql", json={"query": "{ hello crash }"})
    assert response.status_code == 200
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert response.json()["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 9}],
            "path": ["crash"],
            "extensions": {"code": "INTERNAL_ERROR"},
        }
    ]
    assert response.json()["data"] == {"hello": "hello world", "crash": None}
    logged = [r for r in caplog.records if r.name == "service.http_errors"]
    assert logged and logged[0].exc_info is not None
    assert SECRET in str(logged[0].exc_info[1])


async def test_variables_and_operation_name_select_what_runs(client: httpx.AsyncClient) -> None:
    document = "query A($n: String!) { hello(name: $n) } query B { caller }"
    response = await client.post(
        "/graphql", json={"query": document, "operationName": "A", "variables": {"n": "you"}}
    )
    assert response.json() == {"data": {"hello": "hello you"}}
    response = await client.post(
        "/graphql",
        json={"query": document, "operationName": "B"},
        headers={"authorization": "Bearer good"},
    )
    assert response.json() == {"data": {"caller": "alice"}}


async def test_async_resolvers_run_in_the_loop(recorder: Recorder) -> None:
    async for client in client_for(make_app(recorder)):
        response = await client.post("/graphql", json={"query": "{ later thread hello }"})
    assert response.json() == {
        "data": {
            "later": "later",
            "thread": threading.current_thread().name,
            "hello": "hello world",
        }
    }
    assert recorder.closed_in == [threading.current_thread().name]


async def test_thread_mode_runs_sync_database_work_off_the_loop(
    recorder: Recorder, node_engine: Engine
) -> None:
    app = make_app(recorder, execute_in_thread=True, engine=node_engine)
    async for client in client_for(app):
        response = await client.post("/graphql", json={"query": "{ thread datasetCount }"})
    data = response.json()["data"]
    assert data["datasetCount"] == 0
    assert data["thread"] != threading.current_thread().name
    assert recorder.closed_in == [data["thread"]], "closed in the thread that executed"


async def test_thread_mode_closes_contexts_of_refused_documents(recorder: Recorder) -> None:
    async for client in client_for(make_app(recorder, execute_in_thread=True)):
        response = await client.post("/graphql", json={"query": "{ nope }"})
    assert response.status_code == 400
    assert len(recorder.closed_in) == 1


async def test_after_request_sees_the_outcome(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    document = "query Shelf { hello broken }"
    await client.post(
        "/graphql", json={"query": document}, headers={"authorization": "Bearer good"}
    )
    await client.post("/graphql", json={"query": "mutation { bump }"})
    await client.post("/graphql", content=b"{", headers={"content-type": JSON})
    await client.post("/graphql", json={"query": "{ nope }"})

    (context, shelf), (_, bump), (unparsed_context, unparsed), (_, invalid) = recorder.outcomes
    assert context is not None and context.caller == "alice"
    assert shelf == GraphQLOutcome("query", "Shelf", document, 200, ("SHELF_EMPTY",))
    assert bump == GraphQLOutcome("mutation", None, "mutation { bump }", 200, ())
    assert unparsed_context is None
    assert unparsed == GraphQLOutcome(None, None, None, 400, ("BAD_REQUEST",))
    assert invalid.operation_type == "query"
    assert invalid.document == "{ nope }"
    assert invalid.error_codes == ("GRAPHQL_VALIDATION_FAILED",)


async def test_a_failing_after_request_withholds_the_answer(recorder: Recorder) -> None:
    recorder.fail_after = True
    async for client in client_for(make_app(recorder)):
        response = await client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 500
    assert "hello world" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"


async def test_introspection_off_refuses_schema_but_not_typename(recorder: Recorder) -> None:
    async for client in client_for(make_app(recorder, GraphQLLimits(introspection=False))):
        refused = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        by_type = await client.post(
            "/graphql", json={"query": '{ __type(name: "Query") { name } }'}
        )
        typename = await client.post("/graphql", json={"query": "{ __typename }"})
        hinted = await client.post("/graphql", json={"query": "{ hell }"})
    assert refused.status_code == by_type.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert typename.json() == {"data": {"__typename": "Query"}}
    assert "Did you mean" not in hinted.text, "suggestions would reveal the schema"


async def test_graphiql_introspection_is_not_cut_by_the_depth_limit(
    client: httpx.AsyncClient,
) -> None:
    from graphql import get_introspection_query

    response = await client.post("/graphql", json={"query": get_introspection_query()})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_is_served_to_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": BROWSER})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize(("accept", "status"), [(BROWSER, 400), ("text/html", 406)])
async def test_graphiql_off(recorder: Recorder, accept: str, status: int) -> None:
    async for client in client_for(make_app(recorder, GraphQLLimits(graphiql=False))):
        response = await client.get("/graphql", headers={"accept": accept})
    assert response.status_code == status
    assert "graphiql" not in response.text.lower()


def test_limits_come_from_settings() -> None:
    settings = Settings(
        max_query_depth=3,
        max_aliases=4,
        max_tokens=5,
        max_body_bytes=6,
        introspection=False,
        graphiql=False,
    )
    assert GraphQLLimits.from_settings(settings) == GraphQLLimits(3, 4, 5, 6, False, False)
    assert GraphQLLimits.from_settings(Settings()) == GraphQLLimits()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no dataset 7"), 404),
        (BadRequest("bad cursor"), 400),
        (TokenInvalid("expired"), 401),
        (ConfigError("no key"), 503),
        (NotInitialised("run lnob node init"), 503),
        (ShelfEmpty("empty"), 500),
        (LnobError("boom"), 500),
    ],
)
def test_status_for(error: LnobError, status: int) -> None:
    assert status_for(error) == status


def test_error_response_for_downloads() -> None:
    response = error_response(NotFound("no dataset 7"), 404, JSON)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(bytes(response.body)) == {
        "errors": [{"message": "no dataset 7", "extensions": {"code": "NOT_FOUND"}}]
    }
    internal = error_response(LnobError("connection string postgres://x"), 500, JSON)
    assert b"postgres" not in internal.body
    challenged = error_response(TokenInvalid("kid-42 expired"), 401, JSON)
    assert challenged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert b"kid-42" not in challenged.body
