"""GraphQL over HTTP for a strawberry schema, as the graphql-over-http draft asks (MUST and SHOULD).

One starlette endpoint answers GET and POST at `/graphql`:

- the response media type follows `Accept` and its q-values, `application/graphql-response+json`
  winning ties and standing in for a missing header (the spec's post-2025 default), with
  `application/json` kept for legacy clients and 406 when neither is acceptable;
- a request that is not a well-formed GraphQL-over-HTTP request is refused with a 4xx status
  whatever the media type (400, 405, 406, 413, 415), as are bad bearer tokens (401);
- a document that fails to parse, validate (including this server's depth, alias, token and
  introspection limits), name an operation or coerce its variables is a request error: 400 with
  `application/graphql-response+json`, but 200 with `application/json`, whose clients cannot tell
  a 4xx GraphQL answer from a proxy's page;
- an executed operation answers 200, field errors and partial data included.

Every error carries `extensions.code` and is masked by `service.http_errors`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, overload

import anyio.to_thread
import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import ASTValidationRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from auth.errors import TokenInvalid
from service.errors import LnobError
from service.http_errors import (
    INTERNAL_ERROR,
    PARSE_FAILED,
    VALIDATION_FAILED,
    challenge_headers,
    domain_error,
    graphql_error,
    internal_error,
    json_response,
    status_for,
)
from service.settings import Settings

logger = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
BAD_USER_INPUT = "BAD_USER_INPUT"
BAD_REQUEST = "BAD_REQUEST"

_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """What one request may ask; the defaults are those documented for `LNOB_…` settings."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_body_bytes: int = 1_000_000
    introspection: bool = True
    graphiql: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphQLLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_body_bytes=settings.max_body_bytes,
            introspection=settings.introspection,
            graphiql=settings.graphiql,
        )


@dataclass(frozen=True, slots=True)
class GraphQLOutcome:
    """What happened to one request, for the audit log and metrics."""

    operation_type: str | None
    operation_name: str | None
    document: str | None
    status_code: int
    error_codes: tuple[str, ...]


ContextT = TypeVar("ContextT")


class _Refusal(Exception):
    """The request is refused before any GraphQL work: a status, one error, maybe headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "extensions": {"code": code}}
        self.headers = headers


@dataclass(frozen=True, slots=True)
class _Params:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


@dataclass(slots=True)
class _Exchange(Generic[ContextT]):
    """What one request has revealed so far; refused requests report whatever is known."""

    media_type: str = JSON
    context: ContextT | None = None
    has_context: bool = False
    closed: bool = False
    operation_type: str | None = None
    operation_name: str | None = None
    document: str | None = None
    error_codes: tuple[str, ...] = field(default_factory=tuple)


class GraphQLHTTP(Generic[ContextT]):
    """A starlette endpoint serving `schema`: `Route("/graphql", GraphQLHTTP(...), methods=[...])`.

    `get_context` builds the typed context (it may raise `TokenInvalid`: 401). With
    `execute_in_thread`, execution (sync resolvers doing database work) runs in a worker thread
    and `close_context` runs in that same thread; otherwise execution is async, in the loop.
    `after_request` is awaited for every request once its answer is known; if it fails, the
    answer is withheld and a 500 sent instead, so nothing leaves that was not recorded.
    """

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        get_context: Callable[[Request], Awaitable[ContextT]],
        limits: GraphQLLimits,
        after_request: Callable[[Request, ContextT | None, GraphQLOutcome], Awaitable[None]]
        | None = None,
        execute_in_thread: bool = False,
        close_context: Callable[[ContextT], None] | None = None,
    ) -> None:
        self._schema = schema
        self._get_context = get_context
        self._limits = limits
        self._after_request = after_request
        self._execute_in_thread = execute_in_thread
        self._close_context = close_context
        rules: list[type[ASTValidationRule]] = [
            *specified_rules,
            MaybeNullValidationRule,  # strawberry validates with these two as well
            OneOfInputValidationRule,
            _depth_limit(limits.max_depth),
            _alias_limit(limits.max_aliases),
        ]
        if not limits.introspection:
            rules.append(_NoIntrospection)
        self._rules = tuple(rules)
        self._graphiql_html = get_graphql_ide_html("graphiql") if limits.graphiql else ""

    @overload
    async def __call__(self, request: Request, /) -> Response: ...

    @overload
    async def __call__(self, scope: Scope, receive: Receive, send: Send, /) -> None: ...

    async def __call__(
        self,
        request: Request | Scope,
        receive: Receive | None = None,
        send: Send | None = None,
        /,
    ) -> Response | None:
        """Answer `request`; as an ASGI app (how starlette's `Route` calls an object), send it."""
        if isinstance(request, Request):
            return await self.handle(request)
        assert receive is not None and send is not None
        response = await self.handle(Request(request, receive))
        await response(request, receive, send)
        return None

    async def handle(self, request: Request) -> Response:
        """The answer to one GraphQL-over-HTTP request; never raises."""
        exchange: _Exchange[ContextT] = _Exchange()
        try:
            response = await self._respond(request, exchange)
        except Exception:
            logger.exception("GraphQL request failed")
            response = self._reply(exchange, 500, {"errors": [internal_error()]})
        if self._after_request is not None:
            outcome = GraphQLOutcome(
                operation_type=exchange.operation_type,
                operation_name=exchange.operation_name,
                document=exchange.document,
                status_code=response.status_code,
                error_codes=exchange.error_codes,
            )
            try:
                await self._after_request(request, exchange.context, outcome)
            except Exception:
                logger.exception("after_request failed; the answer is withheld")
                response = self._reply(exchange, 500, {"errors": [internal_error()]})
        return response

    async def _respond(self, request: Request, exchange: _Exchange[ContextT]) -> Response:
        try:
            return await self._handle(request, exchange)
        except _Refusal as refusal:
            return self._reply(
                exchange, refusal.status, {"errors": [refusal.error]}, refusal.headers
            )

    async def _handle(self, request: Request, exchange: _Exchange[ContextT]) -> Response:
        # HEAD is GET without a body; starlette routes it here for every GET route.
        method = "GET" if request.method == "HEAD" else request.method
        if method not in ("GET", "POST"):
            raise _Refusal(405, "METHOD_NOT_ALLOWED", "Use GET or POST.", {"Allow": "GET, POST"})
        qualities = _qualities(request.headers.get("accept"))
        best = max((GRAPHQL_RESPONSE_JSON, JSON), key=lambda media: qualities[media])
        if (
            method == "GET"
            and "query" not in request.query_params
            and self._limits.graphiql
            and qualities[HTML] > qualities[best]
        ):
            return HTMLResponse(self._graphiql_html)
        if qualities[best] <= 0:
            raise _Refusal(
                406,
                "NOT_ACCEPTABLE",
                f"Accept {GRAPHQL_RESPONSE_JSON} or {JSON} (UTF-8).",
            )
        exchange.media_type = best
        if method == "POST":
            params = await self._post_params(request)
        else:
            params = _get_params(request)
        exchange.document = params.query
        exchange.operation_name = params.operation_name
        refused = await self._enter_context(request, exchange)
        if refused is not None:
            return refused
        try:
            return await self._graphql(method, params, exchange)
        finally:
            await self._close(exchange)

    async def _post_params(self, request: Request) -> _Params:
        content_type = request.headers.get("content-type")
        media_type, parameters = _media_type(content_type or "")
        if media_type != JSON or parameters.get("charset", "utf-8") != "utf-8":
            raise _Refusal(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send the body as {JSON} (UTF-8); got {content_type or 'no Content-Type'}.",
            )
        body = await _read_body(request, self._limits.max_body_bytes)
        try:
            raw = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise _Refusal(400, BAD_REQUEST, "The request body is not valid JSON.") from None
        if isinstance(raw, list):
            raise _Refusal(
                400, BAD_REQUEST, "Batching is not supported: send one operation per request."
            )
        if not isinstance(raw, dict):
            raise _Refusal(400, BAD_REQUEST, "The request body must be a JSON object.")
        return _params(raw)

    async def _enter_context(
        self, request: Request, exchange: _Exchange[ContextT]
    ) -> Response | None:
        try:
            exchange.context = await self._get_context(request)
        except TokenInvalid as exc:
            body = {"errors": [domain_error(exc)]}
            return self._reply(exchange, 401, body, challenge_headers(exc))
        except LnobError as exc:
            return self._reply(exchange, status_for(exc), {"errors": [domain_error(exc)]})
        exchange.has_context = True
        return None

    async def _graphql(
        self, method: str, params: _Params, exchange: _Exchange[ContextT]
    ) -> Response:
        limits = self._limits
        graphql_schema = self._schema._schema  # graphql-core's schema, which strawberry executes
        try:
            document = parse(
                params.query,
                max_lexical_tokens=limits.max_tokens,
                max_comments=limits.max_tokens,
            )
        except GraphQLError as error:
            return self._request_error(exchange, [_parse_failure(error, limits)])

        operation = get_operation_ast(document, params.operation_name)
        if operation is not None:
            exchange.operation_type = operation.operation.value
            exchange.operation_name = operation.name.value if operation.name else None
            if method == "GET" and operation.operation is OperationType.MUTATION:
                raise _Refusal(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "Mutations are not run over GET; send them with POST.",
                    {"Allow": "POST"},
                )

        hide_suggestions = not limits.introspection
        errors = validate(graphql_schema, document, self._rules, hide_suggestions=hide_suggestions)
        if errors:
            return self._request_error(
                exchange, [graphql_error(e, VALIDATION_FAILED, trusted=True) for e in errors]
            )
        if operation is None:
            message = _unresolved_operation(document, params.operation_name)
            return self._request_error(exchange, [_error(OPERATION_RESOLUTION_FAILURE, message)])
        if operation.operation is OperationType.SUBSCRIPTION:
            message = "Subscriptions are not served over HTTP."
            return self._request_error(exchange, [_error(OPERATION_NOT_SUPPORTED, message)])
        coerced = get_variable_values(
            graphql_schema,
            operation.variable_definitions or (),
            params.variables or {},
            hide_suggestions=hide_suggestions,
        )
        if isinstance(coerced, list):
            return self._request_error(
                exchange, [graphql_error(e, BAD_USER_INPUT, trusted=True) for e in coerced]
            )

        result = await self._execute(method, params, exchange)
        return self._executed(exchange, result)

    async def _execute(
        self, method: str, params: _Params, exchange: _Exchange[ContextT]
    ) -> ExecutionResult:
        allowed = (
            (StrawberryOperationType.QUERY,)
            if method == "GET"
            else (StrawberryOperationType.QUERY, StrawberryOperationType.MUTATION)
        )
        if self._execute_in_thread:

            def run() -> ExecutionResult:
                try:
                    return self._schema.execute_sync(
                        params.query,
                        variable_values=params.variables,
                        context_value=exchange.context,
                        operation_name=params.operation_name,
                        allowed_operation_types=allowed,
                        operation_extensions=params.extensions,
                    )
                finally:
                    self._close_now(exchange)

            return await anyio.to_thread.run_sync(run)
        try:
            return await self._schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=exchange.context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        finally:
            self._close_now(exchange)

    def _executed(self, exchange: _Exchange[ContextT], result: ExecutionResult) -> Response:
        raw_errors = result.errors or []
        errors = [graphql_error(e, INTERNAL_ERROR, trusted=False) for e in raw_errors]
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = errors
        if result.data is None and raw_errors and all(e.path is None for e in raw_errors):
            # Execution stopped before any field ran: a request error, so no `data` entry.
            internal = all(e["extensions"]["code"] == INTERNAL_ERROR for e in errors)
            status = 500 if internal else self._request_error_status(exchange)
        else:
            body["data"] = result.data
            status = 200
        if result.extensions:
            body["extensions"] = result.extensions
        return self._reply(exchange, status, body)

    def _request_error(
        self, exchange: _Exchange[ContextT], errors: list[dict[str, Any]]
    ) -> Response:
        return self._reply(exchange, self._request_error_status(exchange), {"errors": errors})

    @staticmethod
    def _request_error_status(exchange: _Exchange[ContextT]) -> int:
        return 400 if exchange.media_type == GRAPHQL_RESPONSE_JSON else 200

    @staticmethod
    def _reply(
        exchange: _Exchange[ContextT],
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Response:
        exchange.error_codes = tuple(
            str(error.get("extensions", {}).get("code", "")) for error in body.get("errors", ())
        )
        return json_response(body, status, exchange.media_type, headers)

    def _close_now(self, exchange: _Exchange[ContextT]) -> None:
        if self._close_context is None or not exchange.has_context or exchange.closed:
            return
        exchange.closed = True
        self._close_context(cast(ContextT, exchange.context))

    async def _close(self, exchange: _Exchange[ContextT]) -> None:
        """Close a context that never reached execution, in the thread execution would use."""
        if self._close_context is None or not exchange.has_context or exchange.closed:
            return
        if self._execute_in_thread:
            await anyio.to_thread.run_sync(self._close_now, exchange)
        else:
            self._close_now(exchange)


def _qualities(accept: str | None) -> dict[str, float]:
    """The q of each media type we produce, from its most specific range (RFC 9110 §12.5.1)."""
    if accept is None or not accept.strip():
        return {GRAPHQL_RESPONSE_JSON: 1.0, JSON: 0.0, HTML: 0.0}
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media_range, parameters = _media_type(part)
        if not media_range:
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        if not 0.0 <= quality <= 1.0:
            continue  # not a q-value (RFC 9110 §12.4.2), so not a range we can honour
        if parameters.get("charset", "utf-8") != "utf-8":
            continue  # we only speak UTF-8; the range names nothing we can send
        ranges.append((media_range, quality))
    qualities = {}
    for offered in (GRAPHQL_RESPONSE_JSON, JSON, HTML):
        kind = offered.split("/")[0]
        best: tuple[int, float] = (-1, 0.0)
        for media_range, quality in ranges:
            if media_range == offered:
                specificity = 2
            elif media_range == f"{kind}/*":
                specificity = 1
            elif media_range == "*/*":
                specificity = 0
            else:
                continue
            best = max(best, (specificity, quality))
        qualities[offered] = best[1]
    return qualities


def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` lowercased, and parameters with lowercased names and unquoted values."""
    media_type, *rest = header.split(";")
    parameters = {}
    for item in rest:
        name, _, value = item.partition("=")
        parameters[name.strip().lower()] = value.strip().strip('"').lower()
    return media_type.strip().lower(), parameters


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = _Refusal(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise _Refusal(400, BAD_REQUEST, "Content-Length is not a number.")
        if int(declared) > limit:
            raise too_large
    body = bytearray()
    # Content-Length may be absent (chunked) or wrong: count what actually arrives.
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _get_params(request: Request) -> _Params:
    raw: dict[str, Any] = {}
    for name in ("query", "operationName", "variables", "extensions"):
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise _Refusal(400, BAD_REQUEST, f"The `{name}` parameter is given more than once.")
        if values and values[0] != "":
            raw[name] = values[0]
    for name in ("variables", "extensions"):
        if name in raw:
            try:
                raw[name] = json.loads(raw[name])
            except (ValueError, RecursionError):
                raise _Refusal(
                    400, BAD_REQUEST, f"The `{name}` parameter is not valid JSON."
                ) from None
    if "query" not in raw and "query" in request.query_params:
        raw["query"] = ""  # present but empty: a document that will not parse, not a missing one
    return _params(raw)


def _params(raw: Mapping[str, Any]) -> _Params:
    """The four request parameters; `null` is the same as absent (spec, Request Parameters)."""
    query = raw.get("query")
    if query is None:
        raise _Refusal(
            400, BAD_REQUEST, "The `query` parameter is missing: send the GraphQL document."
        )
    if not isinstance(query, str):
        raise _Refusal(400, BAD_REQUEST, "The `query` parameter must be a string.")
    operation_name = raw.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _Refusal(400, BAD_REQUEST, "The `operationName` parameter must be a string.")
    variables = raw.get("variables")
    extensions = raw.get("extensions")
    for name, value in (("variables", variables), ("extensions", extensions)):
        if value is not None and not isinstance(value, dict):
            raise _Refusal(400, BAD_REQUEST, f"The `{name}` parameter must be a JSON object.")
    return _Params(query, operation_name or None, variables, extensions)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _parse_failure(error: GraphQLError, limits: GraphQLLimits) -> dict[str, Any]:
    if "Document contains more than" in error.message:
        message = f"The document has more than {limits.max_tokens} tokens, the most accepted."
        return _error(TOO_MANY_TOKENS, message)
    if "nested too deeply" in error.message:
        return _error(QUERY_TOO_DEEP, "The document is nested too deeply to parse.")
    return graphql_error(error, PARSE_FAILED, trusted=True)


def _unresolved_operation(document: DocumentNode, operation_name: str | None) -> str:
    if operation_name is not None:
        return f"Unknown operation named '{operation_name}'."
    if any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
        return "Must provide operationName if the document contains several operations."
    return "The document contains no operation."


def _depth_limit(max_depth: int) -> type[ValidationRule]:
    class QueryDepth(ValidationRule):
        """Refuses an operation nested deeper than `max_depth` fields, fragments followed."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            try:
                depth = _depth(node.selection_set, self.context, {}, frozenset(), max_depth)
            except RecursionError:
                depth = max_depth + 1
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"The operation is nested more than {max_depth} fields deep, "
                        "the most accepted.",
                        node,
                        extensions={"code": QUERY_TOO_DEEP},
                    )
                )

    return QueryDepth


def _depth(
    selection_set: SelectionSetNode,
    context: ValidationContext,
    fragment_depths: dict[str, int],
    visiting: frozenset[str],
    budget: int,
) -> int:
    """Fields nested below `selection_set`; stops counting once past `budget`.

    Introspection fields are not counted: the introspection switch and graphql-core's
    MaxIntrospectionDepthRule govern them, and GraphiQL's own query is deeper than 12.
    """
    if budget < 0:
        return 0  # already past the limit: the caller's count exceeds it, which is all we need
    deepest = 0
    for selection in selection_set.selections:
        if deepest > budget:
            break
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION_FIELDS:
                continue
            below = 0
            if selection.selection_set is not None:
                below = _depth(
                    selection.selection_set, context, fragment_depths, visiting, budget - 1
                )
            deepest = max(deepest, 1 + below)
        elif isinstance(selection, InlineFragmentNode):
            below = _depth(selection.selection_set, context, fragment_depths, visiting, budget)
            deepest = max(deepest, below)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visiting:
                continue  # a cycle, which NoFragmentCyclesRule reports
            if name not in fragment_depths:
                fragment = context.get_fragment(name)
                fragment_depths[name] = (
                    0
                    if fragment is None
                    else _depth(
                        fragment.selection_set, context, fragment_depths, visiting | {name}, budget
                    )
                )
            deepest = max(deepest, fragment_depths[name])
    return deepest


def _alias_limit(max_aliases: int) -> type[ValidationRule]:
    class AliasCount(ValidationRule):
        """Refuses a document with more than `max_aliases` aliases (each a field run again)."""

        aliases = 0

        def enter_field(self, node: FieldNode, *_args: object) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, node: DocumentNode, *_args: object) -> None:
            if self.aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"The document uses {self.aliases} aliases; at most {max_aliases} "
                        "are accepted.",
                        extensions={"code": TOO_MANY_ALIASES},
                    )
                )

    return AliasCount


class _NoIntrospection(ValidationRule):
    """Refuses `__schema` and `__type` when introspection is off; `__typename` stays."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in _INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(
                    "Introspection is disabled on this server (`__typename` is allowed).",
                    node,
                    extensions={"code": INTROSPECTION_DISABLED},
                )
            )
