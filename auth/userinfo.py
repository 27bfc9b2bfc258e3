"""`/userinfo` (OpenID Connect Core §5.3): who the bearer of a sign-in access token is, now.

The token is checked as a node checks it (signature, issuer, audience, lifetime), must have been
issued to a person with the `openid` scope, and the person must still be an active user.
Refusals follow RFC 6750 §3: 401 `invalid_token` or 403 `insufficient_scope`, with a
`WWW-Authenticate: Bearer` header.
"""

from __future__ import annotations

import logging

from authlib.oauth2.rfc6749.util import scope_to_list  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from auth import users
from auth.errors import TokenInvalid
from auth.keys import SigningKey
from auth.oidc import user_claims
from auth.tokens import signing_jwk, verify_access_token
from service.settings import Settings

logger = logging.getLogger(__name__)


def userinfo_response(
    headers: Headers, settings: Settings, key: SigningKey, sessions: sessionmaker[Session]
) -> Response:
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refuse(401, "invalid_request", "send the access token as a bearer token")
    try:
        claims = verify_access_token(
            token.strip(),
            signing_jwk(key),
            issuer=settings.auth_issuer,
            audience=settings.token_audience,
            leeway=settings.token_clock_skew,
        )
    except TokenInvalid as exc:
        logger.info("userinfo refused a token: %s", exc)
        return _refuse(401, "invalid_token", "the access token is invalid or has expired")
    if "openid" not in (scope_to_list(claims.get("scope")) or []):
        return _refuse(403, "insufficient_scope", "the token was not issued for OpenID Connect")
    with sessions() as session:
        user = users.find_active_user(session, str(claims["sub"]))
    if user is None:
        return _refuse(401, "invalid_token", "the access token is invalid or has expired")
    return JSONResponse(user_claims(user), headers={"Cache-Control": "no-store"})


def _refuse(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )
