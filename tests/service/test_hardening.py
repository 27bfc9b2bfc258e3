"""A node and a coordinator as a hostile or a browser client meets them: rate limits, security
headers, CORS, the production switches, and filters that carry injection attempts."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette

from auth.levels import Level
from service import migrate
from service.coordinator_app import create_coordinator_app
from service.db import make_engine
from service.hardening import RATE_LIMITED, TokenBuckets, harden, html_csp
from service.node.identity import init_node
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from tests.node.conftest import NodeUnderTest, sex_table

GQL = "application/graphql-response+json"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DASHBOARD = "https://dashboard.example.org"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
OBSERVATIONS = """query($filter: ObservationFilter) {
  observations(filter: $filter, first: 1000) { totalCount edges { node { dataset value } } } }"""
COVERAGE = "query($filter: ObservationFilter) { coverage(filter: $filter) { dataset cellCount } }"


@pytest.fixture
def node(node_engine: Engine, database_url: str, tmp_path: Path) -> NodeUnderTest:
    """A node with a public survey (BGD, 2022) and a dataset only its owner may know of."""
    settings = load_settings(database_url=database_url, key_file=tmp_path / "node-key.pem")
    init_node(node_engine, settings, name="Test node", organisation="Test ICSO", node_id="test")
    test_node = NodeUnderTest(settings=settings, engine=node_engine, folder=tmp_path)
    rows = sex_table(female=(30, 30), male=(40, 40), total=(70, 70))
    test_node.load("public-survey", rows)
    test_node.load("owner-only", rows, release=Level.OWNER)
    return test_node


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client calling from 127.0.0.2."""
    async with app.router.lifespan_context(app), client_of(app, "127.0.0.2") as http:
        yield http


def client_of(app: Starlette, address: str) -> httpx.AsyncClient:
    """Another client of a running app, calling from `address` (no traffic leaves the process)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://node")


def node_app(node: NodeUnderTest, **overrides: Any) -> Starlette:
    settings = node.settings.model_copy(update=overrides)
    return create_node_app(settings, engine=node.engine)


async def graphql(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> httpx.Response:
    return await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"accept": GQL, **(headers or {})},
    )


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers


# --- rate limit -------------------------------------------------------------------------------


async def test_a_client_over_its_limit_waits_while_others_are_served(node: NodeUnderTest) -> None:
    app = node_app(node, rate_limit_per_minute=60, rate_limit_burst=3)
    query = "{ observations(first: 1) { totalCount } }"
    async with serving(app) as eager, client_of(app, "127.0.0.3") as calm:
        for _ in range(3):
            assert (await graphql(eager, query)).status_code == 200
        refused = await graphql(eager, query)
        served = await graphql(calm, query)
        with_token = await graphql(eager, query, {"authorization": "Bearer some-client"})
        probes = [await eager.get(path) for path in ("/healthz", "/readyz", "/metrics")]

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["errors"][0]["extensions"]["code"] == RATE_LIMITED
    assert "data" not in refused.json()
    assert_hardened(refused)
    assert served.status_code == 200
    assert served.json()["data"]["observations"]["totalCount"] == 3
    # A caller with a token is that token, wherever it calls from.
    assert with_token.status_code == 200
    assert [probe.status_code for probe in probes] == [200, 200, 200]


async def test_bearer_tokens_are_limited_separately_and_never_kept(node: NodeUnderTest) -> None:
    app = node_app(node, rate_limit_per_minute=60, rate_limit_burst=1)
    query = "{ __typename }"
    async with serving(app) as http:
        first = [await graphql(http, query, {"authorization": f"Bearer token-{i}"}) for i in (1, 2)]
        again = await graphql(http, query, {"authorization": "Bearer token-1"})
    assert [r.status_code for r in first] == [200, 200]
    assert again.status_code == 429


def test_buckets_refill_at_the_configured_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=30, burst=2, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(2.0)  # one token every two seconds
    now[0] = 1.0
    assert buckets.take("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert buckets.take("a") == 0.0
    now[0] = 1000.0  # a long pause refills to the burst, never beyond it
    assert [buckets.take("a") for _ in range(3)][-1] > 0


def test_buckets_forget_the_least_recent_client_past_their_bound() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1, clock=lambda: 0.0, max_clients=2)
    buckets.take("a")
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten, so it starts afresh
    assert buckets.take("a") == 0.0
    assert buckets.take("c") > 0


async def test_rate_limit_zero_means_no_limit(node: NodeUnderTest) -> None:
    app = node_app(node, rate_limit_per_minute=0, rate_limit_burst=1)
    async with serving(app) as http:
        statuses = {(await graphql(http, "{ __typename }")).status_code for _ in range(5)}
    assert statuses == {200}


# --- security headers -------------------------------------------------------------------------


async def test_security_headers_on_graphql_download_and_error_answers(node: NodeUnderTest) -> None:
    async with serving(node_app(node)) as http:
        answers = {
            "graphql": await graphql(http, "{ observations(first: 1) { totalCount } }"),
            "download": await http.get("/download/observations.csv"),
            "sdmx": await http.get("/download/observations.sdmx.csv"),
            "bad download": await http.get("/download/observations.csv?periodFrom=soon"),
            "bad document": await graphql(http, "{ observations("),
            "bad media type": await http.post("/graphql", content=b"{}"),
            "not found": await http.get("/nothing-here"),
            "health": await http.get("/healthz"),
        }
    expected = {
        "graphql": 200, "download": 200, "sdmx": 200, "bad download": 400,
        "bad document": 400, "bad media type": 415, "not found": 404, "health": 200,
    }  # fmt: skip
    assert {name: r.status_code for name, r in answers.items()} == expected
    for response in answers.values():
        assert_hardened(response)
        assert "default-src 'none'" in response.headers["content-security-policy"]
    # The answers are still signed: the headers are added outside what the signature covers.
    assert "signature" in answers["graphql"].headers


async def test_graphiql_page_policy_admits_exactly_its_inline_script(node: NodeUnderTest) -> None:
    async with serving(node_app(node)) as http:
        page = await http.get("/graphql", headers={"accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_hardened(page)
    policy = page.headers["content-security-policy"]
    assert policy == html_csp(page.text)
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert scripts, "the GraphiQL page has an inline script to admit"
    assert policy.count("'sha256-") == len(scripts)
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "'unsafe-eval'" not in policy
    # Every external asset the page loads comes from the one host the policy names.
    assets = re.findall(r'(?:src|href)="(https?://[^"]+)"', page.text)
    assert assets and all(url.startswith("https://unpkg.com/") for url in assets)
    assert "connect-src 'self'" in policy


async def test_hsts_only_when_configured(node: NodeUnderTest) -> None:
    async with serving(node_app(node, hsts_seconds=31_536_000)) as http:
        response = await http.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


# --- CORS -------------------------------------------------------------------------------------


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_cors_is_off_by_default(node: NodeUnderTest) -> None:
    async with serving(node_app(node)) as http:
        simple = await graphql(http, "{ __typename }", {"origin": DASHBOARD})
        pre = await http.options("/graphql", headers=preflight(DASHBOARD))
    assert simple.status_code == 200
    for response in (simple, pre):
        assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_cors_for_a_configured_origin_only(node: NodeUnderTest) -> None:
    app = node_app(node, cors_origins=[DASHBOARD])
    async with serving(app) as http:
        pre = await http.options("/graphql", headers=preflight(DASHBOARD))
        simple = await graphql(http, "{ __typename }", {"origin": DASHBOARD})
        download = await http.get("/download/observations.csv", headers={"origin": DASHBOARD})
        refused_pre = await http.options("/graphql", headers=preflight("https://evil.example"))
        refused = await graphql(http, "{ __typename }", {"origin": "https://evil.example"})

    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == DASHBOARD
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers
    assert_hardened(pre)
    for response in (simple, download):
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == DASHBOARD
        assert "retry-after" in response.headers["access-control-expose-headers"].lower()
    assert refused_pre.status_code == 400
    assert refused.status_code == 200  # answered, but the browser will not hand it to the page
    for response in (refused_pre, refused):
        assert "access-control-allow-origin" not in response.headers


def test_cors_origins_must_be_origins() -> None:
    from service.errors import ConfigError

    settings = load_settings(cors_origins=f"{DASHBOARD}, http://localhost:3000")
    assert settings.cors_origins == [DASHBOARD, "http://localhost:3000"]
    for bad in ("https://dashboard.example.org/app", "dashboard.example.org", "ftp://x.org"):
        with pytest.raises(ConfigError, match="LNOB_CORS_ORIGINS"):
            load_settings(cors_origins=bad)


# --- production switches ----------------------------------------------------------------------


async def test_introspection_off_refuses_schema_but_serves_queries(node: NodeUnderTest) -> None:
    async with serving(node_app(node, introspection=False)) as http:
        schema = await graphql(http, "{ __schema { types { name } } }")
        one_type = await graphql(http, '{ __type(name: "Query") { name } }')
        served = await graphql(http, "{ __typename observations(first: 5) { totalCount } }")
    for refused in (schema, one_type):
        assert refused.status_code == 400
        codes = {e["extensions"]["code"] for e in refused.json()["errors"]}
        assert codes == {"INTROSPECTION_DISABLED"}
        assert "data" not in refused.json()
    assert served.status_code == 200
    assert served.json()["data"]["observations"]["totalCount"] == 3


async def test_introspection_on_by_default(node: NodeUnderTest) -> None:
    async with serving(node_app(node)) as http:
        response = await graphql(http, "{ __schema { queryType { name } } }")
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "text/html"])
async def test_graphiql_off_serves_browsers_no_page(node: NodeUnderTest, accept: str) -> None:
    async with serving(node_app(node, graphiql=False)) as http:
        response = await http.get("/graphql", headers={"accept": accept})
        query = await http.get(
            "/graphql", params={"query": "{ __typename }"}, headers={"accept": GQL}
        )
    assert response.status_code in (400, 406)
    assert not response.headers["content-type"].startswith("text/html")
    assert "graphiql" not in response.text.lower()
    assert_hardened(response)
    assert query.status_code == 200


# --- injection through filters ----------------------------------------------------------------
# Each test takes one argument through every payload on one node, so the whole matrix stays fast.

LIST_FILTERS = (
    "datasets", "goals", "targets", "indicators", "series", "refAreas", "subAreas", "sex", "age",
    "disabilityStatus", "urbanisation", "incomeWealthQuantile", "groups", "units",
)  # fmt: skip
PERIOD_FILTERS = ("periodFrom", "periodTo")
PAYLOADS = {
    "quote": "BGD' OR '1'='1",
    "comment": "BGD'--",
    "union": "x' UNION SELECT slug, title FROM dataset --",
    "stacked": "3.8.1'; DROP TABLE observation; --",
    "double quote": '" OR ""="',
    "backslash": "BGD\\' OR 1=1 #",
    "like any": "%",
    "like one": "_",
    "like prefix": "3.%",
    "like pattern": "BG_",
    "escaped like": "3\\.8%",
    "greek beta": "\u0392GD",
    "emoji": "\U0001f3f3\ufe0f\u200d\U0001f308",
    "right-to-left": "\u202eDGB",
    "superscript two": "\u00b2",
    "long": "B" * 20_000,
}
PERIOD_PAYLOADS = {
    **PAYLOADS,
    "or": "2022 OR 1=1",
    "negative": "-1",
    "exponent": "1e9",
    "huge": "9" * 400,
}
SQL_LEAKS = (
    "select ",
    " from ",
    "sql",
    "psycopg",
    "operationalerror",
    'near "',
    "relation ",
    "traceback",
)


# The caller's own document may be quoted back (a syntax error, a code that is not a code);
# nothing about the database may be.
CALLER_ERRORS = (
    "BAD_REQUEST",
    "BAD_USER_INPUT",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
)


def leaks(response: httpx.Response, payload: str, *, rows_allowed: int = 0) -> list[str]:
    """What is wrong with an answer to `payload`: a status, an error code or message that gives
    the database away, rows beyond `rows_allowed`. Empty when the answer is sound."""
    if response.status_code not in (200, 400):
        return [f"status {response.status_code}"]
    problems = []
    if response.headers["content-type"].startswith("text/csv"):
        rows = list(csv.reader(io.StringIO(response.text)))[1:]  # after the header
        if len(rows) > rows_allowed:
            problems.append(f"{len(rows)} rows")
    else:
        body = response.json()
        for error in body.get("errors", []):
            if error["extensions"]["code"] not in CALLER_ERRORS:
                problems.append(f"code {error['extensions']['code']}")
            message = error["message"].lower()
            if any(word in message and word not in payload.lower() for word in SQL_LEAKS):
                problems.append(f"message {error['message'][:200]!r}")
        data = body.get("data") or {}
        if (data.get("observations") or {}).get("totalCount", 0) > rows_allowed:
            problems.append(f"{data['observations']['totalCount']} observations")
        if len(data.get("coverage") or []) > (1 if rows_allowed else 0):
            problems.append(f"{len(data['coverage'])} coverage cells")
    if "owner-only" in response.text:
        problems.append("the owner-only dataset")
    return problems


async def graphql_answers(http: httpx.AsyncClient, argument: str, payload: object) -> list[Any]:
    return [
        await graphql(http, OBSERVATIONS, filter={argument: payload}),
        await graphql(http, COVERAGE, filter={argument: payload}),
        # Beside a code that matches, the payload must not widen the answer either.
        await graphql(http, OBSERVATIONS, filter={argument: payload, "refAreas": ["NONE"]}),
    ]


@pytest.mark.parametrize("argument", LIST_FILTERS)
async def test_injection_in_graphql_filters_finds_nothing(
    node: NodeUnderTest, argument: str
) -> None:
    found: dict[str, list[str]] = {}
    async with serving(node_app(node, rate_limit_per_minute=0)) as http:
        baseline = await graphql(http, OBSERVATIONS)
        for name, payload in PAYLOADS.items():
            for response in await graphql_answers(http, argument, [payload]):
                if problems := leaks(response, payload):
                    found[name] = problems
    assert baseline.json()["data"]["observations"]["totalCount"] == 3
    assert not found, f"{argument}: {found}"


@pytest.mark.parametrize("argument", PERIOD_FILTERS)
async def test_injection_in_period_filters_finds_nothing(
    node: NodeUnderTest, argument: str
) -> None:
    found: dict[str, list[str]] = {}
    async with serving(node_app(node, rate_limit_per_minute=0)) as http:
        for name, payload in PERIOD_PAYLOADS.items():
            literal = f"{{ observations(filter: {{{argument}: {payload}}}) {{ totalCount }} }}"
            answers = [
                *await graphql_answers(http, argument, payload),
                await graphql(http, literal),
            ]
            for response in answers:
                # A year outside the data's range is a fair question: it may match every row.
                if problems := leaks(response, payload, rows_allowed=3):
                    found[name] = problems
    assert not found, f"{argument}: {found}"


DOWNLOAD_PARAMS = (
    "goals", "targets", "datasets", "indicators", "series", "refAreas", "ref_areas", "subAreas",
    "sex", "age", "disabilityStatus", "urbanisation", "incomeWealthQuantile", "groups", "units",
    "breakdowns", "periodFrom", "periodTo",
)  # fmt: skip


@pytest.mark.parametrize("parameter", DOWNLOAD_PARAMS)
async def test_injection_in_download_parameters_finds_nothing(
    node: NodeUnderTest, parameter: str
) -> None:
    found: dict[str, list[str]] = {}
    async with serving(node_app(node, rate_limit_per_minute=0)) as http:
        for name, payload in PERIOD_PAYLOADS.items():
            if name in NOT_YEARS and parameter.startswith("period"):
                continue  # test_a_period_that_is_no_year_is_a_bad_request
            for path in ("/download/observations.csv", "/download/observations.sdmx.csv"):
                response = await http.get(path, params={parameter: payload})
                rows_allowed = 3 if parameter.startswith("period") else 0
                if problems := leaks(response, payload, rows_allowed=rows_allowed):
                    found[f"{name} {path}"] = problems
    assert not found, f"{parameter}: {found}"


NOT_YEARS = {"superscript two": "\u00b2", "huge": "9" * 400}


@pytest.mark.parametrize("payload", NOT_YEARS.values(), ids=NOT_YEARS.keys())
async def test_a_period_that_is_no_year_is_a_bad_request(node: NodeUnderTest, payload: str) -> None:
    async with serving(node_app(node)) as http:
        response = await http.get("/download/observations.csv", params={"periodFrom": payload})
    assert response.status_code == 400


@pytest.mark.parametrize("parameter", ["goals", "targets"])
async def test_a_goal_that_is_no_code_is_a_bad_request(node: NodeUnderTest, parameter: str) -> None:
    async with serving(node_app(node)) as http:
        response = await http.get("/download/observations.csv", params={parameter: "3' OR 1=1"})
    assert response.status_code == 400


# --- the coordinator --------------------------------------------------------------------------


@pytest.fixture
def coordinator_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "coordinator")
    yield engine
    engine.dispose()


def coordinator_app(engine: Engine, settings: Settings) -> Starlette:
    app = create_coordinator_app(settings, engine=engine)
    harden(app, settings)  # as `create_coordinator_app` does once it is wired there
    harden(app, settings)  # a second call changes nothing
    return app


async def test_coordinator_is_hardened_the_same_way(coordinator_engine: Engine) -> None:
    settings = load_settings(rate_limit_burst=2, cors_origins=[DASHBOARD])
    query = "{ stocktake { entries { organisation } } }"
    app = coordinator_app(coordinator_engine, settings)
    async with serving(app) as http, client_of(app, "127.0.0.3") as other:
        answers = [await graphql(http, query, {"origin": DASHBOARD}) for _ in range(3)]
        health = await http.get("/healthz")
        download = await other.get("/download/stocktake.csv", headers={"origin": "https://x.test"})
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    for response in [*answers, health]:
        assert_hardened(response)
    for response in answers:  # a browser page can read its 429 and when to retry
        assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert health.status_code == 200
    assert download.status_code == 200
    assert "access-control-allow-origin" not in download.headers
