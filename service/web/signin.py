"""Sign-in to the dashboard: OpenID Connect authorization code with PKCE (S256), by discovery.

`/auth/signin` sends the browser to the issuer's `/authorize`; `/auth/callback` trades the code
for tokens (authlib checks state, the PKCE verifier, and the id_token's signature, audience and
nonce); `/auth/signout` (POST) clears the session. The person's access token lives in the signed
session cookie and is what pages pass on (`authorization_header`), so every answer goes through
the same rules as the API. An expired token is a signed-out person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.errors import LnobError
from service.settings import Settings

logger = logging.getLogger(__name__)

USER_KEY = "user"
NEXT_KEY = "next"
CLIENT_NAME = "lnob"

# What each role reads, as the nodes map it (auth/resolver.py); shown beside the person's name.
ROLE_LEVELS = {
    "secretariat": "coalition",
    "government": "government",
    "icso": "coalition; owner of your organisation's data",
}


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in person, as the session holds them."""

    subject: str
    name: str
    organisation: str | None
    role: str
    access_token: str
    expires_at: float

    @property
    def level(self) -> str:
        return ROLE_LEVELS.get(self.role, "public")

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_token}"

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    @classmethod
    def from_session(cls, data: object) -> WebUser | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                subject=str(data["subject"]),
                name=str(data["name"]),
                organisation=None
                if data.get("organisation") is None
                else str(data["organisation"]),
                role=str(data["role"]),
                access_token=str(data["access_token"]),
                expires_at=float(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def current_user(request: Request) -> WebUser | None:
    """The signed-in person, or None (signed out, or their token has expired)."""
    if "session" not in request.scope:
        return None
    user = WebUser.from_session(request.session.get(USER_KEY))
    if user is None or user.expired():
        request.session.pop(USER_KEY, None)
        return None
    return user


def authorization_header(request: Request) -> str | None:
    """`Bearer <access token>` of the signed-in person, None when signed out (= public)."""
    user = current_user(request)
    return None if user is None else user.authorization


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site, else `/`: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class SignIn:
    """The OpenID Connect client of one app, registered from the issuer's discovery document."""

    def __init__(self, issuer: str, client_id: str, client_secret: str | None) -> None:
        # Imported here: an app without sign-in never loads the OAuth client.
        from authlib.integrations.starlette_client import OAuth  # type: ignore[import-untyped]

        self.issuer = issuer.rstrip("/")
        self.oauth = OAuth()
        self.oauth.register(
            CLIENT_NAME,
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SignIn | None:
        """None when sign-in is not configured (no client id, or no issuer to ask)."""
        issuer = settings.sign_in_issuer
        if settings.web_client_id is None or issuer is None:
            return None
        secret = settings.web_client_secret
        return cls(issuer, settings.web_client_id, secret.get_secret_value() if secret else None)

    @property
    def client(self) -> Any:
        return self.oauth.create_client(CLIENT_NAME)

    async def start(self, request: Request) -> Response:
        """GET /auth/signin?next=/path"""
        request.session[NEXT_KEY] = local_path(request.query_params.get("next"))
        redirect_uri = str(request.url_for("auth_callback"))
        response: Response = await self.client.authorize_redirect(request, redirect_uri)
        return response

    async def finish(self, request: Request) -> WebUser:
        """GET /auth/callback: the code traded for tokens; raises `SignInFailed`."""
        if "error" in request.query_params:
            raise SignInFailed(request.query_params.get("error_description") or "sign-in refused")
        from authlib.integrations.starlette_client import OAuthError

        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            raise SignInFailed(exc.description or exc.error or "sign-in failed") from None
        claims = token.get("userinfo") or {}
        expires_at = token.get("expires_at") or time.time() + float(token.get("expires_in", 0))
        user = WebUser(
            subject=str(claims.get("sub", "")),
            name=str(claims.get("name") or claims.get("preferred_username") or claims.get("sub")),
            organisation=claims.get("org"),
            role=str(claims.get("role", "")),
            access_token=str(token["access_token"]),
            expires_at=float(expires_at),
        )
        request.session[USER_KEY] = asdict(user)
        logger.info("signed in: %s (%s)", user.subject, user.role)
        return user


class SignInFailed(LnobError):
    """The provider refused, or its answer did not check out; the message is safe to show."""

    code = "SIGN_IN_FAILED"


def next_page(request: Request) -> RedirectResponse:
    return RedirectResponse(local_path(request.session.pop(NEXT_KEY, "/")), status_code=303)
