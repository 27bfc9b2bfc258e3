"""Errors at the HTTP edge: domain errors to statuses, and every error masked to a code and message.

A client reads `message` and `extensions.code`. Domain errors (`LnobError` subclasses) were
written for it and pass through; GraphQL syntax and validation errors describe the client's own
document and pass through; anything else is logged here and answered as "Internal server error",
so no stack trace, SQL or exception text ever leaves the process.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response

from auth.errors import TokenInvalid
from service.errors import BadRequest, ConfigError, LnobError, NotFound, NotInitialised

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "INTERNAL_ERROR"
INTERNAL_MESSAGE = "Internal server error"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INVALID_TOKEN_MESSAGE = "The bearer token is invalid or has expired."  # noqa: S105 (not a secret)

# Most specific first: the first class an error is an instance of decides its status.
_STATUS_BY_ERROR: tuple[tuple[type[LnobError], int], ...] = (
    (NotFound, 404),
    (BadRequest, 400),
    (TokenInvalid, 401),
    (ConfigError, 503),
    (NotInitialised, 503),
)


def status_for(exc: LnobError) -> int:
    """The HTTP status of a domain error answered outside GraphQL (downloads, health)."""
    for error_class, status in _STATUS_BY_ERROR:
        if isinstance(exc, error_class):
            return status
    return 500


def challenge_headers(exc: LnobError) -> dict[str, str]:
    """Headers a refusal must carry: RFC 6750 asks a 401 for a bad token to say so."""
    if isinstance(exc, TokenInvalid):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return {}


def domain_error(exc: LnobError) -> dict[str, Any]:
    """A domain error as one GraphQL-shaped error; the bare root class counts as internal."""
    if _is_internal(exc):
        logger.error("unexpected %s", type(exc).__name__, exc_info=exc)
        return internal_error()
    if isinstance(exc, TokenInvalid):
        # Why a token failed (expiry, issuer, key id) helps an attacker more than a client.
        message = INVALID_TOKEN_MESSAGE
    else:
        message = str(exc) or exc.code.replace("_", " ").capitalize()
    return {"message": message, "extensions": {"code": exc.code}}


def graphql_error(error: GraphQLError, default_code: str, *, trusted: bool) -> dict[str, Any]:
    """One GraphQL error as the client may see it, keeping its locations and path.

    `trusted` says the error's own message may be shown: true for parse and validation errors,
    whose text describes the client's document. During execution only domain errors and
    GraphQL errors that name their own `extensions.code` are shown; the rest are masked.
    """
    underlying = _underlying(error)
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations is not None:
        formatted["locations"] = [location.formatted for location in error.locations]
    if error.path is not None:
        formatted["path"] = error.path
    if isinstance(underlying, LnobError):
        shown = domain_error(underlying)
        formatted["message"] = shown["message"]
        formatted["extensions"] = shown["extensions"]
        return formatted
    own_code = error.extensions.get("code") if error.extensions else None
    if underlying is None and (trusted or own_code is not None):
        formatted["extensions"] = {**(error.extensions or {}), "code": own_code or default_code}
        return formatted
    logger.error(
        "GraphQL error masked at %s: %s",
        error.path or "request",
        error.message,
        exc_info=underlying or error,
    )
    return {**formatted, **internal_error()}


def internal_error() -> dict[str, Any]:
    """The only thing a client learns of a failure nobody planned for."""
    return {"message": INTERNAL_MESSAGE, "extensions": {"code": INTERNAL_ERROR}}


def json_response(
    body: dict[str, Any], status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON body in `media_type`, always UTF-8 and saying so."""
    return Response(
        encode_json(body),
        status_code=status,
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )


class JsonText:
    """A value already written as JSON, placed by `encode_json` as it is. (Not a dataclass:
    orjson would write a dataclass's fields instead of asking `_placed`.)"""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


def encode_json(body: dict[str, Any]) -> bytes:
    """`body` as compact UTF-8 JSON, keys in their order, never a `NaN` or `Infinity` token.

    orjson writes a page of cells several times faster than the standard library. A non-finite
    float becomes `null` there (GraphQL's `Float` already refuses them, so only a `JSON` scalar
    could hold one). What orjson will not write (an integer beyond 64 bits, a key that is not a
    string, a subclass of float) goes to the standard library, which writes it or raises as
    it always did; a string that is not valid Unicode raises in both. A `JsonText` is placed
    as it is by orjson, and read back for the standard library.
    """
    try:
        return orjson.dumps(body, default=_placed)
    except orjson.JSONEncodeError:
        text = json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_read_back
        )
        return text.encode("utf-8")


def _placed(value: object) -> orjson.Fragment:
    if type(value) is JsonText:
        return orjson.Fragment(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _read_back(value: object) -> Any:
    if type(value) is JsonText:
        return json.loads(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_response(exc: LnobError, status: int, media_type: str) -> Response:
    """A domain error as a GraphQL-shaped body (`{"errors": [...]}`) for routes outside GraphQL."""
    return json_response(
        {"errors": [domain_error(exc)]}, status, media_type, headers=challenge_headers(exc)
    )


def _is_internal(exc: LnobError) -> bool:
    return type(exc) is LnobError or exc.code == INTERNAL_ERROR


def _underlying(error: GraphQLError) -> Exception | None:
    """The exception a resolver raised, looking through GraphQL errors that wrap it."""
    cause = error.original_error
    while isinstance(cause, GraphQLError):
        if cause.original_error is None:
            return None
        cause = cause.original_error
    return cause
