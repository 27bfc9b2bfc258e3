"""The secretariat's OAuth 2.0 authorization server and OpenID Connect provider:
`create_auth_app(settings)`.

Machine clients (secretariat scripts, government partner systems, ICSO teams) get short-lived
JWT access tokens with the client-credentials grant at `POST /token`, authenticating with
`client_secret_basic` or `client_secret_post`. People sign in to web clients (the dashboards)
with the authorization code grant and PKCE (`/authorize`, `auth.authorize`), and get an access
token of the same kind, for their own role and organisation, with an OpenID Connect ID token.
Nodes verify the tokens with the keys at `/.well-known/jwks.json`, found through the metadata
at `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.

authlib has no Starlette server integration; its framework-independent `AuthorizationServer`,
grants and client authentication run here behind a small request adapter, and its RFC 8414 and
OpenID Connect discovery models check the document we publish.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    ClientMixin,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant  # type: ignore[import-untyped]
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # type: ignore[import-untyped]
from authlib.oidc.discovery import OpenIDProviderMetadata  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth import clients
from auth.authorize import FormPayload, SignIn
from auth.clients import ActiveClient
from auth.keys import SigningKey, load_key_file
from auth.oidc import (
    AUTH_METHODS,
    QUIET_LOGGERS,
    RequiredS256,
    SignInCodeGrant,
    SignInIdToken,
    allowed_scope,
    provider_metadata,
    user_claims,
)
from auth.signin_page import FormSigner, error_page
from auth.tokens import issue_access_token, public_jwks
from auth.userinfo import userinfo_response
from auth.users import UserRecord
from service.db import make_engine, make_session_factory
from service.errors import ConfigError
from service.hardening import harden
from service.health import database_ready, healthz, readyz
from service.settings import Settings

logger = logging.getLogger(__name__)

MAX_TOKEN_REQUEST_BYTES = 8192
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class AuthState:
    """What the authorization server holds for its lifetime, built in the lifespan."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    signing_key: SigningKey
    oauth: TokenServer
    token_endpoint: str
    sign_in: SignIn


def create_auth_app(settings: Settings) -> Starlette:
    """The authorization server over `LNOB_AUTH_DATABASE_URL`, signing with `LNOB_AUTH_KEY_FILE`."""
    metadata = server_metadata(settings)
    # authlib logs every token and code it issues at DEBUG; none may ever reach a log.
    for name in (ClientCredentialsGrant.__module__, *QUIET_LOGGERS):
        logging.getLogger(name).setLevel(logging.INFO)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.auth_database_url)
        sessions = make_session_factory(engine)
        key = load_auth_key(settings)
        oauth = TokenServer(settings, sessions, key)
        app.state.auth = AuthState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            signing_key=key,
            oauth=oauth,
            token_endpoint=metadata["token_endpoint"],
            sign_in=SignIn(oauth, FormSigner(key), metadata["authorization_endpoint"]),
        )
        try:
            yield
        finally:
            engine.dispose()

    def state_of(request: Request) -> AuthState:
        state: AuthState = request.app.state.auth
        return state

    async def token(request: Request) -> Response:
        state = state_of(request)
        form = await _read_form(request)
        if isinstance(form, str):
            return _invalid_request(form)
        oauth_request = StarletteOAuth2Request(state.token_endpoint, request.headers, form)
        response: Response = await run_in_threadpool(
            state.oauth.create_token_response, oauth_request
        )
        return response

    async def authorize(request: Request) -> Response:
        sign_in = state_of(request).sign_in
        if request.method == "GET":
            query: dict[str, list[str]] = {}
            for name, value in request.query_params.multi_items():
                query.setdefault(name, []).append(value)
            shown: Response = await run_in_threadpool(sign_in.show, query)
            return shown
        form = await _read_form(request)
        if isinstance(form, str):
            return error_page("This sign-in form cannot be read", form)
        submitted: Response = await run_in_threadpool(sign_in.submit, form)
        return submitted

    async def userinfo(request: Request) -> Response:
        state = state_of(request)
        response: Response = await run_in_threadpool(
            userinfo_response, request.headers, state.settings, state.signing_key, state.sessions
        )
        return response

    async def jwks(request: Request) -> Response:
        return JSONResponse(
            public_jwks([state_of(request).signing_key]),
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def well_known(request: Request) -> Response:
        return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=3600"})

    app = Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/userinfo", userinfo, methods=["GET", "POST"]),
            Route("/.well-known/jwks.json", jwks),
            Route("/.well-known/openid-configuration", well_known),
            Route("/.well-known/oauth-authorization-server", well_known),
            Route("/healthz", healthz),
            Route(
                "/readyz", readyz(lambda request: database_ready(state_of(request).engine, "auth"))
            ),
        ],
        lifespan=lifespan,
    )
    from service.metrics import instrument

    harden(app, settings)
    instrument(app, "auth")
    return app


def server_metadata(settings: Settings) -> dict[str, Any]:
    """The OpenID Connect discovery document, which is also the RFC 8414 one; refuses an issuer
    that either specification does not allow."""
    metadata = provider_metadata(settings.auth_issuer)
    try:
        AuthorizationServerMetadata(metadata).validate()
        _ProviderMetadata(metadata).validate()
    except ValueError as exc:
        raise ConfigError(f"LNOB_AUTH_ISSUER: {exc}") from None
    return metadata


def load_auth_key(settings: Settings) -> SigningKey:
    if not settings.auth_key_file.exists():
        raise ConfigError(
            f"token signing key {settings.auth_key_file} not found: run `lnob auth init` "
            "or set LNOB_AUTH_KEY_FILE"
        )
    secret = settings.auth_key_passphrase
    return load_key_file(
        settings.auth_key_file, secret.get_secret_value().encode("utf-8") if secret else None
    )


class _ProviderMetadata(OpenIDProviderMetadata):  # type: ignore[misc]
    def validate_id_token_signing_alg_values_supported(self) -> None:
        # Discovery asks every provider to offer RS256; ours signs with its one Ed25519 key, as
        # it signs access tokens, and says so. Relying parties read the list and verify.
        if not self.get("id_token_signing_alg_values_supported"):
            raise ValueError('"id_token_signing_alg_values_supported" is required')


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered client as authlib's grants and client authentication ask about it. A web
    client (with redirect URIs) uses only the authorization code grant, a machine client only
    client credentials: a dashboard's secret never buys a token of its own."""

    def __init__(self, client: ActiveClient) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.record.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        wanted = "authorization_code" if self.client.record.is_web_client else "client_credentials"
        return grant_type == wanted

    def check_response_type(self, response_type: str) -> bool:
        return self.client.record.is_web_client and response_type == "code"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 §4.1.3): no prefixes, no normalising.
        return redirect_uri in self.client.record.redirect_uris

    def get_default_redirect_uri(self) -> None:
        """None: every authorization request must name its redirect URI."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return allowed_scope(scope) if self.client.record.is_web_client else ""


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A token request as authlib reads it. `uri` is the configured token endpoint rather than
    the URL the request arrived at, which behind a TLS-terminating proxy would say http."""

    def __init__(self, uri: str, headers: Headers, form: dict[str, list[str]]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = FormPayload(form)

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        return {}


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server with our grants, client store, users and codes."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], key: SigningKey):
        super().__init__()
        self.settings = settings
        self.sessions = sessions
        self.key = key
        self.register_grant(_ClientCredentials)
        self.register_grant(SignInCodeGrant, [RequiredS256(), SignInIdToken(self)])
        self.register_token_generator("default", self._generate_token)

    def query_client(self, client_id: str) -> _Client | None:
        with self.sessions() as session:
            found = clients.find_active_client(session, client_id)
        return _Client(found) if found is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        record = request.client.client.record
        user: UserRecord | None = request.user
        if user is not None:
            logger.info("issued an access token to %s through %s", user.subject, record.client_id)
        else:
            logger.info("issued an access token to %s (%s)", record.client_id, record.role)
        with self.sessions.begin() as session:
            clients.record_token_issued(session, record.client_id)

    def validate_requested_scope(self, scope: str | None) -> None:
        """For client credentials (the code grant checks its own): a client's role decides."""
        if scope:
            raise InvalidScopeError("no scopes are granted here: a client's role decides access")

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: dict[str, Any] | str, headers: list[tuple[str, str]]
    ) -> Response:
        content = json.dumps(body) if isinstance(body, dict) else body
        return Response(content, status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """authlib's hook for framework signals; nothing listens here."""

    def _generate_token(
        self,
        grant_type: str,
        client: _Client,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        record = client.client.record
        lifetime = self.settings.token_lifetime
        issuer, audience = self.settings.auth_issuer, self.settings.token_audience
        if isinstance(user, UserRecord):
            # A person's token is the same kind as a machine's: nodes map its role and
            # organisation to a level exactly as they map a client's.
            claims = user_claims(user)
            access_token = issue_access_token(
                self.key, issuer=issuer, audience=audience, subject=user.subject,
                role=user.role, organisation=user.organisation, lifetime=lifetime,
                client_id=record.client_id, name=claims["name"], scope=scope,
            )  # fmt: skip
            # No refresh token: a person signs in again when the access token has expired.
            return {"token_type": "Bearer", "access_token": access_token,
                    "expires_in": lifetime, "scope": scope or ""}  # fmt: skip
        assert record.role is not None  # only machine clients may use client credentials
        access_token = issue_access_token(
            self.key,
            issuer=issuer,
            audience=audience,
            subject=record.client_id,
            role=record.role,
            organisation=record.organisation,
            lifetime=lifetime,
        )
        # client credentials never carry a refresh token (RFC 6749 §4.4.3)
        return {"token_type": "Bearer", "access_token": access_token, "expires_in": lifetime}


async def _read_form(request: Request) -> dict[str, list[str]] | str:
    """The request's form parameters, or what is wrong with it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        return f"send the request as {FORM}"
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            return "the request is too large"
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return "the request is not a valid form"
    repeated = sorted(name for name, values in form.items() if len(values) > 1)
    if repeated:
        # RFC 6749 §3.2: parameters must not be included more than once.
        return f"repeated parameter: {', '.join(repeated)}"
    return form


def _invalid_request(description: str) -> Response:
    status, body, headers = InvalidRequestError(description)()
    return Response(json.dumps(body), status_code=status, headers=dict(headers))
