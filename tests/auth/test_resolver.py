"""The node's token resolver against issuers other than ours: OpenID Connect issuers configured by
settings alone, key rotation, key caching and refresh, issuers that are down or lie."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from auth.errors import TokenInvalid
from auth.levels import Level
from auth.resolver import TokenResolver, metadata_urls
from auth.tokens import import_verification_keys
from service.settings import Settings, load_settings
from tests.auth.conftest import AuthServer, PathCounter, serve

OWN_ORGANISATION = "Riverbend Inclusion Collective"


@dataclass
class StandInIssuer:
    """An OpenID Connect issuer as Keycloak or Auth0 present one: metadata appended to the issuer
    URL (`/.well-known/openid-configuration`), a JWK Set, keys we sign with and may rotate."""

    path: str
    keys: list[Key]
    url: str = ""
    issuer: str = ""
    metadata_issuer: str | None = None  # what the metadata claims, when it lies
    counter: PathCounter | None = None
    up: bool = True
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)

    def app(self, url: str) -> ASGIApp:
        self.url = url
        self.issuer = url + self.path

        async def metadata(request: Request) -> Response:
            if not self.up:
                return Response(status_code=503)
            return JSONResponse(
                {
                    "issuer": self.metadata_issuer or self.issuer,
                    "jwks_uri": f"{self.issuer.rstrip('/')}/protocol/openid-connect/certs",
                    "token_endpoint": f"{self.issuer.rstrip('/')}/protocol/openid-connect/token",
                }
            )

        async def certs(request: Request) -> Response:
            if not self.up:
                return Response(status_code=503)
            public = [key.as_dict(private=False) for key in self.keys]
            return JSONResponse({"keys": [*public, *self.extra_jwks]})

        base = self.path.rstrip("/")
        self.counter = PathCounter(
            Starlette(
                routes=[
                    Route(f"{base}/.well-known/openid-configuration", metadata),
                    Route(f"{base}/protocol/openid-connect/certs", certs),
                ]
            )
        )
        return self.counter

    @property
    def key_fetches(self) -> int:
        assert self.counter is not None
        return self.counter.counts.get(f"{self.path.rstrip('/')}/protocol/openid-connect/certs", 0)

    def sign(self, claims: dict[str, Any], *, key: Key | None = None, **header: Any) -> str:
        key = key or self.keys[0]
        alg = header.pop("alg", None) or _alg_for(key)
        now = int(time.time())
        full = {"iss": self.issuer, "sub": "svc-account", "aud": "lnob-federation", "iat": now,
                "exp": now + 300, **claims}  # fmt: skip
        header = {"alg": alg, "kid": key.kid, "typ": "JWT", **header}
        return jwt.encode(header, full, key, algorithms=[alg])


def _alg_for(key: Key) -> str:
    if isinstance(key, RSAKey):
        return "RS256"
    if isinstance(key, ECKey):
        return "ES256"
    return "Ed25519"


def _rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture
def keycloak_like() -> Iterator[StandInIssuer]:
    issuer = StandInIssuer(path="/realms/lnob", keys=[_rsa("rsa-1")])
    server = serve(issuer.app)
    yield issuer
    server.stop()


@pytest.fixture
def auth0_like() -> Iterator[StandInIssuer]:
    # Auth0 issuers end with a slash, and custom claims are namespaced URLs full of dots.
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
    issuer = StandInIssuer(path="/", keys=[key])
    server = serve(issuer.app)
    yield issuer
    server.stop()


def resolver_for(
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    refresh_interval: float = 0.0,
    clock: Any = time.monotonic,
) -> TokenResolver:
    return TokenResolver(
        settings, client, OWN_ORGANISATION, refresh_interval=refresh_interval, clock=clock
    )


async def test_a_keycloak_like_issuer_works_by_configuration_alone(
    keycloak_like: StandInIssuer,
) -> None:
    settings = load_settings(
        trusted_issuers=keycloak_like.issuer,
        token_role_claim="realm_access.roles",
        token_org_claim="organisation",
    )
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client)
        own = keycloak_like.sign(
            {
                "realm_access": {"roles": ["offline_access", "icso"]},
                "organisation": OWN_ORGANISATION,
            }
        )
        government = keycloak_like.sign({"realm_access": {"roles": ["government"]}})
        caller = await resolver.caller_for_token(own)
        assert (caller.level, caller.organisation) == (Level.OWNER, OWN_ORGANISATION)
        assert caller.identity == f"{keycloak_like.issuer}#svc-account"
        assert "this node's organisation" in caller.reason
        assert (await resolver.caller_for_token(government)).level is Level.GOVERNMENT


async def test_an_auth0_like_issuer_with_namespaced_claims_and_a_trailing_slash(
    auth0_like: StandInIssuer,
) -> None:
    assert auth0_like.issuer.endswith("/")
    settings = load_settings(
        trusted_issuers=[auth0_like.issuer],
        token_role_claim="https://lnob.example/role",
        token_org_claim="https://lnob.example/org",
    )
    token = auth0_like.sign(
        {"https://lnob.example/role": "icso", "https://lnob.example/org": "Another ICSO"}
    )
    async with httpx.AsyncClient() as client:
        caller = await resolver_for(settings, client).caller_for_token(token)
    assert (caller.level, caller.organisation) == (Level.COALITION, "Another ICSO")


async def test_tokens_signed_with_the_older_eddsa_name_still_verify(
    keycloak_like: StandInIssuer,
) -> None:
    okp = OKPKey.generate_key("Ed25519", parameters={"kid": "okp-1", "use": "sig"})
    keycloak_like.keys.append(okp)
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    with pytest.warns(SecurityWarning, match="EdDSA is deprecated"):  # joserfc, signing
        token = keycloak_like.sign({"role": "secretariat"}, key=okp, alg="EdDSA")
    async with httpx.AsyncClient() as client:
        caller = await resolver_for(settings, client).caller_for_token(token)
    assert caller.level is Level.COALITION


async def test_unknown_key_id_refreshes_the_keys_once_then_is_refused(
    keycloak_like: StandInIssuer,
) -> None:
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client)
        await resolver.caller_for_token(keycloak_like.sign({"role": "government"}))
        assert keycloak_like.key_fetches == 1
        await resolver.caller_for_token(keycloak_like.sign({"role": "government"}))
        assert keycloak_like.key_fetches == 1  # cached

        stranger = _rsa("rsa-unknown")
        with pytest.raises(TokenInvalid, match="key id"):
            await resolver.caller_for_token(
                keycloak_like.sign({"role": "government"}, key=stranger)
            )
        assert keycloak_like.key_fetches == 2  # refreshed once, still unknown


async def test_forged_key_ids_cannot_flood_the_issuer(keycloak_like: StandInIssuer) -> None:
    now = [1000.0]
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client, refresh_interval=30.0, clock=lambda: now[0])
        await resolver.caller_for_token(keycloak_like.sign({"role": "government"}))
        stranger = _rsa("stranger")
        for n in range(20):
            token = keycloak_like.sign({"role": "government"}, key=stranger, kid=f"forged-{n}")
            with pytest.raises(TokenInvalid):
                await resolver.caller_for_token(token)
        assert keycloak_like.key_fetches == 1
        now[0] += 31
        with pytest.raises(TokenInvalid):
            await resolver.caller_for_token(keycloak_like.sign({}, key=stranger, kid="late"))
        assert keycloak_like.key_fetches == 2


async def test_a_rotated_issuer_key_is_picked_up_without_a_restart(
    keycloak_like: StandInIssuer,
) -> None:
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client)
        await resolver.caller_for_token(keycloak_like.sign({"role": "government"}))
        new_key = _rsa("rsa-2")
        keycloak_like.keys = [new_key]
        caller = await resolver.caller_for_token(
            keycloak_like.sign({"role": "government"}, key=new_key)
        )
        assert caller.level is Level.GOVERNMENT


async def test_keys_are_fetched_again_once_the_cache_expires(keycloak_like: StandInIssuer) -> None:
    now = [0.0]
    settings = load_settings(trusted_issuers=[keycloak_like.issuer], jwks_cache_seconds=60)
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client, refresh_interval=30.0, clock=lambda: now[0])
        token = keycloak_like.sign({"role": "government"})
        await resolver.caller_for_token(token)
        now[0] = 59
        await resolver.caller_for_token(token)
        assert keycloak_like.key_fetches == 1
        now[0] = 61
        await resolver.caller_for_token(token)
        assert keycloak_like.key_fetches == 2


async def test_an_issuer_that_is_down_means_refused_never_public(
    keycloak_like: StandInIssuer,
) -> None:
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    token = keycloak_like.sign({"role": "government"})
    keycloak_like.up = False
    async with httpx.AsyncClient() as client:
        with pytest.raises(TokenInvalid, match="could not be fetched"):
            await resolver_for(settings, client).caller_for_token(token)


async def test_known_keys_keep_working_while_the_issuer_is_down(
    keycloak_like: StandInIssuer,
) -> None:
    now = [0.0]
    settings = load_settings(trusted_issuers=[keycloak_like.issuer], jwks_cache_seconds=60)
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client, clock=lambda: now[0])
        token = keycloak_like.sign({"role": "government"})
        await resolver.caller_for_token(token)
        keycloak_like.up = False
        now[0] = 3600
        assert (await resolver.caller_for_token(token)).level is Level.GOVERNMENT


async def test_metadata_that_names_another_issuer_is_not_used(
    keycloak_like: StandInIssuer,
) -> None:
    keycloak_like.metadata_issuer = "https://someone-else.example"
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    async with httpx.AsyncClient() as client:
        with pytest.raises(TokenInvalid, match="could not be fetched"):
            await resolver_for(settings, client).caller_for_token(
                keycloak_like.sign({"role": "government"})
            )
    assert keycloak_like.key_fetches == 0


async def test_a_symmetric_key_published_in_the_jwks_is_never_used(
    keycloak_like: StandInIssuer,
) -> None:
    """If an issuer's JWK Set ever carried an `oct` key, HS256 tokens made with it still fail."""
    secret = OctKey.generate_key(256, parameters={"kid": "hmac-1"})
    keycloak_like.extra_jwks.append(secret.as_dict(private=True))
    settings = load_settings(trusted_issuers=[keycloak_like.issuer])
    token = jwt.encode(
        {"alg": "HS256", "kid": "hmac-1"},
        {"iss": keycloak_like.issuer, "sub": "x", "aud": "lnob-federation",
         "exp": int(time.time()) + 60, "role": "secretariat"},
        secret,
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        with pytest.raises(TokenInvalid, match="algorithm"):
            await resolver_for(settings, client).caller_for_token(token)


async def test_resolve_reads_the_bearer_header(auth_server: AuthServer) -> None:
    settings = load_settings(trusted_issuers=[auth_server.url])
    token = auth_server.sign(auth_server.claims(role="secretariat"))

    def request(authorization: str | None) -> Request:
        headers = [(b"authorization", authorization.encode())] if authorization else []
        return Request({"type": "http", "headers": headers})

    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client)
        assert (await resolver.resolve(request(None))).level is Level.PUBLIC
        assert (await resolver.resolve(request(f"bearer {token}"))).level is Level.COALITION
        with pytest.raises(TokenInvalid):
            await resolver.resolve(request(f"Bearer {token}x"))


def test_metadata_locations_follow_rfc_8414_and_openid_connect() -> None:
    assert metadata_urls("https://login.example/realms/lnob") == [
        "https://login.example/.well-known/oauth-authorization-server/realms/lnob",
        "https://login.example/realms/lnob/.well-known/openid-configuration",
        "https://login.example/realms/lnob/.well-known/oauth-authorization-server",
    ]
    assert metadata_urls("https://auth.lnob.example") == [
        "https://auth.lnob.example/.well-known/oauth-authorization-server",
        "https://auth.lnob.example/.well-known/openid-configuration",
    ]


def test_only_asymmetric_signing_keys_with_ids_are_imported() -> None:
    rsa = _rsa("rsa-1").as_dict(private=False)
    encryption = {**_rsa("rsa-enc").as_dict(private=False), "use": "enc"}
    no_kid = {k: v for k, v in _rsa("x").as_dict(private=False).items() if k != "kid"}
    private = OKPKey.generate_key("Ed25519", parameters={"kid": "okp"}).as_dict(private=True)
    oct_key = OctKey.generate_key(256, parameters={"kid": "oct"}).as_dict(private=True)
    keys = import_verification_keys(
        {"keys": [rsa, encryption, no_kid, private, oct_key, {"kty": "EC", "kid": "broken"}]}
    )
    assert set(keys) == {"rsa-1", "okp"}
    assert not keys["okp"].is_private


async def test_an_allow_list_serves_unlisted_clients_as_public_and_says_why(
    keycloak_like: StandInIssuer,
) -> None:
    settings = load_settings(
        trusted_issuers=keycloak_like.issuer,
        token_role_claim="realm_access.roles",
        allowed_clients="ministry-of-planning",
    )
    async with httpx.AsyncClient() as client:
        resolver = resolver_for(settings, client)
        listed = keycloak_like.sign(
            {"sub": "ministry-of-planning", "realm_access": {"roles": ["government"]}}
        )
        unlisted = keycloak_like.sign({"realm_access": {"roles": ["government"]}})
        assert (await resolver.caller_for_token(listed)).level is Level.GOVERNMENT
        caller = await resolver.caller_for_token(unlisted)
    assert caller.level is Level.PUBLIC
    assert caller.identity == f"{keycloak_like.issuer}#svc-account"
    assert "not on this node's allow-list" in caller.reason
