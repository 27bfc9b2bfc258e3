"""Signing in with OpenID Connect, as a dashboard does it: discovery, the sign-in form, the code
exchanged with PKCE, a verified ID token, /userinfo — and the access token read by a real node
at the signed-in person's level."""

from __future__ import annotations

import logging

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.levels import Level
from auth.tokens import Role
from service.node.models import AuditEntry
from tests.auth.conftest import NODE_ORGANISATION, AuthServer, ask, node_client
from tests.auth.relying_party import RelyingParty, query_of
from tests.node.conftest import NodeUnderTest

CALLBACK = "http://127.0.0.1:9/auth/callback"


def relying_party(auth_server: AuthServer, method: str = "client_secret_basic") -> RelyingParty:
    client_id, secret = auth_server.add_web_client("Coordinator dashboard", CALLBACK)
    return RelyingParty(auth_server.url, client_id, secret, CALLBACK, auth_method=method)


async def test_discovery_names_the_endpoints_and_what_they_support(
    auth_server: AuthServer,
) -> None:
    metadata = await relying_party(auth_server).discover()
    base = auth_server.url
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/authorize"
    assert metadata["token_endpoint"] == f"{base}/token"
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["userinfo_endpoint"] == f"{base}/userinfo"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["Ed25519"]
    assert metadata["scopes_supported"] == ["openid", "profile"]
    assert metadata["subject_types_supported"] == ["public"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    rfc8414 = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    assert rfc8414 == metadata
    AuthorizationServerMetadata(metadata).validate()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_the_code_flow_signs_a_person_in(
    auth_server: AuthServer, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rp = relying_party(auth_server, method)
    subject, password = auth_server.add_user(
        "amina", Role.ICSO, "Riverbend Inclusion Collective", name="Amina Rahman"
    )
    attempt, location = await rp.code("Amina", password)  # usernames ignore case
    query = query_of(location)
    assert query["state"] == attempt.state and query["code"]

    token = await rp.exchange(attempt, location)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == auth_server.settings.token_lifetime
    assert token["scope"] == "openid profile"
    assert "refresh_token" not in token

    claims = await rp.verified_id_token(token, attempt.nonce)
    assert claims["sub"] == subject
    assert claims["aud"] == rp.client_id
    assert claims["nonce"] == attempt.nonce
    assert (claims["name"], claims["role"], claims["org"]) == (
        "Amina Rahman",
        "icso",
        "Riverbend Inclusion Collective",
    )

    access = auth_server.decode(token["access_token"])
    assert access["iss"] == auth_server.url
    assert access["aud"] == auth_server.settings.token_audience
    assert (access["sub"], access["client_id"]) == (subject, rp.client_id)
    assert (access["role"], access["org"], access["name"]) == (
        "icso",
        "Riverbend Inclusion Collective",
        "Amina Rahman",
    )

    async with rp.oauth() as client:
        client.token = token
        info = await client.get(rp.metadata["userinfo_endpoint"])
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": subject,
        "name": "Amina Rahman",
        "role": "icso",
        "org": "Riverbend Inclusion Collective",
    }

    # Nothing secret reached the server's logs (the client's own HTTP library logs what it
    # received, the code included): not the password, the code, the verifier or any token.
    server_log = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    secrets_seen = [password, query["code"], attempt.verifier, rp.secret,
                    token["access_token"], token["id_token"]]  # fmt: skip
    for secret in secrets_seen:
        assert secret not in server_log
    assert f"{subject} signed in to client {rp.client_id}" in server_log


PEOPLE = [
    # (role, organisation, level the node grants the person's access token)
    (Role.ICSO, NODE_ORGANISATION, Level.OWNER),
    (Role.ICSO, "Another Coalition Member", Level.COALITION),
    (Role.SECRETARIAT, None, Level.COALITION),
    (Role.GOVERNMENT, None, Level.GOVERNMENT),
]


@pytest.mark.parametrize(("role", "organisation", "level"), PEOPLE)
async def test_a_node_reads_a_signed_in_person_at_their_level(
    auth_server: AuthServer,
    trusting_node: NodeUnderTest,
    role: Role,
    organisation: str | None,
    level: Level,
) -> None:
    rp = relying_party(auth_server)
    subject, password = auth_server.add_user("someone", role, organisation)
    attempt, location = await rp.code("someone", password)
    token = await rp.exchange(attempt, location)

    async with node_client(trusting_node) as client:
        response = await ask(client, token["access_token"])
    assert response.status_code == 200, response.text
    listed = {d["slug"] for d in response.json()["data"]["datasets"]}
    assert listed == {f"release-{seen.label}" for seen in Level if seen <= level}
    with Session(trusting_node.engine) as session:
        entry = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
    # The node's audit log names the person, through the issuer, as it names a machine client.
    assert (entry.caller, entry.level) == (f"{auth_server.url}#{subject}", level.label)


async def test_the_sign_in_page_is_accessible_and_hardened(auth_server: AuthServer) -> None:
    rp = relying_party(auth_server)
    attempt = await rp.start()
    page = httpx.get(attempt.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert '<html lang="en">' in text
    assert "Coordinator dashboard" in text  # the client's name
    assert '<label for="username">' in text and 'id="username"' in text
    assert '<label for="password">' in text and 'id="password"' in text
    assert 'autocomplete="current-password"' in text
    assert '<form method="post" action="authorize">' in text
    assert "<script" not in text  # works without JavaScript
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "form-action 'self' http://127.0.0.1:9" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
