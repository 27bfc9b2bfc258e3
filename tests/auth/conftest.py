"""Identity fixtures: a real authorization server on a loopback port, and a node that trusts it.

The authorization server and the node share the test's database (their Alembic branches live
side by side); the node answers through its ASGI app with its lifespan, and fetches the
issuer's keys over real HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import OKPKey
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from auth import clients, users
from auth.keys import SigningKey, load_or_create_key_file
from auth.levels import Level
from auth.server import create_auth_app
from auth.tokens import Role
from service import migrate
from service.db import make_engine, make_session_factory
from service.node.identity import init_node
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from tests.node.conftest import NodeUnderTest, sex_table

NODE_ORGANISATION = "Riverbend Inclusion Collective"
GQL = "application/graphql-response+json"
DATASETS_QUERY = """{ datasets { slug valuesVisible }
  observations(first: 100) { edges { node { dataset value } } } }"""


@dataclass
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(make_app: Callable[[str], ASGIApp]) -> Server:
    """Run the app that `make_app(url)` builds with uvicorn on a free loopback port, in a thread;
    the URL is known before the app is built, as an issuer must know its own."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        make_app(url), log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return Server(url=url, server=server, thread=thread)


@dataclass
class PathCounter:
    """Wraps an ASGI app and counts the HTTP requests per path."""

    app: ASGIApp
    counts: dict[str, int] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.counts[scope["path"]] = self.counts.get(scope["path"], 0) + 1
        await self.app(scope, receive, send)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


@dataclass
class AuthServer:
    """The secretariat's authorization server, running, with a handle on its client store."""

    settings: Settings
    engine: Engine
    key: SigningKey
    server: Server
    counter: PathCounter

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def jwks_fetches(self) -> int:
        return self.counter.counts.get("/.well-known/jwks.json", 0)

    def add_client(self, role: Role, name: str, organisation: str | None = None) -> tuple[str, str]:
        with make_session_factory(self.engine).begin() as session:
            record, secret = clients.add_client(
                session, name=name, role=role, organisation=organisation
            )
        return record.client_id, secret

    def add_web_client(self, name: str, *redirect_uris: str) -> tuple[str, str]:
        with make_session_factory(self.engine).begin() as session:
            record, secret = clients.add_client(
                session, name=name, role=None, redirect_uris=redirect_uris
            )
        return record.client_id, secret

    def add_user(
        self, username: str, role: Role, organisation: str | None = None, *, name: str = ""
    ) -> tuple[str, str]:
        """Add a person; returns their subject and their generated password."""
        with make_session_factory(self.engine).begin() as session:
            record, password = users.add_user(
                session,
                username=username,
                name=name or f"Test {role.value} person",
                role=role,
                organisation=organisation,
            )
        return record.subject, password

    def remove_user(self, username: str) -> None:
        with make_session_factory(self.engine).begin() as session:
            users.remove_user(session, username)

    def revoke(self, client_id: str) -> None:
        with make_session_factory(self.engine).begin() as session:
            clients.revoke_client(session, client_id)

    def token_response(
        self, client_id: str, secret: str, *, method: str = "client_secret_basic"
    ) -> httpx.Response:
        form = {"grant_type": "client_credentials"}
        if method == "client_secret_basic":
            return httpx.post(f"{self.url}/token", data=form, auth=(client_id, secret))
        form |= {"client_id": client_id, "client_secret": secret}
        return httpx.post(f"{self.url}/token", data=form)

    def token(self, client_id: str, secret: str, *, method: str = "client_secret_basic") -> str:
        response = self.token_response(client_id, secret, method=method)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def token_for(self, role: Role, organisation: str | None = None) -> str:
        client_id, secret = self.add_client(role, f"Test {role.value} client", organisation)
        return self.token(client_id, secret)

    def decode(self, token: str) -> dict[str, Any]:
        """A token's claims, once its signature verifies with the issuer's key."""
        jwk = OKPKey.import_key(self.key.public_key)
        return dict(jwt.decode(token, jwk, algorithms=["Ed25519"]).claims)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims of a good government token; `None` removes a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.auth_issuer,
            "sub": "forged-client",
            "aud": self.settings.token_audience,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "role": "government",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        """A token signed as the issuer signs (or with `key`), with header overrides."""
        signer = key or self.key
        jwk = OKPKey.import_key(signer.private_key, {"kid": signer.key_id})
        base = {"alg": "Ed25519", "typ": "at+jwt", "kid": self.key.key_id}
        full = {name: value for name, value in (base | header).items() if value is not None}
        return jwt.encode(full, claims, jwk, algorithms=["Ed25519"])


@contextlib.contextmanager
def running_auth_server(database_url: str, folder: Path) -> Iterator[AuthServer]:
    """An authorization server over `database_url`, as `lnob auth init` leaves it, running."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "auth")
    key_file = folder / "issuer-key.pem"
    key, _ = load_or_create_key_file(key_file)
    holder: dict[str, Any] = {}

    def make_app(url: str) -> ASGIApp:
        holder["settings"] = load_settings(
            auth_issuer=url, auth_database_url=database_url, auth_key_file=key_file
        )
        holder["counter"] = PathCounter(create_auth_app(holder["settings"]))
        return holder["counter"]  # type: ignore[no-any-return]

    server = serve(make_app)
    try:
        yield AuthServer(holder["settings"], engine, key, server, holder["counter"])
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def auth_server(database_url: str, tmp_path: Path) -> Iterator[AuthServer]:
    with running_auth_server(database_url, tmp_path / "auth") as server:
        yield server


@pytest.fixture
def trusting_node(
    auth_server: AuthServer, node_engine: Engine, database_url: str, tmp_path: Path
) -> NodeUnderTest:
    """A node of `NODE_ORGANISATION` that trusts the authorization server, with one dataset per
    release level (`release-public` … `release-owner`), each discoverable only at its level."""
    settings = load_settings(
        database_url=database_url,
        key_file=tmp_path / "node-key.pem",
        trusted_issuers=[auth_server.url],
    )
    init_node(node_engine, settings, name="Dhaka node", organisation=NODE_ORGANISATION)
    node = NodeUnderTest(settings=settings, engine=node_engine, folder=tmp_path)
    for level in Level:
        rows = sex_table(female=(30, 30), male=(40, 40), total=(70, 70))
        node.load(f"release-{level.label}", rows, release=level)
    return node


@contextlib.asynccontextmanager
async def node_client(node: NodeUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the node's app, its lifespan running (it builds the token resolver)."""
    app = create_node_app(node.settings, engine=node.engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client,
    ):
        yield client


async def ask(
    client: httpx.AsyncClient, token: str | None, query: str = DATASETS_QUERY
) -> httpx.Response:
    headers = {"accept": GQL}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json={"query": query}, headers=headers)
