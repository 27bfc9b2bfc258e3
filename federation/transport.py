"""How the coordinator reaches a node: one small interface, and the HTTP transport behind it.

A node answers a GraphQL document however it arrives. `NodeTransport` is that one call, so a
transport for nodes that connect out (and pull queued questions) can sit beside `HttpTransport`.

`HttpTransport` hands every answer to a `ResponseVerifier` before reading it: an answer that does
not verify against the keys registered for that node is dropped (`NodeUntrusted`). What verified
is reported to `collect_signatures()`, so the fan-out can pass each source's signature on.

Unless it is given one client to share, `HttpTransport` keeps one connection pool per node
origin: a pool hands out connections by walking all of its own, so one pool shared by every node
makes each request's cost grow with the number of nodes asked at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auth.keys import jwk_thumbprint, public_key_from_jwk
from auth.signatures import Rejection, SignatureRejected, VerifiedSignature, verify_response
from service.errors import LnobError
from service.logging import current_traceparent

logger = logging.getLogger(__name__)

SourceState = Literal["OK", "TIMEOUT", "UNREACHABLE", "ERROR", "UNTRUSTED"]

ACCEPT = "application/graphql-response+json, application/json;q=0.9"


@dataclass(frozen=True, slots=True)
class RetiredNodeKey:
    """A node's previous key, still accepted until `valid_until` (after an accepted rotation)."""

    key_id: str
    public_key: Mapping[str, str]
    valid_until: dt.datetime


class NodeAddress(Protocol):
    """Where a node is and which keys speak for it; `RegisteredNode` is one."""

    @property
    def node_id(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def public_key(self) -> Mapping[str, str] | None: ...

    @property
    def retired_keys(self) -> Sequence[RetiredNodeKey]: ...


@dataclass(frozen=True, slots=True)
class NodeEndpoint:
    """A node known only by its URL (before it is registered), and the key it presents."""

    url: str
    node_id: str = "(unregistered)"
    public_key: Mapping[str, str] | None = None
    retired_keys: Sequence[RetiredNodeKey] = ()


def node_keys(node: NodeAddress, now: dt.datetime | None = None) -> dict[str, Ed25519PublicKey]:
    """The keys an answer of `node` may be signed with at `now`, by key id: its registered key
    and its retired keys still in their overlap. Never another node's."""
    moment = now or dt.datetime.now(dt.UTC)
    keys: dict[str, Ed25519PublicKey] = {}
    if node.public_key is not None:
        key_id, key = _public_key(_frozen(node.public_key))
        keys[key_id] = key
    for retired in node.retired_keys:
        if moment < retired.valid_until:
            keys[retired.key_id] = _public_key(_frozen(retired.public_key))[1]
    return keys


def _frozen(jwk: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(jwk.items()))


@functools.lru_cache(maxsize=1024)
def _public_key(jwk: tuple[tuple[str, str], ...]) -> tuple[str, Ed25519PublicKey]:
    # Every answer is verified against its node's keys: decode each JWK once, not per answer.
    # Keyed by the key material itself, so a key replaced in the registry is never mistaken.
    as_dict = dict(jwk)
    return jwk_thumbprint(as_dict), public_key_from_jwk(as_dict)


class NodeCallError(LnobError):
    """A node did not give a usable answer; `status` is what the answer's `sources` says."""

    code = "NODE_FAILED"
    status: SourceState = "ERROR"


class NodeUnreachable(NodeCallError):
    code = "NODE_UNREACHABLE"
    status: SourceState = "UNREACHABLE"


class NodeTimeout(NodeCallError):
    code = "NODE_TIMEOUT"
    status: SourceState = "TIMEOUT"


class NodeBadAnswer(NodeCallError):
    """The node answered, but with an error, garbage, or a schema this coordinator cannot read."""

    code = "NODE_ERROR"
    status: SourceState = "ERROR"


class NodeUntrusted(NodeCallError):
    code = "NODE_UNTRUSTED"
    status: SourceState = "UNTRUSTED"


@dataclass(frozen=True, slots=True)
class Provenance:
    """A node answer's verified signature, with what a partner needs to check it again."""

    signature: VerifiedSignature
    http_status: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a response may be used, and why; `provenance` is the signature that verified."""

    trusted: bool
    reason: str
    provenance: Provenance | None = None
    rejection: Rejection | None = None


ResponseVerifier = Callable[[NodeAddress, httpx.Response], Awaitable[Verdict]]


def check_signature(node: NodeAddress, response: httpx.Response) -> Verdict:
    """Verify `response` against the keys `node` holds (`node_keys`), with no rotation."""
    try:
        signature = verify_response(
            node_keys(node),
            status=response.status_code,
            headers=response.headers,
            body=response.content,
        )
    except SignatureRejected as exc:
        return Verdict(
            trusted=False,
            reason=f"the answer's signature was refused: {exc}",
            rejection=exc.reason,
        )
    provenance = Provenance(
        signature, response.status_code, response.headers.get("content-type", "")
    )
    return Verdict(trusted=True, reason=f"signed by key {signature.key_id}", provenance=provenance)


async def verify_registered_keys(node: NodeAddress, response: httpx.Response) -> Verdict:
    """The default verifier: the answer must be signed by a key `node` holds.

    A node known by its URL alone (no key yet, while it is being registered) is asked who it
    is; `registry.fetch_identity` then checks that answer against the key the node presents.
    """
    if node.public_key is None:
        return Verdict(trusted=True, reason="no key registered yet: checked by the caller")
    return check_signature(node, response)


_SIGNATURES: contextvars.ContextVar[list[Provenance] | None] = contextvars.ContextVar(
    "lnob_answer_signatures", default=None
)


@contextlib.contextmanager
def collect_signatures() -> Iterator[list[Provenance]]:
    """Gather the signatures of the answers verified within this block (in this task)."""
    seen: list[Provenance] = []
    token = _SIGNATURES.set(seen)
    try:
        yield seen
    finally:
        _SIGNATURES.reset(token)


class NodeTransport(Protocol):
    """Sends one GraphQL document to one node and returns the answer's `data` object."""

    async def execute(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> dict[str, Any]: ...


def graphql_endpoint(url: str) -> str:
    """A node's GraphQL URL from what an operator typed (`http://host:8101` or `…/graphql`)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"node URL {url!r} must start with http:// or https://")
    return url if url.endswith("/graphql") else f"{url}/graphql"


def data_of(body: object) -> dict[str, Any]:
    """The `data` of a GraphQL response body, or `NodeBadAnswer` naming what was wrong."""
    if not isinstance(body, dict):
        raise NodeBadAnswer("the node's answer is not a JSON object")
    errors = body.get("errors")
    if errors:
        raise NodeBadAnswer(_describe_errors(errors))
    data = body.get("data")
    if not isinstance(data, dict):
        raise NodeBadAnswer("the node's answer has no `data` object")
    return data


def _describe_errors(errors: object) -> str:
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "the node answered with a malformed error list"
    first = errors[0]
    extensions = first.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    message = str(first.get("message", "no message"))[:300]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"the node answered with an error: {code + ': ' if code else ''}{message}{more}"


# Connection errors worth one more try: refused or reset connections, and a kept-alive
# connection the node closed before answering. GraphQL queries are reads, so a retry is safe.
RETRYABLE = (httpx.NetworkError, httpx.RemoteProtocolError)


class HttpTransport:
    """GraphQL over HTTP (POST, JSON) to a node's public API.

    With `client`, every node is reached through that one client (its owner closes it).
    Without, each node origin gets a client of its own, opened on first use with `limits` and
    closed with the transport (`aclose`, or `async with`).
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float,
        retry_backoff: float,
        verify_response: ResponseVerifier = verify_registered_keys,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.retry_backoff = retry_backoff
        self.verify_response = verify_response
        self.limits = limits or httpx.Limits()
        self._clients: dict[tuple[str, str, int | None], httpx.AsyncClient] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the clients this transport opened (never the one it was given)."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    @property
    def pools(self) -> dict[str, httpx.AsyncClient]:
        """The clients this transport opened, by node origin (`http://host:port`)."""
        return {
            f"{scheme}://{host}" + (f":{port}" if port is not None else ""): client
            for (scheme, host, port), client in self._clients.items()
        }

    def client_for(self, url: str) -> httpx.AsyncClient:
        """The client that reaches `url`: the shared one, or the one of its origin."""
        if self.client is not None:
            return self.client
        if self._closed:
            raise RuntimeError("the node transport is closed")
        parsed = _parsed_url(url)
        origin = (parsed.scheme, parsed.host, parsed.port)
        client = self._clients.get(origin)
        if client is None:
            if self._tls is None:
                # Building a TLS context reads the CA bundle: once for every node, not per node.
                self._tls = httpx.create_ssl_context()
            client = httpx.AsyncClient(
                timeout=self.timeout, limits=self.limits, verify=self._tls, follow_redirects=False
            )
            self._clients[origin] = client
        return client

    async def execute(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> dict[str, Any]:
        headers = {"Accept": ACCEPT}
        if authorization is not None:
            headers["Authorization"] = authorization
        if (traceparent := current_traceparent()) is not None:
            headers["traceparent"] = traceparent  # one question, followed across processes
        payload: dict[str, object] = {"query": document, "variables": dict(variables)}
        client = self.client_for(node.url)
        try:
            # The node's timeout bounds the whole call, retry included: one budget per node.
            async with asyncio.timeout(self.timeout):
                response = await self._post(client, node, payload, headers)
        except TimeoutError:
            raise NodeTimeout(f"no answer within {self.timeout:g} s") from None
        verdict = await self.verify_response(node, response)
        if not verdict.trusted:
            raise NodeUntrusted(verdict.reason)
        collected = _SIGNATURES.get()
        if collected is not None and verdict.provenance is not None:
            collected.append(verdict.provenance)
        body = _json_body(response)
        if response.is_error and not (isinstance(body, dict) and body.get("errors")):
            raise NodeBadAnswer(f"HTTP {response.status_code} without a GraphQL error")
        return data_of(body)

    async def _post(
        self,
        client: httpx.AsyncClient,
        node: NodeAddress,
        payload: dict[str, object],
        headers: dict[str, str],
    ) -> httpx.Response:
        try:
            return await self._post_once(client, node, payload, headers)
        except RETRYABLE as exc:
            logger.info("node %s: %s; retrying once", node.node_id, _reason(exc))
        await asyncio.sleep(self.retry_backoff)
        try:
            return await self._post_once(client, node, payload, headers)
        except RETRYABLE as exc:
            raise NodeUnreachable(f"{_reason(exc)} (tried twice)") from None

    async def _post_once(
        self,
        client: httpx.AsyncClient,
        node: NodeAddress,
        payload: dict[str, object],
        headers: dict[str, str],
    ) -> httpx.Response:
        try:
            return await client.post(_parsed_url(node.url), json=payload, headers=headers)
        except httpx.TimeoutException:
            raise NodeTimeout(f"no answer within {self.timeout:g} s") from None
        except RETRYABLE:
            raise
        except httpx.HTTPError as exc:
            raise NodeUnreachable(_reason(exc)) from None


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> httpx.URL:
    # Parsing a URL (quoting each part) is a visible share of a request's cost: once per node.
    return httpx.URL(url)


def _json_body(response: httpx.Response) -> object:
    # JSON over HTTP is UTF-8 (RFC 8259); orjson decodes a node's answer several times faster
    # than the standard library, a visible share of a 50-node fan-out.
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise NodeBadAnswer(
            f"HTTP {response.status_code}: the answer is not JSON"
            f" ({response.headers.get('content-type', 'no content type')})"
        ) from None


def _reason(exc: httpx.HTTPError) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {detail}"[:300]
