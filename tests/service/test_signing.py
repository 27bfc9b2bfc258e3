"""Signed answers on the wire: real responses of Starlette apps and of a real node, via httpx."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from auth.keyring import rotate_key, verify_rotation
from auth.keys import SigningKey, public_key_from_jwk
from auth.signatures import VerifiedSignature, verify_response
from service.db import make_session_factory
from service.node.identity import InitResult, init_node
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from service.signing import SignResponses, node_identity_route

KEY = SigningKey(Ed25519PrivateKey.generate())
REGISTRY = {KEY.key_id: KEY.public_key}


def verified(
    response: httpx.Response, keys: dict[str, Ed25519PublicKey] = REGISTRY
) -> VerifiedSignature:
    return verify_response(
        keys, status=response.status_code, headers=response.headers, body=response.content
    )


async def answer_json(request: Request) -> Response:
    return JSONResponse({"data": {"observations": [1, 2, 3]}})


async def refuse(request: Request) -> Response:
    raise HTTPException(status_code=403, detail="not for your level")


async def bad_request(request: Request) -> Response:
    return JSONResponse({"errors": [{"message": "bad cursor"}]}, status_code=400)


def csv_rows(count: int) -> Iterator[str]:
    yield "indicator,ref_area,value\n"
    for row in range(count):
        yield f"3.8.1,BGD,{row}\n"


async def small_csv(request: Request) -> Response:
    return StreamingResponse(csv_rows(10), media_type="text/csv; charset=utf-8")


async def large_csv(request: Request) -> Response:
    return StreamingResponse(csv_rows(5_000), media_type="text/csv; charset=utf-8")


async def no_content(request: Request) -> Response:
    return Response(status_code=204)


ROUTES = [
    Route("/json", answer_json),
    Route("/forbidden", refuse),
    Route("/bad", bad_request, methods=["GET", "POST"]),
    Route("/small.csv", small_csv),
    Route("/large.csv", large_csv),
    Route("/empty", no_content),
]


async def client_for(app: SignResponses) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://node"
    ) as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = SignResponses(Starlette(routes=ROUTES), key_provider=lambda: KEY, max_body_bytes=4096)
    async for each in client_for(app):
        yield each


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/json", 200),
        ("/forbidden", 403),
        ("/bad", 400),
        ("/no-such-route", 404),
        ("/small.csv", 200),
    ],
)
async def test_answers_and_errors_are_signed(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    signature = verified(response)
    assert signature.key_id == KEY.key_id
    assert "lnob-unsigned" not in response.headers


async def test_wrong_method_answer_is_signed(client: httpx.AsyncClient) -> None:
    response = await client.put("/json")
    assert response.status_code == 405
    verified(response)


async def test_signed_body_is_the_body_the_app_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/small.csv")
    assert response.text == "".join(csv_rows(10))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


async def test_download_beyond_the_bound_streams_unsigned_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/large.csv")
    assert response.status_code == 200
    assert response.text == "".join(csv_rows(5_000))
    assert response.headers["lnob-unsigned"] == "too-large;limit=4096"
    assert "signature" not in response.headers
    assert "content-digest" not in response.headers


async def test_answer_without_content_type_is_unsigned_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/empty")
    assert response.status_code == 204
    assert response.headers["lnob-unsigned"] == "no-content-type"


async def test_missing_key_leaves_answer_unsigned_not_lost() -> None:
    def no_key() -> SigningKey:
        raise RuntimeError("key file unreadable")

    app = SignResponses(Starlette(routes=ROUTES), key_provider=no_key)
    async for client in client_for(app):
        response = await client.get("/json")
    assert response.status_code == 200
    assert response.json() == {"data": {"observations": [1, 2, 3]}}
    assert response.headers["lnob-unsigned"] == "signing-failed"


async def test_headers_the_app_set_itself_are_replaced() -> None:
    async def spoofing(request: Request) -> Response:
        return PlainTextResponse("hi", headers={"Signature": "lnob=:AAAA:", "LNOB-Unsigned": "x"})

    app = SignResponses(Starlette(routes=[Route("/", spoofing)]), key_provider=lambda: KEY)
    async for client in client_for(app):
        response = await client.get("/")
    verified(response)
    assert response.headers.get_list("signature") == [response.headers["signature"]]
    assert "lnob-unsigned" not in response.headers


# --- a real node, wired as service/node_app.py wires it ---------------------------------------


@pytest.fixture
def node_settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(database_url=database_url, key_file=tmp_path / "keys" / "node.pem")


@pytest.fixture
def initialised(node_engine: Engine, node_settings: Settings) -> InitResult:
    return init_node(
        node_engine, node_settings, name="Dhaka node", organisation="Riverbend", node_id="eg"
    )


@dataclass(frozen=True)
class State:
    settings: Settings
    sessions: sessionmaker[Session]


def signed_node(settings: Settings, engine: Engine) -> Starlette:
    app = create_node_app(settings, engine=engine)
    app.router.routes.append(Route("/.well-known/lnob-node.json", node_identity_route))
    app.add_middleware(SignResponses, key_provider=lambda: app.state.node.signing_key)
    return app


async def node_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as c,
    ):
        yield c


GQL = "application/graphql-response+json"


async def test_node_graphql_answers_verify_against_the_registered_key(
    node_engine: Engine, node_settings: Settings, initialised: InitResult
) -> None:
    registry = {initialised.key.key_id: initialised.key.public_key}
    async for client in node_client(signed_node(node_settings, node_engine)):
        ok = await client.post(
            "/graphql", json={"query": "{ node { id keyId } }"}, headers={"accept": GQL}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["data"]["node"] == {"id": "eg", "keyId": initialised.key.key_id}
        verified(ok, registry)
        error = await client.post(
            "/graphql", json={"query": "{ node { nope } }"}, headers={"accept": GQL}
        )
        assert error.status_code == 400
        verified(error, registry)
        download = await client.get("/download/observations.csv")
        assert download.status_code == 200
        verified(download, registry)
        health = await client.get("/healthz")
        verified(health, registry)


async def test_identity_document_announces_a_rotation_the_coordinator_accepts(
    node_engine: Engine, node_settings: Settings, initialised: InitResult
) -> None:
    old = initialised.key
    rotation = rotate_key(node_settings.key_file, overlap=dt.timedelta(hours=168))
    app = Starlette(routes=[Route("/.well-known/lnob-node.json", node_identity_route)])
    app.state.node = State(node_settings, make_session_factory(node_engine))
    async for client in client_for(SignResponses(app, key_provider=lambda: rotation.new)):
        response = await client.get("/.well-known/lnob-node.json")
    assert response.status_code == 200
    verified(response, {rotation.new.key_id: rotation.new.public_key})
    new_jwk = verify_rotation(old.public_key, response.json(), node_id="eg")
    assert new_jwk == rotation.new.public_jwk()
    assert public_key_from_jwk(new_jwk) is not None


async def test_identity_document_of_an_uninitialised_node_is_a_clear_error(
    node_engine: Engine, node_settings: Settings
) -> None:
    app = Starlette(routes=[Route("/.well-known/lnob-node.json", node_identity_route)])
    app.state.node = State(node_settings, make_session_factory(node_engine))
    async for client in client_for(SignResponses(app, key_provider=lambda: KEY)):
        response = await client.get("/.well-known/lnob-node.json")
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_INITIALISED"
    verified(response)
