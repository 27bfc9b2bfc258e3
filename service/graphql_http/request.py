"""The four GraphQL-over-HTTP request parameters, from a GET's query string or a POST's JSON body.

A request that is not well-formed is refused before any GraphQL work with `Refusal`: a 4xx
status and one error, whatever media type was negotiated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from service.graphql_http.negotiation import JSON, media_type

BAD_REQUEST = "BAD_REQUEST"


class Refusal(Exception):
    """The request is refused before any GraphQL work: a status, one error, maybe headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "extensions": {"code": code}}
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Params:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


async def post_params(request: Request, max_body_bytes: int) -> Params:
    """The parameters of a POST: a JSON object of at most `max_body_bytes`, in UTF-8."""
    content_type = request.headers.get("content-type")
    name, parameters = media_type(content_type or "")
    if name != JSON or parameters.get("charset", "utf-8") != "utf-8":
        raise Refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Send the body as {JSON} (UTF-8); got {content_type or 'no Content-Type'}.",
        )
    body = await _read_body(request, max_body_bytes)
    try:
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise Refusal(400, BAD_REQUEST, "The request body is not valid JSON.") from None
    if isinstance(raw, list):
        raise Refusal(
            400, BAD_REQUEST, "Batching is not supported: send one operation per request."
        )
    if not isinstance(raw, dict):
        raise Refusal(400, BAD_REQUEST, "The request body must be a JSON object.")
    return _params(raw)


def get_params(request: Request) -> Params:
    """The parameters of a GET, each given at most once; `variables` and `extensions` as JSON."""
    raw: dict[str, Any] = {}
    for name in ("query", "operationName", "variables", "extensions"):
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise Refusal(400, BAD_REQUEST, f"The `{name}` parameter is given more than once.")
        if values and values[0] != "":
            raw[name] = values[0]
    for name in ("variables", "extensions"):
        if name in raw:
            try:
                raw[name] = json.loads(raw[name])
            except (ValueError, RecursionError):
                raise Refusal(
                    400, BAD_REQUEST, f"The `{name}` parameter is not valid JSON."
                ) from None
    if "query" not in raw and "query" in request.query_params:
        raw["query"] = ""  # present but empty: a document that will not parse, not a missing one
    return _params(raw)


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = Refusal(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise Refusal(400, BAD_REQUEST, "Content-Length is not a number.")
        if int(declared) > limit:
            raise too_large
    body = bytearray()
    # Content-Length may be absent (chunked) or wrong: count what actually arrives.
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _params(raw: Mapping[str, Any]) -> Params:
    """The four request parameters; `null` is the same as absent (spec, Request Parameters)."""
    query = raw.get("query")
    if query is None:
        raise Refusal(
            400, BAD_REQUEST, "The `query` parameter is missing: send the GraphQL document."
        )
    if not isinstance(query, str):
        raise Refusal(400, BAD_REQUEST, "The `query` parameter must be a string.")
    operation_name = raw.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise Refusal(400, BAD_REQUEST, "The `operationName` parameter must be a string.")
    variables = raw.get("variables")
    extensions = raw.get("extensions")
    for name, value in (("variables", variables), ("extensions", extensions)):
        if value is not None and not isinstance(value, dict):
            raise Refusal(400, BAD_REQUEST, f"The `{name}` parameter must be a JSON object.")
    return Params(query, operation_name or None, variables, extensions)
