"""The authorization server as a client sees it: client credentials, metadata, keys."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from authlib.oauth2.rfc8414 import (  # type: ignore[import-untyped]
    AuthorizationServerMetadata,
    get_well_known_url,
)
from joserfc import jwt
from joserfc.jwk import KeySet

from auth.tokens import Role
from tests.auth.conftest import AuthServer

METHODS = ["client_secret_basic", "client_secret_post"]


def _decode_segment(segment: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


@pytest.mark.parametrize("method", METHODS)
def test_client_credentials_grant_issues_a_signed_short_lived_jwt(
    auth_server: AuthServer, method: str
) -> None:
    client_id, secret = auth_server.add_client(Role.ICSO, "Riverbend data team", "Riverbend")
    response = auth_server.token_response(client_id, secret, method=method)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == auth_server.settings.token_lifetime
    assert "refresh_token" not in body
    header = _decode_segment(body["access_token"].split(".")[0])
    assert header == {"alg": "Ed25519", "typ": "at+jwt", "kid": auth_server.key.key_id}

    jwks = httpx.get(f"{auth_server.url}/.well-known/jwks.json").json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["Ed25519"])
    claims = token.claims
    assert claims["iss"] == auth_server.url
    assert claims["aud"] == "lnob-federation"
    assert claims["sub"] == client_id
    assert claims["role"] == "icso"
    assert claims["org"] == "Riverbend"
    assert claims["exp"] - claims["iat"] == auth_server.settings.token_lifetime


@pytest.mark.parametrize("role", [Role.SECRETARIAT, Role.GOVERNMENT])
def test_clients_other_than_icso_carry_no_organisation(auth_server: AuthServer, role: Role) -> None:
    token = auth_server.token_for(role)
    claims = _decode_segment(token.split(".")[1])
    assert claims["role"] == role.value
    assert "org" not in claims


@pytest.mark.parametrize("method", METHODS)
def test_wrong_secret_unknown_client_and_revoked_client_get_no_token(
    auth_server: AuthServer, method: str
) -> None:
    client_id, secret = auth_server.add_client(Role.GOVERNMENT, "Ministry of Planning, Kenya")
    assert auth_server.token_response(client_id, secret, method=method).status_code == 200

    wrong = auth_server.token_response(client_id, secret + "x", method=method)
    unknown = auth_server.token_response("no-such-client", secret, method=method)
    auth_server.revoke(client_id)
    revoked = auth_server.token_response(client_id, secret, method=method)
    for response in (wrong, unknown, revoked):
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] == "invalid_client"
        assert "access_token" not in response.json()
    if method == "client_secret_basic":
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Basic ")


def test_token_requests_must_be_well_formed(auth_server: AuthServer) -> None:
    client_id, secret = auth_server.add_client(Role.SECRETARIAT, "Secretariat stocktake script")
    url = f"{auth_server.url}/token"
    as_json = httpx.post(url, json={"grant_type": "client_credentials"}, auth=(client_id, secret))
    repeated = httpx.post(
        url,
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(client_id, secret),
    )
    other_grant = httpx.post(url, data={"grant_type": "password"}, auth=(client_id, secret))
    scoped = httpx.post(
        url, data={"grant_type": "client_credentials", "scope": "admin"}, auth=(client_id, secret)
    )
    get = httpx.get(url, params={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    assert other_grant.status_code == 400
    assert other_grant.json()["error"] == "unsupported_grant_type"
    assert scoped.status_code == 400 and scoped.json()["error"] == "invalid_scope"
    assert get.status_code == 405


def test_metadata_document_follows_rfc_8414(auth_server: AuthServer) -> None:
    url = get_well_known_url(auth_server.url, external=True)
    metadata = httpx.get(url).json()
    assert metadata["issuer"] == auth_server.url
    assert metadata["token_endpoint"] == f"{auth_server.url}/token"
    assert metadata["jwks_uri"] == f"{auth_server.url}/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == set(METHODS)
    AuthorizationServerMetadata(metadata).validate()


def test_jwks_publishes_the_public_key_with_its_id_and_nothing_private(
    auth_server: AuthServer,
) -> None:
    jwks = httpx.get(f"{auth_server.url}/.well-known/jwks.json").json()
    [key] = jwks["keys"]
    assert key["kid"] == auth_server.key.key_id
    assert key == {**auth_server.key.public_jwk(), "alg": "Ed25519"}
    assert "d" not in key
    assert httpx.get(f"{auth_server.url}/readyz").json()["status"] == "ready"
