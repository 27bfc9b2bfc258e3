"""The GraphQL-over-HTTP endpoint: one request in, one answer out, and an outcome recorded.

A document that fails to parse, validate, name an operation or coerce its variables is a request
error: 400 with `application/graphql-response+json`, but 200 with `application/json`, whose
clients cannot tell a 4xx GraphQL answer from a proxy's page. An executed operation answers
200, field errors and partial data included.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, cast, overload

import anyio.to_thread
import strawberry
from graphql import OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from auth.errors import TokenInvalid
from schema.execution import answered_as_json
from service.errors import LnobError
from service.graphql_http import negotiation
from service.graphql_http.exchange import ContextT, Exchange, GraphQLOutcome
from service.graphql_http.limits import DocumentChecker, GraphQLLimits
from service.graphql_http.negotiation import GRAPHQL_RESPONSE_JSON, HTML, JSON
from service.graphql_http.operation import RequestError, require_runnable
from service.graphql_http.request import Params, Refusal, get_params, post_params
from service.http_errors import (
    INTERNAL_ERROR,
    challenge_headers,
    domain_error,
    graphql_error,
    internal_error,
    json_response,
    status_for,
)

logger = logging.getLogger(__name__)


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
        self._documents = DocumentChecker(schema._schema, limits)
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
        exchange: Exchange[ContextT] = Exchange()
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

    async def _respond(self, request: Request, exchange: Exchange[ContextT]) -> Response:
        try:
            return await self._handle(request, exchange)
        except Refusal as refusal:
            return self._reply(
                exchange, refusal.status, {"errors": [refusal.error]}, refusal.headers
            )

    async def _handle(self, request: Request, exchange: Exchange[ContextT]) -> Response:
        # HEAD is GET without a body; starlette routes it here for every GET route.
        method = "GET" if request.method == "HEAD" else request.method
        if method not in ("GET", "POST"):
            raise Refusal(405, "METHOD_NOT_ALLOWED", "Use GET or POST.", {"Allow": "GET, POST"})
        qualities = negotiation.qualities(request.headers.get("accept"))
        best = max((GRAPHQL_RESPONSE_JSON, JSON), key=lambda media: qualities[media])
        if (
            method == "GET"
            and "query" not in request.query_params
            and self._limits.graphiql
            and qualities[HTML] > qualities[best]
        ):
            return HTMLResponse(self._graphiql_html)
        if qualities[best] <= 0:
            raise Refusal(
                406,
                "NOT_ACCEPTABLE",
                f"Accept {GRAPHQL_RESPONSE_JSON} or {JSON} (UTF-8).",
            )
        exchange.media_type = best
        if method == "POST":
            params = await post_params(request, self._limits.max_body_bytes)
        else:
            params = get_params(request)
        exchange.document = params.query
        exchange.operation_name = params.operation_name
        refused = await self._enter_context(request, exchange)
        if refused is not None:
            return refused
        try:
            return await self._graphql(method, params, exchange)
        finally:
            await self._close(exchange)

    async def _enter_context(
        self, request: Request, exchange: Exchange[ContextT]
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

    async def _graphql(self, method: str, params: Params, exchange: Exchange[ContextT]) -> Response:
        document, parse_failure, errors = self._documents.check(params.query)
        if document is None:
            return self._request_error(exchange, [dict(parse_failure or {})])

        operation = get_operation_ast(document, params.operation_name)
        if operation is not None:
            exchange.operation_type = operation.operation.value
            exchange.operation_name = operation.name.value if operation.name else None
            if method == "GET" and operation.operation is OperationType.MUTATION:
                raise Refusal(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "Mutations are not run over GET; send them with POST.",
                    {"Allow": "POST"},
                )

        try:
            require_runnable(
                self._schema._schema,  # graphql-core's schema, which strawberry executes
                document,
                params.operation_name,
                operation,
                errors,
                params.variables,
                hide_suggestions=not self._limits.introspection,
            )
        except RequestError as error:
            return self._request_error(exchange, error.errors)
        result = await self._execute(method, params, exchange)
        return self._executed(exchange, result)

    async def _execute(
        self, method: str, params: Params, exchange: Exchange[ContextT]
    ) -> ExecutionResult:
        allowed = (
            (StrawberryOperationType.QUERY,)
            if method == "GET"
            else (StrawberryOperationType.QUERY, StrawberryOperationType.MUTATION)
        )
        arguments: dict[str, Any] = {
            "variable_values": params.variables,
            "context_value": exchange.context,
            "operation_name": params.operation_name,
            "allowed_operation_types": allowed,
            "operation_extensions": params.extensions,
        }
        # The answer is only ever written out with orjson (`_executed`): long lists of plain
        # objects may come as their JSON text (`answered_as_json`).
        if self._execute_in_thread:

            def run() -> ExecutionResult:
                try:
                    with answered_as_json():
                        return self._schema.execute_sync(params.query, **arguments)
                finally:
                    self._close_now(exchange)

            return await anyio.to_thread.run_sync(run)
        try:
            with answered_as_json():
                return await self._schema.execute(params.query, **arguments)
        finally:
            self._close_now(exchange)

    def _executed(self, exchange: Exchange[ContextT], result: ExecutionResult) -> Response:
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
        self, exchange: Exchange[ContextT], errors: list[dict[str, Any]]
    ) -> Response:
        return self._reply(exchange, self._request_error_status(exchange), {"errors": errors})

    @staticmethod
    def _request_error_status(exchange: Exchange[ContextT]) -> int:
        return 400 if exchange.media_type == GRAPHQL_RESPONSE_JSON else 200

    @staticmethod
    def _reply(
        exchange: Exchange[ContextT],
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> Response:
        exchange.error_codes = tuple(
            str(error.get("extensions", {}).get("code", "")) for error in body.get("errors", ())
        )
        return json_response(body, status, exchange.media_type, headers)

    def _close_now(self, exchange: Exchange[ContextT]) -> None:
        if self._close_context is None or not exchange.has_context or exchange.closed:
            return
        exchange.closed = True
        self._close_context(cast(ContextT, exchange.context))

    async def _close(self, exchange: Exchange[ContextT]) -> None:
        """Close a context that never reached execution, in the thread execution would use."""
        if self._close_context is None or not exchange.has_context or exchange.closed:
            return
        if self._execute_in_thread:
            await anyio.to_thread.run_sync(self._close_now, exchange)
        else:
            self._close_now(exchange)
