"""Which node answers the coordinator trusts: real signed nodes, a man in the middle, key
rotation through the identity document, and a key replaced without one."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from multidict import CIMultiDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.keyring import rotate_key
from auth.keys import create_key_file, jwk_thumbprint
from auth.signatures import sign_response, verify_response
from federation import registry
from federation.fanout import FederatedAnswer, SourceStatus
from federation.registry import RegisteredNode
from federation.transport import NodeResponse, check_signature, node_keys
from service.cli.coordinator import coordinator
from service.node.identity import load_signing_key
from service.node_app import create_node_app
from tests.federation.conftest import (
    OWNER_TOKEN,
    Recorder,
    RunningNode,
    TokenCallers,
    coordinator_client,
    coordinator_settings,
    federation_over,
    register_identity,
    register_url,
    serve,
    standin_app,
    standin_data,
    standin_identity,
)

SOURCES_WITH_SIGNATURES = """query {
  stocktake {
    sources {
      nodeId status message
      signature { keyId created signature signatureInput contentDigest contentType httpStatus }
    }
  }
}"""


def by_node(answer: FederatedAnswer[Any]) -> dict[str, SourceStatus]:
    return {source.node_id: source for source in answer.sources}


async def ask_everyone(sessions: sessionmaker[Session]) -> dict[str, SourceStatus]:
    async with federation_over(sessions, cache_seconds=0) as federation:
        return by_node(await federation.coverage({}, authorization=OWNER_TOKEN))


def registered(sessions: sessionmaker[Session], node_id: str) -> RegisteredNode:
    with sessions() as session:
        return registry.get_node(session, node_id)


def restart(node: RunningNode) -> None:
    """Stop the node's server and start it again on the same port (it rereads its key)."""
    port = int(node.url.rsplit(":", 1)[1])
    node.server.stop()
    node.recorder = Recorder(create_node_app(node.settings, callers=TokenCallers()))
    node.server = serve(node.recorder, port)


# --- answers of real nodes --------------------------------------------------------------------


async def test_signed_answers_verify_and_each_sources_signature_is_passed_on(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    settings = coordinator_settings(database_url)
    async with coordinator_client(settings, coordinator_engine) as client:
        response = await client.post("/graphql", json={"query": SOURCES_WITH_SIGNATURES})
    sources = {s["nodeId"]: s for s in response.json()["data"]["stocktake"]["sources"]}
    assert {node_id: s["status"] for node_id, s in sources.items()} == {
        "riverbend": "OK",
        "lantern": "OK",
    }
    for node in demo_nodes:
        signed = sources[node.node_id]["signature"]
        key = load_signing_key(node.settings)
        assert signed["keyId"] == key.key_id
        created = dt.datetime.fromisoformat(signed["created"])
        assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60
        # A partner checks provenance with the node's public key alone: the node signed the
        # answer to the very question the coordinator sent it (asked again here, same bytes).
        asked = next(r for r in reversed(node.recorder.requests) if "coverage" in r.document)
        again = httpx.request(
            asked.method,
            f"{node.url}/graphql" + (f"?{asked.query_string}" if asked.query_string else ""),
            content=asked.body,
            headers={"Content-Type": "application/json"} if asked.body else {},
            timeout=10,
        )
        verified = verify_response(
            {key.key_id: key.public_key},
            status=signed["httpStatus"],
            headers={
                "Content-Type": signed["contentType"],
                "Content-Digest": signed["contentDigest"],
                "Signature-Input": signed["signatureInput"],
                "Signature": signed["signature"],
            },
            body=again.content,
            max_age_seconds=None,
        )
        assert verified.key_id == key.key_id


async def test_answers_without_a_valid_signature_are_untrusted(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    await register_url(sessions, demo_nodes[1].url)
    unsigned, impostor, signer = (standin_identity(n) for n in ("unsigned", "impostor", "other"))

    def answer_as(identity: Any) -> Any:
        return lambda request: JSONResponse({"data": standin_data(identity)})

    servers = [
        serve(standin_app(answer_as(unsigned))),
        # Registered with one key, signs with another, and has no identity document.
        serve(standin_app(answer_as(impostor), signed_by=signer)),
    ]
    try:
        register_identity(sessions, servers[0].url, unsigned)
        register_identity(sessions, servers[1].url, impostor)
        sources = await ask_everyone(sessions)
    finally:
        for server in servers:
            server.stop()
    assert {node_id: s.status for node_id, s in sources.items()} == {
        "lantern": "OK",
        "unsigned": "UNTRUSTED",
        "impostor": "UNTRUSTED",
    }
    assert "missing-header" in (sources["unsigned"].message or "")
    assert "could not be read" in (sources["impostor"].message or "")
    assert "nodes pin impostor" in (sources["impostor"].message or "")
    assert sources["lantern"].signature is not None
    assert sources["unsigned"].signature is None


# --- a man in the middle ----------------------------------------------------------------------

HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class ManInTheMiddle:
    """Forwards every request to `target` and changes the answer as `tamper` says."""

    target: str
    other_node: str
    tamper: str = "none"
    seen: list[dict[str, str]] = field(default_factory=list)

    async def forward(self, request: Request) -> Response:
        target = self.other_node if self.tamper == "another-nodes-answer" else self.target
        passed = {k: v for k, v in request.headers.items() if k in ("authorization", "accept")}
        async with httpx.AsyncClient() as client:
            upstream = await client.request(
                request.method,
                target + request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                content=await request.body(),
                headers={**passed, "Content-Type": request.headers.get("content-type", "")},
            )
        headers = {k.lower(): v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        body = bytearray(upstream.content)
        if self.tamper == "flip-a-byte":
            body[len(body) // 2] ^= 0x01
        elif self.tamper == "strip-the-signature":
            headers.pop("signature", None)
        elif self.tamper == "replay-a-signature":
            # The signature of another, earlier answer, beside this answer's own digest.
            earlier = next(s for s in self.seen if s["content-digest"] != headers["content-digest"])
            headers["signature"] = earlier["signature"]
            headers["signature-input"] = earlier["signature-input"]
        elif "signature" in headers:
            self.seen.append(headers)
        return Response(bytes(body), status_code=upstream.status_code, headers=headers)

    def app(self) -> Starlette:
        methods = ["GET", "POST"]
        return Starlette(routes=[Route("/{path:path}", self.forward, methods=methods)])


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("flip-a-byte", "digest-mismatch"),
        ("strip-the-signature", "missing-header"),
        ("replay-a-signature", "bad-signature"),
        ("another-nodes-answer", "does not vouch"),
    ],
)
async def test_an_answer_changed_on_the_way_is_untrusted(
    sessions: sessionmaker[Session], demo_nodes: list[RunningNode], tamper: str, reason: str
) -> None:
    riverbend, lantern = demo_nodes
    middle = ManInTheMiddle(target=riverbend.url, other_node=lantern.url)
    proxy = serve(middle.app())
    try:
        await register_url(sessions, proxy.url)  # riverbend, reached through the proxy
        await register_url(sessions, lantern.url)
        faithful = await ask_everyone(sessions)
        middle.tamper = tamper
        tampered = await ask_everyone(sessions)
    finally:
        proxy.stop()

    # Forwarding alone changes nothing a signature covers.
    assert {node_id: s.status for node_id, s in faithful.items()} == {
        "riverbend": "OK",
        "lantern": "OK",
    }
    assert tampered["lantern"].status == "OK"
    assert tampered["riverbend"].status == "UNTRUSTED"
    message = tampered["riverbend"].message or ""
    assert reason in message
    assert OWNER_TOKEN.split()[-1] not in message
    assert tampered["riverbend"].signature is None
    # The registry still holds riverbend's own key.
    node = registered(sessions, "riverbend")
    assert node.key_id == load_signing_key(riverbend.settings).key_id
    assert node.retired_keys == ()


# --- key rotation -----------------------------------------------------------------------------


async def test_a_rotated_key_is_accepted_on_the_old_keys_word(
    sessions: sessionmaker[Session], own_node: RunningNode
) -> None:
    await register_url(sessions, own_node.url)
    old_key_id = load_signing_key(own_node.settings).key_id
    assert (await ask_everyone(sessions))["lantern"].status == "OK"

    rotation = rotate_key(own_node.settings.key_file, overlap=dt.timedelta(hours=2))
    restart(own_node)
    sources = await ask_everyone(sessions)

    assert sources["lantern"].status == "OK", sources["lantern"].message
    assert sources["lantern"].signature is not None
    assert sources["lantern"].signature.signature.key_id == rotation.new.key_id
    node = registered(sessions, "lantern")
    assert node.key_id == rotation.new.key_id
    assert [(k.key_id, k.valid_until) for k in node.retired_keys] == [
        (old_key_id, rotation.valid_until)
    ]
    # During the overlap an answer signed by the old key (a replica not yet restarted) still
    # verifies; after it, it does not.
    body = b'{"data":{"node":{"id":"lantern"}}}'
    signed = sign_response(rotation.old, status=200, content_type="application/json", body=body)
    from_a_replica = NodeResponse(
        200, CIMultiDict({"Content-Type": "application/json", **signed}), body
    )
    assert check_signature(node, from_a_replica).trusted
    later = rotation.valid_until + dt.timedelta(seconds=1)
    assert set(node_keys(node, later)) == {rotation.new.key_id}
    # The identity document now only names the new key as current: asking again is plain.
    assert (await ask_everyone(sessions))["lantern"].status == "OK"


async def test_a_replaced_key_is_untrusted_until_pinned_again(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    own_node: RunningNode,
    tmp_path: Path,
) -> None:
    await register_url(sessions, own_node.url)
    first_key_id = load_signing_key(own_node.settings).key_id
    key_file = own_node.settings.key_file
    key_file.unlink()
    new_key = create_key_file(key_file)
    restart(own_node)

    sources = await ask_everyone(sessions)
    assert sources["lantern"].status == "UNTRUSTED"
    message = sources["lantern"].message or ""
    assert "not signed by the key we hold" in message
    assert "lnob coordinator nodes pin lantern --key" in message
    assert registered(sessions, "lantern").key_id == first_key_id

    env = {
        "LNOB_COORDINATOR_DATABASE_URL": database_url,
        "LNOB_NODE_TIMEOUT": "5",
        "COLUMNS": "250",
    }

    async def run(*args: str) -> Result:
        # The command runs its own event loop, as it does from a shell: not in this one.
        return await asyncio.to_thread(CliRunner().invoke, coordinator, list(args), env=env)

    wrong = json.dumps(standin_identity("x").public_key)
    refused = await run("nodes", "pin", "lantern", "--key", wrong)
    assert refused.exit_code == 1
    assert "not the pinned key" in refused.stderr
    pinned = json.dumps(new_key.public_jwk())
    accepted = await run("nodes", "pin", "lantern", "--key", pinned)
    assert accepted.exit_code == 0, accepted.output
    assert (await ask_everyone(sessions))["lantern"].status == "OK"

    # Pinning again through `nodes add URL --key` replaces the key as well.
    key_file.unlink()
    newer_key = create_key_file(key_file)
    restart(own_node)
    assert (await ask_everyone(sessions))["lantern"].status == "UNTRUSTED"
    added = await run("nodes", "add", own_node.url, "--key", json.dumps(newer_key.public_jwk()))
    assert added.exit_code == 0, added.output
    node = registered(sessions, "lantern")
    assert node.key_id == newer_key.key_id == jwk_thumbprint(dict(node.public_key))
    assert (await ask_everyone(sessions))["lantern"].status == "OK"
