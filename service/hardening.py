"""What every answer of a public API carries: a rate limit per client, CORS, security headers.

`harden(app, settings)` adds three pure ASGI layers to a node or coordinator app, outermost
first:

- `SecurityHeaders`: `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options`,
  `Cross-Origin-Resource-Policy` and a `Content-Security-Policy` on every response, errors and
  refusals included; `Strict-Transport-Security` only when `LNOB_HSTS_SECONDS` says the server
  is reached over https. API answers get a policy that loads nothing; the GraphiQL page gets one
  that admits exactly what strawberry's page loads (its pinned scripts and styles on unpkg and
  its one inline script, by hash) and talks only to its own origin.
- starlette's `CORSMiddleware`, only when `LNOB_CORS_ORIGINS` names origins. Outside the rate
  limit, so a browser page can read a 429 and its `Retry-After`.
- `RateLimit`: a token bucket per client, `LNOB_RATE_LIMIT_BURST` deep and refilled at
  `LNOB_RATE_LIMIT_PER_MINUTE`. Over it the answer is 429, `Retry-After` and a GraphQL-shaped
  error. Probes and metrics are never limited: an orchestrator must always see the process.

The client is its bearer token when it sends one (a SHA-256 of the `Authorization` header is the
key, so no token is held in memory) and otherwise its IP address. Behind a reverse proxy, run
uvicorn with `--forwarded-allow-ips` so the address is the caller's, not the proxy's. Buckets
live in the process: with several replicas each one limits on its own.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import Settings

RATE_LIMITED = "RATE_LIMITED"
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Beyond this many clients the least recently seen bucket is forgotten; it would most likely
# have refilled by the time its client comes back.
MAX_CLIENTS = 100_000

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
GRAPHIQL_ASSETS = "https://unpkg.com"
CORS_ALLOWED_HEADERS = ("Authorization", "Content-Type", "Accept", "traceparent")
CORS_EXPOSED_HEADERS = (
    "Retry-After",
    "X-Request-Id",
    "Content-Disposition",
    "Content-Digest",
    "Signature",
    "Signature-Input",
    "LNOB-Unsigned",
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def harden(app: Starlette, settings: Settings) -> None:
    """Add the rate limit, CORS (when configured) and security headers to `app`, before it
    starts and before `service.metrics.instrument`, so metrics and logs count the 429s too.

    Idempotent: an app already hardened is left as it is."""
    if getattr(app.state, "lnob_hardened", False):
        return
    app.state.lnob_hardened = True
    if settings.rate_limit_per_minute > 0:
        buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        app.add_middleware(RateLimit, buckets=buckets)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(CORS_ALLOWED_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            # Bearer tokens travel in a header; cookies are never needed, so never allowed.
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, hsts_seconds=settings.hsts_seconds)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per client key: `burst` deep, refilled at `per_minute` a minute."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0 if there was one, else the seconds until one."""
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[key] = bucket  # most recently seen last
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def client_key(scope: Scope) -> str:
    """Who is asking, for the rate limit: a hash of the bearer token, else the IP address."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value.strip():
            return "token:" + hashlib.sha256(value.strip()).hexdigest()
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


class RateLimit:
    """ASGI middleware: 429 with `Retry-After` for a client past its bucket."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_key(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"Too many requests: retry after {seconds} second(s).",
                        "extensions": {"code": RATE_LIMITED},
                    }
                ]
            }
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"retry-after", str(seconds).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: security headers on every HTTP response; headers the app set stay."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]
        if hsts_seconds > 0:
            common.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
        self.common = common

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(
                    name.lower() == b"content-type" and value.lower().startswith(b"text/html")
                    for name, value in headers
                )
                policy = graphiql_csp() if html else API_CSP
                for name, value in [*self.common, (b"content-security-policy", policy.encode())]:
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@functools.cache
def graphiql_csp() -> str:
    """The policy of the GraphiQL page: its inline script by hash, its assets from unpkg
    (pinned with subresource integrity by strawberry), requests to its own origin only."""
    from strawberry.http.ides import get_graphql_ide_html

    return html_csp(get_graphql_ide_html("graphiql"))


def html_csp(page: str) -> str:
    """A policy for `page` that runs its inline scripts, and only those, by their hashes."""
    hashes = " ".join(f"'sha256-{_sha256(script)}'" for script in _INLINE_SCRIPT.findall(page))
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {hashes} {GRAPHIQL_ASSETS}",
            # React and GraphiQL set style attributes at run time: no hash can name those.
            f"style-src 'unsafe-inline' {GRAPHIQL_ASSETS}",
            f"font-src data: {GRAPHIQL_ASSETS}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
