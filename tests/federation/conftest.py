"""Federation fixtures: real node servers on loopback ports, stand-ins for nodes that misbehave,
and a coordinator database migrated by Alembic on the backend under test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.caller import ANONYMOUS, Caller
from auth.keys import SigningKey
from auth.levels import Level
from auth.signatures import sign_response
from federation import registry
from federation.fanout import Federation
from federation.registry import NodeIdentity, RegisteredNode
from federation.stocktake import OrganisationSummary, StocktakeEntry
from federation.transport import HttpTransport, ResponseVerifier
from federation.trust import RegistryVerifier
from service import migrate
from service.coordinator_app import create_coordinator_app
from service.db import make_engine, make_session_factory
from service.federation_demo import PreparedNode, prepare_node
from service.node.demo import DEMO_ORGANISATIONS
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from service.signing import SignResponses

OWNER_TOKEN = "Bearer owner-of-everything"  # a test token, not a secret


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    query_string: str = ""

    @property
    def document(self) -> str:
        """The GraphQL document asked: from a POST's JSON body or a GET's query string."""
        if self.method == "GET":
            return urllib.parse.parse_qs(self.query_string).get("query", [""])[0]
        try:
            return str(json.loads(self.body).get("query", ""))
        except ValueError:
            return ""


@dataclass
class Recorder:
    """Wraps an ASGI app and keeps what each HTTP request carried (headers, body)."""

    app: ASGIApp
    requests: list[RecordedRequest] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append(
            RecordedRequest(
                scope["path"], headers, body, scope["method"], scope["query_string"].decode()
            )
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TokenCallers:
    """A node's caller resolver for tests: one bearer token means the owner, none means public."""

    async def resolve(self, request: HTTPConnection) -> Caller:
        if request.headers.get("authorization") == OWNER_TOKEN:
            return Caller(identity="test-owner", level=Level.OWNER, reason="test token")
        return ANONYMOUS


@dataclass
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: ASGIApp, port: int = 0) -> Server:
    """Run `app` with uvicorn on a loopback port (a free one by default) in a thread; return
    once it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return Server(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


def graphql_data(
    url: str,
    document: str,
    variables: dict[str, Any] | None = None,
    authorization: str | None = None,
    *,
    timeout: float,
) -> dict[str, Any]:
    """The `data` of the answer of the server at `url` (`/graphql`); no errors allowed."""
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(
        f"{url}/graphql",
        json={"query": document, "variables": variables or {}},
        headers=headers,
        timeout=timeout,
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def unused_port_url() -> str:
    """A loopback URL with nothing listening (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class RunningNode:
    prepared: PreparedNode
    settings: Settings
    server: Server
    recorder: Recorder

    @property
    def node_id(self) -> str:
        return self.prepared.organisation.node_id

    @property
    def url(self) -> str:
        return self.server.url

    def ask(self, document: str, variables: dict[str, Any] | None = None,
            authorization: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Ask this node directly, as a government partner could."""
        return graphql_data(self.url, document, variables, authorization, timeout=10)

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL this node's database runs within the block."""
        ran: list[str] = []
        database = make_url(self.settings.database_url).database

        def record(conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
            if conn.engine.url.database == database:
                ran.append(statement)

        event.listen(Engine, "before_cursor_execute", record)
        try:
            yield ran
        finally:
            event.remove(Engine, "before_cursor_execute", record)


def start_node(org_index: int, folder: Path) -> RunningNode:
    prepared = prepare_node(DEMO_ORGANISATIONS[org_index], folder)
    settings = load_settings(
        database_url=prepared.env["LNOB_DATABASE_URL"], key_file=prepared.env["LNOB_KEY_FILE"]
    )
    recorder = Recorder(create_node_app(settings, callers=TokenCallers()))
    return RunningNode(prepared, settings, serve(recorder), recorder)


@pytest.fixture(scope="session")
def demo_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningNode]]:
    """Two demo ICSO nodes (Riverbend and Lantern), real servers, shared by the session."""
    folder = tmp_path_factory.mktemp("nodes")
    nodes = [start_node(0, folder), start_node(2, folder)]
    yield nodes
    for node in nodes:
        node.server.stop()


@pytest.fixture
def own_node(tmp_path: Path) -> Iterator[RunningNode]:
    """A demo node of its own, for a test that changes its data."""
    node = start_node(2, tmp_path)
    yield node
    node.server.stop()


# --- stand-ins for nodes that misbehave -----------------------------------------------------
# Each stand-in signs its answers with its own key, as a node does, so that what they show is
# the misbehaviour itself (slow, garbage, an error), not a missing signature.


@dataclass(frozen=True, slots=True)
class StandInIdentity(NodeIdentity):
    """A stand-in node's identity, with the private key it signs its answers with."""

    key: SigningKey = field(default_factory=lambda: SigningKey(Ed25519PrivateKey.generate()))


def standin_identity(node_id: str) -> StandInIdentity:
    key = SigningKey(Ed25519PrivateKey.generate())
    return StandInIdentity(
        node_id=node_id,
        name=f"Stand-in {node_id}",
        organisation=f"Org {node_id}",
        schema_version="1.0",
        data_version="v1",
        public_key=key.public_jwk(),
        key_id=key.key_id,
        key=key,
    )


def standin_data(identity: NodeIdentity, *, schema_version: str = "1.0") -> dict[str, Any]:
    """A well-formed answer to the identity, data-version and coverage queries at once."""
    return {
        "node": {
            "id": identity.node_id, "name": identity.name,
            "organisation": identity.organisation, "schemaVersion": schema_version,
            "dataVersion": identity.data_version, "publicKey": identity.public_key,
            "keyId": identity.key_id,
        },
        "coverage": [
            {"dataset": "standin", "organisation": identity.organisation, "indicator": "1.1.1",
             "refArea": "KEN", "subArea": "", "group": "_T", "breakdown": ["SEX"],
             "cellCount": 3, "firstYear": 2020, "latestYear": 2022, "valuesVisible": True},
        ],
    }  # fmt: skip


def standin_app(
    behaviour: Callable[[Request], Any], signed_by: StandInIdentity | None = None
) -> ASGIApp:
    """A node stand-in answering every GraphQL request with `behaviour`; its answers are
    signed with `signed_by`'s key (unsigned without one)."""

    async def graphql(request: Request) -> Response:
        await request.body()
        result = behaviour(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, Response)
        return result

    app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
    if signed_by is None:
        return app
    key = signed_by.key
    return SignResponses(app, key_provider=lambda: key)


@dataclass
class StandIns:
    slow: Server
    garbage: Server
    graphql_error: Server
    other_schema: Server
    identities: dict[str, StandInIdentity]

    def all(self) -> list[Server]:
        return [self.slow, self.garbage, self.graphql_error, self.other_schema]


SLOW_SECONDS = 4.0


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    """Four nodes that misbehave: too slow, not JSON, a GraphQL error, another schema."""
    ids = {name: standin_identity(name) for name in ("slow", "garbage", "broken", "future")}

    async def slow(request: Request) -> Response:
        await asyncio.sleep(SLOW_SECONDS)
        return JSONResponse({"data": standin_data(ids["slow"])})

    def garbage(request: Request) -> Response:
        return Response("<html>502 Bad Gateway</html>", status_code=200, media_type="text/html")

    def broken(request: Request) -> Response:
        return JSONResponse(
            {"data": None, "errors": [{"message": "database is locked",
                                       "extensions": {"code": "INTERNAL_ERROR"}}]}
        )  # fmt: skip

    def future(request: Request) -> Response:
        return JSONResponse({"data": standin_data(ids["future"], schema_version="2.0")})

    servers = StandIns(
        slow=serve(standin_app(slow, ids["slow"])),
        garbage=serve(standin_app(garbage, ids["garbage"])),
        graphql_error=serve(standin_app(broken, ids["broken"])),
        other_schema=serve(standin_app(future, ids["future"])),
        identities=ids,
    )
    yield servers
    for server in servers.all():
        server.stop()


class FlakyHandler(socketserver.BaseRequestHandler):
    """Drops the first `drops` connections without a word, then answers every request."""

    def handle(self) -> None:
        server: FlakyServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.connections += 1
            drop = server.connections <= server.drops
        if drop:
            self.request.close()
            return
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.request.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            body += self.request.recv(65536)
        payload = json.dumps({"data": standin_data(server.identity)}).encode()
        signed = sign_response(
            server.identity.key, status=200, content_type="application/json", body=payload
        )
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in signed.items()).encode()
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )


class FlakyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, identity: StandInIdentity, drops: int) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.identity = identity
        self.drops = drops
        self.connections = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def flaky_server(identity: StandInIdentity, *, drops: int) -> Iterator[FlakyServer]:
    server = FlakyServer(identity, drops)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- the coordinator ------------------------------------------------------------------------


@pytest.fixture
def coordinator_engine(database_url: str) -> Iterator[Engine]:
    """A coordinator database migrated to head by Alembic, as `lnob coordinator init` does."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "coordinator")
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(coordinator_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(coordinator_engine)


def coordinator_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "coordinator_database_url": database_url,
        "node_timeout": 5.0,
        "fanout_deadline": 5.0,
        "fanout_retry_backoff": 0.05,
        "coverage_cache_seconds": 30.0,
    }
    return load_settings(**{**values, **overrides})


def register_identity(
    sessions: sessionmaker[Session], url: str, identity: NodeIdentity
) -> RegisteredNode:
    with sessions.begin() as session:
        return registry.register(session, f"{url}/graphql", identity)


async def register_url(sessions: sessionmaker[Session], url: str) -> RegisteredNode:
    """Register the node at `url` as `lnob coordinator nodes add` does: ask it who it is."""
    async with HttpTransport(timeout=5, retry_backoff=0.05) as transport:
        endpoint, identity = await registry.fetch_identity(transport, url)
    with sessions.begin() as session:
        return registry.register(session, endpoint, identity)


@contextlib.asynccontextmanager
async def coordinator_client(
    settings: Settings, engine: Engine | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The coordinator app in process, its lifespan run, behind an httpx client."""
    app = create_coordinator_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
            yield client


@contextlib.asynccontextmanager
async def federation_over(
    sessions: sessionmaker[Session],
    *,
    node_timeout: float = 5.0,
    deadline: float = 10.0,
    concurrency: int = 16,
    cache_seconds: float = 30.0,
    verify_response: ResponseVerifier | None = None,
) -> AsyncIterator[Federation]:
    """A `Federation` over the registry in `sessions`, reaching nodes over real HTTP and
    verifying their answers as the coordinator does (unless `verify_response` says otherwise)."""

    async def nodes() -> list[RegisteredNode]:
        with sessions() as session:
            return registry.list_nodes(session)

    async with httpx.AsyncClient() as client:
        verifier = verify_response or RegistryVerifier(sessions, client, timeout=node_timeout)
        async with HttpTransport(
            timeout=node_timeout, retry_backoff=0.05, verify_response=verifier
        ) as transport:
            yield Federation(
                nodes, transport, concurrency=concurrency, deadline=deadline,
                cache_seconds=cache_seconds,
            )  # fmt: skip


def summarise(entries: Iterable[StocktakeEntry]) -> list[OrganisationSummary]:
    """Each organisation's totals counted from stocktake entries, as a stocktake states them
    (by name, case-blind): what the nodes' merged sums must equal."""
    by_organisation: dict[str, list[StocktakeEntry]] = {}
    for entry in entries:
        by_organisation.setdefault(entry.organisation, []).append(entry)
    return [
        OrganisationSummary(
            organisation=organisation,
            nodes=tuple(sorted({node for e in rows for node in e.nodes})),
            datasets=len({e.dataset for e in rows}),
            indicators=len({e.indicator for e in rows}),
            countries=len({e.country for e in rows}),
            groups=tuple(sorted({e.group for e in rows})),
            cell_count=sum(e.cell_count for e in rows),
            first_year=min(e.first_year for e in rows),
            latest_year=max(e.latest_year for e in rows),
        )
        for organisation, rows in sorted(
            by_organisation.items(), key=lambda item: (item[0].casefold(), item[0])
        )
    ]
