"""Whether a parsed document can run: valid, naming one operation GraphQL-over-HTTP serves, with
variables that coerce. Anything else is a request error, reported before execution starts."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import get_variable_values

from service.http_errors import VALIDATION_FAILED, graphql_error

OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
BAD_USER_INPUT = "BAD_USER_INPUT"


class RequestError(Exception):
    """The document cannot run; `errors` are what the client is told."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "request error")
        self.errors = errors


def require_runnable(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    operation: OperationDefinitionNode | None,
    validation_errors: tuple[GraphQLError, ...],
    variables: dict[str, Any] | None,
    *,
    hide_suggestions: bool,
) -> None:
    """Raise `RequestError` unless `document`'s `operation` (the one `operation_name` chose)
    can be executed with `variables`."""
    if validation_errors:
        raise RequestError(
            [graphql_error(e, VALIDATION_FAILED, trusted=True) for e in validation_errors]
        )
    if operation is None:
        message = _unresolved(document, operation_name)
        raise RequestError([_error(OPERATION_RESOLUTION_FAILURE, message)])
    if operation.operation is OperationType.SUBSCRIPTION:
        message = "Subscriptions are not served over HTTP."
        raise RequestError([_error(OPERATION_NOT_SUPPORTED, message)])
    coerced = get_variable_values(
        schema,
        operation.variable_definitions or (),
        variables or {},
        hide_suggestions=hide_suggestions,
    )
    if isinstance(coerced, list):
        raise RequestError([graphql_error(e, BAD_USER_INPUT, trusted=True) for e in coerced])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _unresolved(document: DocumentNode, operation_name: str | None) -> str:
    if operation_name is not None:
        return f"Unknown operation named '{operation_name}'."
    if any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
        return "Must provide operationName if the document contains several operations."
    return "The document contains no operation."
