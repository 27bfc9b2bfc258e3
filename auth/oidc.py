"""OpenID Connect sign-in: authlib's authorization code grant, with PKCE (S256 only, required)
and OpenID Connect's ID token, over our users, clients and codes.

authlib's grant does the checking RFC 6749, RFC 7636 and OpenID Connect Core ask for; this
module supplies the storage (codes spent atomically in the auth database), the claims, and two
tightenings: a code challenge is required of every client (not only public ones), and only the
S256 method is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.common.encoding import to_unicode, urlsafe_b64encode  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import OAuth2Request  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.util import scope_to_list  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from authlib.oidc.core import UserInfo  # type: ignore[import-untyped]
from authlib.oidc.core.grants import OpenIDCode  # type: ignore[import-untyped]

from auth import codes, users
from auth.codes import CodeGrant
from auth.tokens import ISSUED_ALGORITHM, ORG_CLAIM, ROLE_CLAIM, issue_id_token
from auth.users import UserRecord
from service.db import utcnow

if TYPE_CHECKING:
    from auth.server import TokenServer

logger = logging.getLogger(__name__)

SCOPES = ("openid", "profile")
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
PKCE_METHOD = "S256"
MAX_STATE_LENGTH = 512
MAX_NONCE_LENGTH = 255
CLAIMS_SUPPORTED = ("sub", "name", ROLE_CLAIM, ORG_CLAIM, "iss", "aud", "exp", "iat", "auth_time",
                    "nonce")  # fmt: skip

# authlib logs issued tokens and codes at DEBUG in these modules; no secret may reach a log.
QUIET_LOGGERS = (
    AuthorizationCodeGrant.__module__,
    OpenIDCode.__module__,
    "authlib.oauth2.rfc6749.authorization_server",
    "authlib.oauth2.rfc6749.authenticate_client",
)


def allowed_scope(scope: str | None) -> str:
    """The requested scopes this server grants, in a stable order."""
    requested = set(scope_to_list(scope) or [])
    return " ".join(name for name in SCOPES if name in requested)


def user_claims(user: UserRecord) -> dict[str, str]:
    """What tokens, the ID token and /userinfo say about a person."""
    claims = {"sub": user.subject, "name": user.name, ROLE_CLAIM: user.role.value}
    if user.organisation is not None:
        claims[ORG_CLAIM] = user.organisation
    return claims


def s256(verifier: str) -> str:
    return to_unicode(urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()))  # type: ignore[no-any-return]


def _s256_matches(verifier: str, challenge: str) -> bool:
    return hmac.compare_digest(s256(verifier), challenge)


class RequiredS256(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) on every authorization request, with the S256 method only: `plain`
    protects nothing once the request is seen, and confidential clients need it too (RFC 9700
    §2.1.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = PKCE_METHOD
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = [PKCE_METHOD]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {PKCE_METHOD: _s256_matches}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        if data.get("code_challenge_method") != PKCE_METHOD:
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class SignInIdToken(OpenIDCode):  # type: ignore[misc]
    """OpenID Connect for the code grant: nonce replay check and the ID token, signed with the
    issuer's key as access tokens are."""

    def __init__(self, server: TokenServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        with self.server.sessions() as session:
            return codes.nonce_used(session, request.payload.client_id, nonce)

    def generate_user_info(self, user: UserRecord, scope: str) -> UserInfo:
        return UserInfo(user_claims(user))

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        grant: CodeGrant = request.authorization_code
        claims: dict[str, Any] = {
            **self.generate_user_info(request.user, token["scope"]),
            "auth_time": grant.get_auth_time(),
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        settings = self.server.settings
        return issue_id_token(
            self.server.key,
            issuer=settings.auth_issuer,
            client_id=request.client.get_client_id(),
            claims=claims,
            lifetime=settings.token_lifetime,
        )


class SignInCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """The authorization code grant for web clients, its codes in the auth database."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: TokenServer

    def validate_requested_scope(self) -> None:
        requested = set(scope_to_list(self.request.payload.scope) or [])
        unknown = sorted(requested - set(SCOPES))
        if unknown:
            raise InvalidScopeError(f"scopes offered here: {' '.join(SCOPES)}")

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        if len(data.get("state") or "") > MAX_STATE_LENGTH:
            raise InvalidRequestError("state is too long", redirect_uri=redirect_uri)
        if len(data.get("nonce") or "") > MAX_NONCE_LENGTH:
            raise InvalidRequestError("nonce is too long", redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: UserRecord = request.user
        data = request.payload.data
        grant = CodeGrant(
            client_id=request.client.get_client_id(),
            subject=user.subject,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce") or None,
            code_challenge=data["code_challenge"],
            code_challenge_method=PKCE_METHOD,
            auth_time=utcnow(),
        )
        with self.server.sessions.begin() as session:
            codes.store_code(session, code, grant)
            users.record_sign_in(session, user.subject)
        logger.info("%s signed in to client %s", user.subject, grant.client_id)

    def generate_authorization_code(self) -> str:
        return codes.new_code()

    def query_authorization_code(self, code: str, client: Any) -> CodeGrant | None:
        with self.server.sessions.begin() as session:
            grant = codes.spend_code(session, code, client.get_client_id())
        if grant is None:
            logger.info("refused an unknown, spent, expired or misdirected code")
        return grant

    def delete_authorization_code(self, authorization_code: CodeGrant) -> None:
        """Nothing to do: the code was spent when it was read."""

    def authenticate_user(self, authorization_code: CodeGrant) -> UserRecord | None:
        with self.server.sessions() as session:
            return users.find_active_user(session, authorization_code.subject)


def provider_metadata(issuer: str) -> dict[str, Any]:
    """OpenID Connect discovery and RFC 8414 metadata (one document serves both)."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "userinfo_endpoint": f"{base}/userinfo",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": [PKCE_METHOD],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": list(SCOPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ISSUED_ALGORITHM],
        "claims_supported": [*CLAIMS_SUPPORTED],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
