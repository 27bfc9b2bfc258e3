"""Tokens a node must refuse: each is answered 401 with the same bland error, nothing of the
token or of why it failed in the answer or the logs, no data, and an audit entry.

Every forged token below would otherwise read as a government caller (or better): a node that
accepted one would show it more than public data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.keys import SigningKey
from auth.tokens import Role
from service.node.models import AuditEntry
from tests.auth.conftest import (
    AuthServer,
    ask,
    b64url,
    b64url_json,
    node_client,
    running_auth_server,
)
from tests.node.conftest import NodeUnderTest

REFUSAL = {
    "errors": [
        {
            "message": "The bearer token is invalid or has expired.",
            "extensions": {"code": "UNAUTHENTICATED"},
        }
    ]
}

Forge = Callable[[AuthServer], str]


def _now() -> int:
    return int(time.time())


def _header(server: AuthServer, **changes: Any) -> dict[str, Any]:
    base = {"alg": "Ed25519", "typ": "at+jwt", "kid": server.key.key_id}
    return {name: value for name, value in (base | changes).items() if value is not None}


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}"


def _signed_by_hand(server: AuthServer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Signed with the issuer's real key, whatever the header says (no library would write it)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    return f"{signing_input}.{b64url(server.key.sign(signing_input.encode('ascii')))}"


def _hmac(server: AuthServer, alg: str, secret: bytes) -> str:
    """HS* keyed with the issuer's *public* key, in one of the forms a verifier might hold."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    signing_input = f"{b64url_json(_header(server, alg=alg))}.{b64url_json(server.claims())}"
    signature = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def _public_forms(server: AuthServer) -> dict[str, bytes]:
    public = server.key.public_key
    return {
        "raw": public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(server.key.public_jwk()).encode("utf-8"),
    }


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64url_json(claims)}.{signature}"


def _flip_last_signature_byte(token: str) -> str:
    head, payload, signature = token.split(".")
    last = "A" if signature[-2] != "A" else "B"
    return f"{head}.{payload}.{signature[:-2]}{last}{signature[-1]}"


_ATTACKER = SigningKey(Ed25519PrivateKey.generate())

ATTACKS: dict[str, dict[str, Forge]] = {
    "expired": {
        "beyond-skew": lambda s: s.sign(s.claims(exp=_now() - 120)),
        "an-hour-ago": lambda s: s.sign(
            s.claims(iat=_now() - 7200, nbf=_now() - 7200, exp=_now() - 3600)
        ),
        "no-exp-at-all": lambda s: s.sign(s.claims(exp=None)),
        "exp-not-a-number": lambda s: s.sign(s.claims(exp="9999999999")),
    },
    "not-yet-valid": {
        "nbf-in-future": lambda s: s.sign(s.claims(nbf=_now() + 600)),
        "iat-in-future": lambda s: s.sign(s.claims(nbf=None, iat=_now() + 600)),
    },
    "wrong-audience": {
        "other": lambda s: s.sign(s.claims(aud="another-federation")),
        "list-without-ours": lambda s: s.sign(s.claims(aud=["a", "b"])),
        "missing": lambda s: s.sign(s.claims(aud=None)),
    },
    "wrong-issuer": {  # signed with the trusted issuer's real key
        "untrusted": lambda s: s.sign(s.claims(iss="https://evil.example")),
        "almost-ours": lambda s: s.sign(s.claims(iss=s.url + "/")),
        "missing": lambda s: s.sign(s.claims(iss=None)),
    },
    "alg-none": {
        "none": lambda s: _unsigned(_header(s, alg="none"), s.claims()),
        "None": lambda s: _unsigned(_header(s, alg="None"), s.claims()),
        "NONE": lambda s: _unsigned(_header(s, alg="NONE"), s.claims()),
        "none-with-signature": lambda s: _unsigned(
            _header(s, alg="none"), s.claims(), b"\x00" * 64
        ),
        "alg-missing": lambda s: _unsigned(_header(s, alg=None), s.claims()),
    },
    "hmac-with-public-key": {
        "hs256-raw": lambda s: _hmac(s, "HS256", _public_forms(s)["raw"]),
        "hs256-pem": lambda s: _hmac(s, "HS256", _public_forms(s)["pem"]),
        "hs256-jwk": lambda s: _hmac(s, "HS256", _public_forms(s)["jwk"]),
        "hs512-pem": lambda s: _hmac(s, "HS512", _public_forms(s)["pem"]),
    },
    "key-id": {
        "unknown": lambda s: s.sign(s.claims(), kid="no-such-key"),
        "missing": lambda s: s.sign(s.claims(), kid=None),
        "attackers-own": lambda s: s.sign(s.claims(), key=_ATTACKER, kid=_ATTACKER.key_id),
        "embedded-jwk-header": lambda s: s.sign(
            s.claims(), key=_ATTACKER, kid=_ATTACKER.key_id, jwk=_ATTACKER.public_jwk()
        ),
    },
    "tampered": {
        "role-raised": lambda s: _swap_payload(
            s.token_for(Role.GOVERNMENT), s.claims(role="secretariat")
        ),
        "organisation-swapped": lambda s: _swap_payload(
            s.token_for(Role.ICSO, "Some ICSO"),
            s.claims(role="icso", org="Riverbend Inclusion Collective"),
        ),
        "lifetime-extended": lambda s: _swap_payload(
            s.token_for(Role.GOVERNMENT), s.claims(exp=_now() + 86_400)
        ),
        "signature-byte": lambda s: _flip_last_signature_byte(s.token_for(Role.GOVERNMENT)),
        "signed-by-another-key": lambda s: s.sign(s.claims(), key=_ATTACKER),
    },
    "malformed": {
        "wrong-typ": lambda s: s.sign(s.claims(), typ="dpop+jwt"),
        "unknown-crit-header": lambda s: _signed_by_hand(
            s, _header(s, crit=["x-unknown"], **{"x-unknown": True}), s.claims()
        ),
        "garbage": lambda s: "not-a-token",
        "two-segments": lambda s: "a.b",
        "five-segments-jwe": lambda s: "a.b.c.d.e",
        "oversized": lambda s: s.sign(s.claims()) + "." + "x" * 20_000,
    },
    "no-level": {  # signed by the issuer, but nothing a node can map to a level
        "role-missing": lambda s: s.sign(s.claims(role=None)),
        "role-unknown": lambda s: s.sign(s.claims(role="admin")),
        "icso-without-org": lambda s: s.sign(s.claims(role="icso")),
        "no-subject": lambda s: s.sign(s.claims(sub=None)),
    },
}


async def assert_refused(
    client: httpx.AsyncClient,
    node: NodeUnderTest,
    authorization: str,
    telltales: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """401 on GraphQL and downloads, the same bland body, nothing of the token anywhere."""
    response = await client.post(
        "/graphql",
        json={"query": "{ datasets { slug } }"},
        headers={"authorization": authorization, "accept": "application/graphql-response+json"},
    )
    download = await client.get(
        "/download/observations.csv", headers={"authorization": authorization}
    )
    for answer in (response, download):
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert answer.json() == REFUSAL
        for telltale in telltales:
            assert telltale not in answer.text
    for telltale in telltales:
        assert telltale not in caplog.text
    with Session(node.engine) as session:
        last = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
    audited = (last.action, last.caller, last.level, last.cells_returned)
    assert audited == ("graphql", "unauthenticated", "public", 0)


@pytest.mark.parametrize("attack", ATTACKS)
async def test_untrustworthy_tokens_are_refused_and_nothing_leaks(
    auth_server: AuthServer,
    trusting_node: NodeUnderTest,
    attack: str,
    caplog: pytest.LogCaptureFixture,
    subtests: pytest.Subtests,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with node_client(trusting_node) as client:
        for variant, forge in ATTACKS[attack].items():
            with subtests.test(variant=variant):
                token = forge(auth_server)
                telltales = [token[-40:], "forged-client"] if len(token) >= 40 else []
                await assert_refused(client, trusting_node, f"Bearer {token}", telltales, caplog)


NOT_BEARER = {
    "bearer-without-token": "Bearer",
    "bearer-blank": "Bearer    ",
    "basic-scheme": "Basic dXNlcjpwYXNz",
    "other-scheme": "Token abc",
}


async def test_an_authorization_header_that_is_not_a_bearer_token_is_refused(
    trusting_node: NodeUnderTest, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests
) -> None:
    async with node_client(trusting_node) as client:
        for variant, authorization in NOT_BEARER.items():
            with subtests.test(variant=variant):
                await assert_refused(client, trusting_node, authorization, [], caplog)


async def test_a_token_from_an_issuer_the_node_does_not_trust_is_refused(
    auth_server: AuthServer,
    trusting_node: NodeUnderTest,
    database_url: str,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running_auth_server(database_url, tmp_path / "other-issuer") as other:
        token = other.token_for(Role.SECRETARIAT)
        async with node_client(trusting_node) as client:
            await assert_refused(client, trusting_node, f"Bearer {token}", [token[-40:]], caplog)
    assert other.jwks_fetches == 0  # the node never even asked it for keys


async def test_tokens_within_the_tolerances_are_accepted(
    auth_server: AuthServer, trusting_node: NodeUnderTest
) -> None:
    """The other side of the checks above: small clock skew, several audiences, `typ` as OpenID
    Connect issuers write it."""
    skew = auth_server.settings.token_clock_skew
    accepted = [
        auth_server.sign(auth_server.claims(exp=_now() - skew // 2)),
        auth_server.sign(auth_server.claims(nbf=_now() + skew // 2, iat=_now() + skew // 2)),
        auth_server.sign(auth_server.claims(aud=["another-service", "lnob-federation"])),
        auth_server.sign(auth_server.claims(), typ="JWT"),
        auth_server.sign(auth_server.claims(), typ=None),
    ]
    async with node_client(trusting_node) as client:
        for token in accepted:
            response = await ask(client, token)
            assert response.status_code == 200, response.text
            slugs = {d["slug"] for d in response.json()["data"]["datasets"]}
            assert slugs == {"release-public", "release-government"}


async def test_no_token_is_public_not_refused(trusting_node: NodeUnderTest) -> None:
    async with node_client(trusting_node) as client:
        response = await ask(client, None)
        download = await client.get("/download/observations.csv")
    assert response.status_code == 200
    assert {d["slug"] for d in response.json()["data"]["datasets"]} == {"release-public"}
    assert download.status_code == 200


def test_token_endpoint_refuses_a_revoked_client_even_with_the_right_secret(
    auth_server: AuthServer,
) -> None:
    client_id, secret = auth_server.add_client(Role.ICSO, "Former member team", "Former Member")
    auth_server.revoke(client_id)
    for method in ("client_secret_basic", "client_secret_post"):
        response = auth_server.token_response(client_id, secret, method=method)
        assert response.json().get("error") == "invalid_client"
        assert "access_token" not in response.text
