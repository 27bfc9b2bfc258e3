"""The caller of a request, and the extension point that works it out from the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

from auth.levels import Level


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked (`identity`, as written to the audit log) and the level they were given, and why."""

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
