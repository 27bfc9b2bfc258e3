"""The caller of a request, and the extension point that works it out from the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

from auth.levels import Level


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked (`identity`, as the audit log writes it), the level they got, and why."""

    identity: str
    level: Level
    organisation: str | None = None
    reason: str = ""


ANONYMOUS = Caller(identity="anonymous", level=Level.PUBLIC, reason="no token")


class CallerResolver(Protocol):
    """Works out the caller of an HTTP request; raises `auth.errors.TokenInvalid` on a bad token."""

    async def resolve(self, request: HTTPConnection) -> Caller: ...


class AnonymousResolver:
    """Every caller is public: the behaviour of a node that trusts no token issuer."""

    async def resolve(self, request: HTTPConnection) -> Caller:
        return ANONYMOUS


class StaticResolver:
    """Every request gets the same caller: for a node's own tools (a "see as" preview, scripts
    run by the owner on the node's machine) — never for a node that serves others."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    async def resolve(self, request: HTTPConnection) -> Caller:
        return self.caller
