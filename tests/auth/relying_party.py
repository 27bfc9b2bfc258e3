"""A relying party as a dashboard is one: authlib's httpx OAuth client, discovery only, PKCE S256,
a nonce, and a browser that fills the sign-in form. Used by the sign-in tests."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

SCOPE = "openid profile"
_HIDDEN = re.compile(r'name="authorization_request" value="([^"]+)"')


@dataclass
class Attempt:
    """One authorization request the relying party made: what it must remember."""

    url: str
    state: str
    nonce: str
    verifier: str = field(repr=False)


@dataclass
class RelyingParty:
    issuer: str
    client_id: str
    secret: str = field(repr=False)
    redirect_uri: str
    auth_method: str = "client_secret_basic"
    metadata: dict[str, Any] = field(default_factory=dict)

    async def discover(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{self.issuer}/.well-known/openid-configuration")
        assert response.status_code == 200, response.text
        self.metadata = response.json()
        return self.metadata

    def oauth(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.secret,
            token_endpoint_auth_method=self.auth_method,
            scope=SCOPE,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )

    async def start(self, **extra: str) -> Attempt:
        """The authorization URL, as the dashboard would redirect a browser to it."""
        if not self.metadata:
            await self.discover()
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        async with self.oauth() as client:
            url, state = client.create_authorization_url(
                self.metadata["authorization_endpoint"],
                code_verifier=verifier,
                nonce=nonce,
                **extra,
            )
        return Attempt(url=url, state=state, nonce=nonce, verifier=verifier)

    async def sign_in(self, attempt: Attempt, username: str, password: str) -> httpx.Response:
        """A browser: open the form, fill it in, post it. Returns the answer to the post."""
        async with httpx.AsyncClient() as browser:
            page = await browser.get(attempt.url)
            assert page.status_code == 200, page.text
            return await browser.post(
                f"{self.issuer}/authorize",
                data={
                    "authorization_request": signed_request(page.text),
                    "username": username,
                    "password": password,
                },
            )

    async def code(self, username: str, password: str, **extra: str) -> tuple[Attempt, str]:
        """Sign in and return the attempt and the redirect back to the client."""
        attempt = await self.start(**extra)
        answer = await self.sign_in(attempt, username, password)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(self.redirect_uri + "?")
        return attempt, location

    async def exchange(
        self, attempt: Attempt, location: str, *, verifier: str | None = None
    ) -> dict[str, Any]:
        """code → tokens at the token endpoint; raises authlib's OAuthError on refusal."""
        async with self.oauth() as client:
            token: dict[str, Any] = await client.fetch_token(
                self.metadata["token_endpoint"],
                authorization_response=location,
                state=attempt.state,
                code_verifier=attempt.verifier if verifier is None else verifier,
            )
        return token

    async def verified_id_token(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce check."""
        async with httpx.AsyncClient() as http:
            jwks = (await http.get(self.metadata["jwks_uri"])).json()
        algorithms = self.metadata["id_token_signing_alg_values_supported"]
        registry = JWSRegistry(algorithms=algorithms)
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks), registry=registry)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [self.issuer]}},
            {"nonce": nonce, "client_id": self.client_id, "access_token": token["access_token"]},
        )
        claims.validate(leeway=5)
        return dict(claims)


def signed_request(page: str) -> str:
    match = _HIDDEN.search(page)
    assert match, page
    return html.unescape(match.group(1))


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
