"""What one GraphQL-over-HTTP request has revealed, for its answer and for the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.graphql_http.negotiation import JSON


@dataclass(frozen=True, slots=True)
class GraphQLOutcome:
    """What happened to one request, for the audit log and metrics."""

    operation_type: str | None
    operation_name: str | None
    document: str | None
    status_code: int
    error_codes: tuple[str, ...]


ContextT = TypeVar("ContextT")


@dataclass(slots=True)
class Exchange(Generic[ContextT]):
    """What one request has revealed so far; refused requests report whatever is known."""

    media_type: str = JSON
    context: ContextT | None = None
    has_context: bool = False
    closed: bool = False
    operation_type: str | None = None
    operation_name: str | None = None
    document: str | None = None
    error_codes: tuple[str, ...] = field(default_factory=tuple)
