"""The secretariat's OAuth 2.0 authorization server: `create_auth_app(settings)`.

Machine clients (secretariat scripts, government partner systems, ICSO teams) get short-lived
JWT access tokens with the client-credentials grant at `POST /token`, authenticating with
`client_secret_basic` or `client_secret_post`. Nodes verify the tokens with the keys at
`/.well-known/jwks.json`, found through the RFC 8414 metadata document at
`/.well-known/oauth-authorization-server`.

authlib has no Starlette server integration; its framework-independent `AuthorizationServer`,
client-credentials grant and client authentication run here behind a small request adapter,
and its RFC 8414 metadata model checks the document we publish.
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
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant  # type: ignore[import-untyped]
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth import clients
from auth.clients import ActiveClient
from auth.keys import SigningKey, load_key_file
from auth.tokens import issue_access_token, public_jwks
from service.db import make_engine, make_session_factory
from service.errors import ConfigError
from service.health import database_ready, healthz, readyz
from service.settings import Settings

logger = logging.getLogger(__name__)

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
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


def create_auth_app(settings: Settings) -> Starlette:
    """The authorization server over `LNOB_AUTH_DATABASE_URL`, signing with `LNOB_AUTH_KEY_FILE`."""
    metadata = server_metadata(settings)
    # authlib logs every token it issues at DEBUG; a bearer token must never reach a log.
    logging.getLogger(ClientCredentialsGrant.__module__).setLevel(logging.INFO)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.auth_database_url)
        sessions = make_session_factory(engine)
        key = load_auth_key(settings)
        app.state.auth = AuthState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            signing_key=key,
            oauth=TokenServer(settings, sessions, key),
            token_endpoint=metadata["token_endpoint"],
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
        if isinstance(form, Response):
            return form
        oauth_request = StarletteOAuth2Request(state.token_endpoint, request.headers, form)
        response: Response = await run_in_threadpool(
            state.oauth.create_token_response, oauth_request
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
            Route("/.well-known/jwks.json", jwks),
            Route("/.well-known/oauth-authorization-server", well_known),
            Route("/healthz", healthz),
            Route(
                "/readyz", readyz(lambda request: database_ready(state_of(request).engine, "auth"))
            ),
        ],
        lifespan=lifespan,
    )
    from service.metrics import instrument

    instrument(app, "auth")
    return app


def server_metadata(settings: Settings) -> dict[str, Any]:
    """The RFC 8414 document; refuses an issuer that RFC 8414 does not allow."""
    base = settings.auth_issuer.rstrip("/")
    metadata = _Metadata(
        {
            "issuer": settings.auth_issuer,
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "response_types_supported": [],
        }
    )
    try:
        metadata.validate()
    except ValueError as exc:
        raise ConfigError(f"LNOB_AUTH_ISSUER: {exc}") from None
    return dict(metadata)


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


class _Metadata(AuthorizationServerMetadata):  # type: ignore[misc]
    def validate_response_types_supported(self) -> None:
        # RFC 8414 lists response types as required, but a server with only the
        # client-credentials grant has no authorization endpoint and so no response types.
        if self.get("response_types_supported") != []:
            super().validate_response_types_supported()


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered client as authlib's grant and client authentication ask about it."""

    def __init__(self, client: ActiveClient) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.record.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        return ""


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class _FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, list[str]]) -> None:
        self._datalist = form
        self._data = {name: values[0] for name, values in form.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A token request as authlib reads it. `uri` is the configured token endpoint rather than
    the URL the request arrived at, which behind a TLS-terminating proxy would say http."""

    def __init__(self, uri: str, headers: Headers, form: dict[str, list[str]]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = _FormPayload(form)

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        return {}


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server with the client-credentials grant and our client store."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], key: SigningKey):
        super().__init__()
        self.settings = settings
        self.sessions = sessions
        self.key = key
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._generate_token)

    def query_client(self, client_id: str) -> _Client | None:
        with self.sessions() as session:
            found = clients.find_active_client(session, client_id)
        return _Client(found) if found is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        record = request.client.client.record
        logger.info("issued an access token to %s (%s)", record.client_id, record.role.value)
        with self.sessions.begin() as session:
            clients.record_token_issued(session, record.client_id)

    def validate_requested_scope(self, scope: str | None) -> None:
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
        access_token = issue_access_token(
            self.key,
            issuer=self.settings.auth_issuer,
            audience=self.settings.token_audience,
            subject=record.client_id,
            role=record.role,
            organisation=record.organisation,
            lifetime=lifetime,
        )
        # client credentials never carry a refresh token (RFC 6749 §4.4.3)
        return {"token_type": "Bearer", "access_token": access_token, "expires_in": lifetime}


async def _read_form(request: Request) -> dict[str, list[str]] | Response:
    """The token request's form parameters, or the OAuth error response refusing it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        return _invalid_request(f"send the token request as {FORM}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            return _invalid_request("the token request is too large")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return _invalid_request("the token request is not a valid form")
    repeated = sorted(name for name, values in form.items() if len(values) > 1)
    if repeated:
        # RFC 6749 §3.2: parameters must not be included more than once.
        return _invalid_request(f"repeated parameter: {', '.join(repeated)}")
    return form


def _invalid_request(description: str) -> Response:
    status, body, headers = InvalidRequestError(description)()
    return Response(json.dumps(body), status_code=status, headers=dict(headers))
