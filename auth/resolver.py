"""A node as an OAuth resource server: bearer tokens of trusted issuers become callers.

`TokenResolver` is the node's `CallerResolver` once `LNOB_TRUSTED_ISSUERS` is set. No token
means public; a token that is present but cannot be trusted raises `TokenInvalid` (401) — it is
never quietly read as public. Any OpenID Connect or RFC 8414 issuer works by configuration: the
issuer's keys are found through its metadata document, and the claims naming role and
organisation are settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.jwk import Key
from starlette.requests import HTTPConnection

from auth.caller import ANONYMOUS, Caller
from auth.errors import TokenInvalid
from auth.levels import Level
from auth.tokens import Role, import_verification_keys, read_unverified, verify_access_token
from service.settings import Settings

logger = logging.getLogger(__name__)

# The soonest an issuer's keys are fetched again, however many unknown key ids arrive: a
# stream of forged tokens must not turn the node into a flood of requests to the issuer.
KEY_REFRESH_INTERVAL = 30.0


class TokenResolver:
    """Works out a node's caller from an `Authorization: Bearer` access token.

    Levels: an ICSO client of the node's own organisation is `owner`; other ICSO clients and
    the secretariat are `coalition`; government clients are `government`; no token is `public`.
    """

    def __init__(
        self,
        settings: Settings,
        http_client: httpx.AsyncClient,
        organisation: str,
        *,
        refresh_interval: float = KEY_REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.organisation = organisation
        self._audience = settings.token_audience
        self._leeway = settings.token_clock_skew
        self._role_claim = settings.token_role_claim
        self._org_claim = settings.token_org_claim
        self._allowed_clients = frozenset(settings.allowed_clients)
        self._issuers = {
            issuer: IssuerKeys(
                issuer,
                http_client,
                max_age=settings.jwks_cache_seconds,
                refresh_interval=refresh_interval,
                clock=clock,
            )
            for issuer in settings.trusted_issuers
        }

    async def resolve(self, request: HTTPConnection) -> Caller:
        header = request.headers.get("authorization")
        if header is None:
            return ANONYMOUS
        try:
            return await self.caller_for_token(_bearer_token(header))
        except TokenInvalid as exc:
            logger.info("bearer token refused: %s", exc)
            raise

    async def caller_for_token(self, token: str) -> Caller:
        """The caller a token stands for, or `TokenInvalid` saying why it cannot be trusted."""
        unverified = read_unverified(token)
        keys = self._issuers.get(unverified.issuer)
        if keys is None:
            raise TokenInvalid("token issuer is not trusted by this node")
        key = await keys.key(unverified.key_id)
        claims = verify_access_token(
            token, key, issuer=keys.issuer, audience=self._audience, leeway=self._leeway
        )
        return self._allow_listed(self.caller_for_claims(claims), claims)

    def _allow_listed(self, caller: Caller, claims: Mapping[str, Any]) -> Caller:
        """A node's optional allow-list: a valid token of an unlisted client reads as public."""
        allowed = self._allowed_clients
        if not allowed or caller.identity in allowed or str(claims["sub"]) in allowed:
            return caller
        reason = f"{caller.reason}; client not on this node's allow-list, served as public"
        return Caller(caller.identity, Level.PUBLIC, caller.organisation, reason)

    def caller_for_claims(self, claims: Mapping[str, Any]) -> Caller:
        """Map verified claims to a level; the reason says which rule decided it."""
        identity = f"{claims['iss']}#{claims['sub']}"
        roles = _roles(_claim(claims, self._role_claim))
        if Role.ICSO in roles:
            organisation = _claim(claims, self._org_claim)
            if not isinstance(organisation, str) or not organisation.strip():
                raise TokenInvalid("icso token names no organisation")
            if _same_organisation(organisation, self.organisation):
                reason = f"icso client of {organisation}, this node's organisation"
                return Caller(identity, Level.OWNER, organisation, reason)
            reason = f"icso client of {organisation}, another coalition member"
            return Caller(identity, Level.COALITION, organisation, reason)
        if Role.SECRETARIAT in roles:
            return Caller(identity, Level.COALITION, None, "secretariat client")
        if Role.GOVERNMENT in roles:
            return Caller(identity, Level.GOVERNMENT, None, "government client")
        raise TokenInvalid("token carries no role this node recognises")


class IssuerKeys:
    """One trusted issuer's signing keys by `kid`, found through its metadata, cached for
    `max_age` seconds and fetched again early when a token names a key not yet seen."""

    def __init__(
        self,
        issuer: str,
        http_client: httpx.AsyncClient,
        *,
        max_age: float,
        refresh_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._client = http_client
        self._max_age = max_age
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._keys: dict[str, Key] = {}
        self._jwks_uri: str | None = None
        self._fetched_at: float | None = None
        self._next_attempt = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, key_id: str) -> Key:
        stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age
        if stale and self._may_fetch():
            await self._refresh()
        key = self._keys.get(key_id)
        if key is None and self._may_fetch():
            await self._refresh()  # the issuer may have rotated its key since we last looked
            key = self._keys.get(key_id)
        if key is None:
            if self._fetched_at is None:
                raise TokenInvalid("the issuer's keys could not be fetched")
            raise TokenInvalid("token key id is not among the issuer's keys")
        return key

    def _may_fetch(self) -> bool:
        return self._clock() >= self._next_attempt

    async def _refresh(self) -> None:
        async with self._lock:
            if not self._may_fetch():  # another request refreshed while this one waited
                return
            self._next_attempt = self._clock() + self._refresh_interval
            try:
                jwks_uri = self._jwks_uri or await self._discover()
                response = await self._client.get(jwks_uri, headers={"accept": "application/json"})
                response.raise_for_status()
                keys = import_verification_keys(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                # Keep the keys already known: an issuer's outage must not log everyone out.
                logger.warning("could not fetch the keys of issuer %s: %s", self.issuer, exc)
                return
            self._jwks_uri = jwks_uri
            self._keys = keys
            self._fetched_at = self._clock()
            logger.info("fetched %d signing key(s) of issuer %s", len(keys), self.issuer)

    async def _discover(self) -> str:
        problems = []
        for url in metadata_urls(self.issuer):
            try:
                response = await self._client.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                metadata = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                problems.append(f"{url}: {exc}")
                continue
            # RFC 8414 §3.3: metadata naming another issuer must not be used (mix-up attacks).
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                problems.append(f"{url}: names another issuer")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not _secure_url(jwks_uri):
                problems.append(f"{url}: no https jwks_uri")
                continue
            return jwks_uri
        raise ValueError("no usable metadata document: " + "; ".join(problems))


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: RFC 8414's well-known URI (inserted before the path),
    OpenID Connect discovery (appended, as Keycloak, Azure AD and Auth0 serve it), and the
    RFC 8414 name appended, as servers behind a path prefix serve it."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    base = issuer.rstrip("/")
    candidates = [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server",
    ]
    return list(dict.fromkeys(candidates))


def _bearer_token(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise TokenInvalid("Authorization header is not a bearer token")
    token = token.strip()
    if not token:
        raise TokenInvalid("bearer token is empty")
    return token


def _claim(claims: Mapping[str, Any], name: str) -> object:
    """A claim by name, or by a dotted path into nested objects (`realm_access.roles`) when no
    claim has the full name (Auth0's namespaced claims are URLs with dots in them)."""
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _roles(value: object) -> set[Role]:
    values = value if isinstance(value, list) else [value]
    names = {v.strip().lower() for v in values if isinstance(v, str)}
    return {role for role in Role if role.value in names}


def _same_organisation(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
