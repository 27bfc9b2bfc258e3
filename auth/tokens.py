"""Access tokens: JWTs (RFC 9068 profile) that the authorization server signs and nodes verify.

Signing and verifying use joserfc, which authlib recommends over its deprecated `authlib.jose`.
Only asymmetric algorithms are ever accepted, each bound to the key's type by joserfc, so `none`
and an HMAC keyed with a public key cannot pass; the key is chosen by `kid` from keys the node
fetched from the issuer, never from the token itself (`jwk`, `jku` and `x5u` are ignored).
"""

from __future__ import annotations

import enum
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from auth.errors import TokenInvalid
from auth.keys import SigningKey


class Role(enum.StrEnum):
    """What a machine client is, as the `role` claim says it."""

    SECRETARIAT = "secretariat"
    GOVERNMENT = "government"
    ICSO = "icso"


# The authorization server's claim names; other issuers' names are node settings.
ROLE_CLAIM = "role"
ORG_CLAIM = "org"

# EdDSA over Ed25519, named by its fully specified identifier (RFC 9864).
ISSUED_ALGORITHM = "Ed25519"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
ACCEPTED_ALGORITHMS = frozenset(
    {"Ed25519", "EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384",
     "PS512"}
)  # fmt: skip
# RFC 9068 asks for `at+jwt`; OpenID Connect issuers (Keycloak, Azure AD) write `JWT` or nothing.
ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
MAX_TOKEN_BYTES = 16_384
_ASYMMETRIC_KEYS: tuple[type[Key], ...] = (OKPKey, ECKey, RSAKey)


class _QuietEdDSA(EdDSAAlgorithm):
    # RFC 9864 deprecates the name "EdDSA", not the signature: issuers that still write it
    # (with an Ed25519 or Ed448 key) verify as before, without a warning per request.
    security_warning = ""


def _registry() -> JWSRegistry:
    registry = JWSRegistry(algorithms=sorted(ACCEPTED_ALGORITHMS))
    registry.algorithms = {**JWSRegistry.algorithms, "EdDSA": _QuietEdDSA()}
    return registry


_REGISTRY = _registry()


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """What a token says about itself before its signature is checked: only enough to pick the
    issuer and key. Nothing here may be trusted."""

    algorithm: str
    key_id: str
    issuer: str


def signing_jwk(key: SigningKey) -> OKPKey:
    """The issuer's key as a private JWK, with its RFC 7638 thumbprint as `kid`."""
    return OKPKey.import_key(
        key.private_key, {"kid": key.key_id, "use": "sig", "alg": ISSUED_ALGORITHM}
    )


def public_jwks(keys: list[SigningKey]) -> dict[str, Any]:
    """The JWK Set served at /.well-known/jwks.json: public halves only."""
    return {"keys": [signing_jwk(key).as_dict(private=False) for key in keys]}


def issue_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    role: Role,
    organisation: str | None,
    lifetime: int,
    now: int | None = None,
    client_id: str | None = None,
    name: str | None = None,
    scope: str | None = None,
) -> str:
    """A signed access token. For a machine client `sub` is its client id; for a person signed
    in through a web client `sub` is the person's subject, `client_id` the web client's, and
    `name` their display name."""
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id or subject,
        ROLE_CLAIM: role.value,
    }
    if organisation is not None:
        claims[ORG_CLAIM] = organisation
    if name is not None:
        claims["name"] = name
    if scope:
        claims["scope"] = scope
    header = {"alg": ISSUED_ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": key.key_id}
    return jwt.encode(header, claims, signing_jwk(key), registry=_REGISTRY)


def issue_id_token(
    key: SigningKey,
    *,
    issuer: str,
    client_id: str,
    claims: Mapping[str, Any],
    lifetime: int,
    now: int | None = None,
) -> str:
    """An OpenID Connect ID token for `client_id` (its audience), with the person's `claims`
    (sub, name, role, org, nonce, auth_time)."""
    issued_at = int(time.time()) if now is None else now
    payload = {**claims, "iss": issuer, "aud": client_id, "iat": issued_at,
               "exp": issued_at + lifetime}  # fmt: skip
    header = {"alg": ISSUED_ALGORITHM, "typ": "JWT", "kid": key.key_id}
    return jwt.encode(header, payload, signing_jwk(key), registry=_REGISTRY)


def read_unverified(token: str) -> UnverifiedToken:
    """Parse a compact JWS far enough to choose a key; refuse what no key could make valid."""
    raw = token.encode("ascii", errors="replace")
    if len(raw) > MAX_TOKEN_BYTES:
        raise TokenInvalid("token is too large")
    try:
        obj = jws.extract_compact(raw, registry=_REGISTRY)
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, TypeError):
        raise TokenInvalid("token is not a signed JWT") from None
    header = obj.headers()
    algorithm = header.get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise TokenInvalid(f"token algorithm {str(algorithm)[:20]!r} is not accepted")
    token_type = header.get("typ")
    if token_type is not None and str(token_type).lower() not in ACCEPTED_TYPES:
        raise TokenInvalid("token is not an access token (typ)")
    key_id = header.get("kid")
    if not isinstance(key_id, str) or not key_id:
        raise TokenInvalid("token names no key (kid)")
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise TokenInvalid("token names no issuer")
    return UnverifiedToken(algorithm=str(algorithm), key_id=key_id, issuer=claims["iss"])


def verify_access_token(
    token: str,
    key: Key,
    *,
    issuer: str,
    audience: str,
    leeway: int,
    now: int | None = None,
) -> dict[str, Any]:
    """Check signature, issuer, audience and lifetime; return the claims, or raise
    `TokenInvalid` saying which check failed."""
    try:
        decoded = jwt.decode(token, key, registry=_REGISTRY)
    except BadSignatureError:
        raise TokenInvalid("token signature does not verify") from None
    except JoseError as exc:
        raise TokenInvalid(f"token refused: {exc.error}") from None
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except ExpiredTokenError:
        raise TokenInvalid("token has expired") from None
    except MissingClaimError as exc:
        raise TokenInvalid(f"token lacks required claims: {exc.claim}") from None
    except ClaimError as exc:
        if exc.claim in ("nbf", "iat"):
            raise TokenInvalid("token is not valid yet") from None
        raise TokenInvalid(f"token claim {exc.claim!r} is not acceptable") from None
    return dict(decoded.claims)


def import_verification_keys(jwks: Mapping[str, Any]) -> dict[str, Key]:
    """The signing keys of a JWK Set by `kid`. Symmetric keys, encryption keys, keys without an
    id and keys this library cannot read are left out rather than failing the whole set."""
    found: dict[str, Key] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        return found
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("kty") not in ("OKP", "EC", "RSA"):
            continue
        public = {name: value for name, value in entry.items() if name not in _PRIVATE_MEMBERS}
        try:
            key = KeySet.import_key_set({"keys": [public]}).keys[0]
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, _ASYMMETRIC_KEYS):
            found[kid] = key
    return found


# A JWK Set should hold public keys only; if an issuer ever published private members,
# a node still treats the key as a verification key.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
