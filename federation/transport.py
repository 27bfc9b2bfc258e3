"""How the coordinator reaches a node: one small interface, and the HTTP transport behind it.

A node answers a GraphQL document however it arrives. `NodeTransport` is that one call, so a
transport for nodes that connect out (and pull queued questions) can sit beside `HttpTransport`.

`HttpTransport` hands every answer to a `ResponseVerifier` before reading it: an answer that does
not verify against the keys registered for that node is dropped (`NodeUntrusted`). What verified
is reported to `collect_signatures()`, so the fan-out can pass each source's signature on.

`HttpTransport` speaks HTTP through aiohttp: its C response parser and lighter request path cost
a fraction of a pure-Python client's time per answer, which is what a question to fifty nodes
pays fifty times over. Connections are kept alive per node, so a node is asked again on the
connection it answered on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import logging
import ssl
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

import aiohttp
import httpx
import msgspec
import orjson
import yarl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auth.keys import jwk_thumbprint, public_key_from_jwk
from auth.signatures import Rejection, SignatureRejected, VerifiedSignature, verify_response
from service.errors import LnobError
from service.logging import current_traceparent

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


@dataclass(frozen=True, slots=True)
class NodeResponse:
    """A node's HTTP answer as received: its status, headers (names case-insensitive, as HTTP
    has them) and body, whichever client fetched it."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400


ResponseVerifier = Callable[[NodeAddress, NodeResponse], Awaitable[Verdict]]


def check_signature(node: NodeAddress, response: NodeResponse) -> Verdict:
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


async def verify_registered_keys(node: NodeAddress, response: NodeResponse) -> Verdict:
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
    """Sends one GraphQL document to one node and returns the answer's `data` object: as JSON
    values (`execute`), or read into `shape` with every field's type checked (`execute_as`)."""

    async def execute(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> dict[str, Any]: ...

    async def execute_as(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
        shape: type[T],
    ) -> T: ...


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


class GraphQLAnswer(msgspec.Struct, Generic[T]):
    """A GraphQL response body whose `data` has the shape `T`."""

    data: T | None = None
    errors: list[Any] | None = None


# One decoder per shape read (a handful, all module-level types): building one compiles it.
_DECODERS: dict[object, msgspec.json.Decoder[Any]] = {}


def _decoder(shape: type[T]) -> msgspec.json.Decoder[GraphQLAnswer[T]]:
    decoder = _DECODERS.get(shape)
    if decoder is None:
        decoder = _DECODERS[shape] = msgspec.json.Decoder(GraphQLAnswer[shape])  # type: ignore[valid-type]
    return decoder


def read_answer(response: NodeResponse, shape: type[T]) -> T:
    """The `data` of a node's answer read into `shape`, each field's type checked as it is
    decoded; `NodeBadAnswer` names what was wrong and where (`$.data.coverage[3].cellCount`)."""
    try:
        answer: GraphQLAnswer[T] = _decoder(shape).decode(response.content)
    except msgspec.ValidationError as exc:
        # An error answer may not have the shape (a null `data`, a missing field): say what
        # the node said first, and only then where its data went wrong.
        body = _json_body(response)
        _check_status(response, body)
        data_of(body)
        raise NodeBadAnswer(f"malformed answer: {exc}") from None
    except msgspec.DecodeError:
        raise _not_json(response) from None
    if answer.errors:
        raise NodeBadAnswer(_describe_errors(answer.errors))
    if response.is_error:
        raise NodeBadAnswer(f"HTTP {response.status_code} without a GraphQL error")
    if answer.data is None:
        raise NodeBadAnswer("the node's answer has no `data` object")
    return answer.data


# Connection failures worth one more try: refused or reset connections, a kept-alive connection
# the node closed before answering, a body cut short. GraphQL queries are reads: a retry is safe.
RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)


class HttpTransport:
    """GraphQL over HTTP to a node's public API: a question as a GET when it fits in a URL,
    as a POST of JSON otherwise (`fetch`).

    With `session`, every node is reached through that aiohttp session (its owner closes it).
    Without, the transport opens its own on first use, with at most `connections` open at once,
    and closes it with the transport (`aclose`, or `async with`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float,
        retry_backoff: float,
        verify_response: ResponseVerifier = verify_registered_keys,
        connections: int = 100,
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.retry_backoff = retry_backoff
        self.verify_response = verify_response
        self.connections = connections
        self._own: aiohttp.ClientSession | None = None
        self._closed = False
        self._post_only: set[str] = set()  # node URLs that refused a GET

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
        """Close the session this transport opened (never the one it was given)."""
        self._closed = True
        own, self._own = self._own, None
        if own is not None:
            await own.close()

    @property
    def opened(self) -> aiohttp.ClientSession | None:
        """The session this transport opened, if it has opened one and not closed it."""
        return self._own

    def session_for_requests(self) -> aiohttp.ClientSession:
        """The session that reaches the nodes: the one given, or the transport's own."""
        if self.session is not None:
            return self.session
        if self._closed:
            raise RuntimeError("the node transport is closed")
        if self._own is None:
            connector = aiohttp.TCPConnector(
                limit=self.connections, limit_per_host=0, ssl=_tls_context()
            )
            # No session-wide timeout: `execute` bounds each call, retry included. A proxy named
            # in the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) is used, as by the
            # product's other clients; without one, no request pays for looking it up.
            self._own = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=_proxy_in_environment(),
            )
            # One retry policy, the transport's own (once, after a pause, whatever the method):
            # aiohttp would also resend a GET at once on a dropped connection, and a node that
            # drops every connection would be tried four times. The attribute is the one
            # aiohttp's own test client sets for the same reason; it has no public switch.
            self._own._retry_connection = False
        return self._own

    async def execute(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> dict[str, Any]:
        return await self.execute_as(node, document, variables, authorization, dict[str, Any])

    async def execute_as(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
        shape: type[T],
    ) -> T:
        return read_answer(await self.fetch(node, document, variables, authorization), shape)

    async def fetch(
        self,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        authorization: str | None,
    ) -> NodeResponse:
        """The node's answer to `document`, once its signature has been verified.

        A question whose URL-encoded form is short (every question the coordinator asks, with
        filters of ordinary size) goes as a GET, as GraphQL over HTTP allows for queries; a
        longer one as a POST. A GET leaves in one write as soon as it is made; a POST's body is
        written by aiohttp in a task of its own (before Python 3.12), queued behind every other
        request being set up, so the first of fifty POSTs would leave only after all fifty.
        """
        headers = {"Accept": ACCEPT}
        if authorization is not None:
            headers["Authorization"] = authorization
        if (traceparent := current_traceparent()) is not None:
            headers["traceparent"] = traceparent  # one question, followed across processes
        session = self.session_for_requests()
        try:
            # The node's timeout bounds the whole call, retries included: one budget per node.
            async with asyncio.timeout(self.timeout):
                response = await self._ask(session, node, document, variables, headers)
        except TimeoutError:
            raise NodeTimeout(f"no answer within {self.timeout:g} s") from None
        return await self._verified(node, response)

    async def _ask(
        self,
        session: aiohttp.ClientSession,
        node: NodeAddress,
        document: str,
        variables: Mapping[str, object],
        headers: dict[str, str],
    ) -> NodeResponse:
        query = _query_string(document, orjson.dumps(dict(variables)))
        if (
            len(query) <= GET_QUERY_LIMIT
            and node.url not in self._post_only
            and not _parsed_url(node.url).query_string
        ):
            response = await self._send(
                session, node, ("GET", _url_with_query(node.url, query), None), headers
            )
            if response.status_code != 405:
                return response
            # GraphQL over HTTP asks every server to take a POST and only some to take a GET:
            # a node that refuses the GET is asked by POST from now on.
            self._post_only.add(node.url)
        payload = orjson.dumps({"query": document, "variables": dict(variables)})
        return await self._send(
            session,
            node,
            ("POST", _parsed_url(node.url), payload),
            {**headers, "Content-Type": "application/json"},
        )

    async def _verified(self, node: NodeAddress, response: NodeResponse) -> NodeResponse:
        verdict = await self.verify_response(node, response)
        if not verdict.trusted:
            raise NodeUntrusted(verdict.reason)
        collected = _SIGNATURES.get()
        if collected is not None and verdict.provenance is not None:
            collected.append(verdict.provenance)
        return response

    async def _send(
        self,
        session: aiohttp.ClientSession,
        node: NodeAddress,
        request: _Request,
        headers: dict[str, str],
    ) -> NodeResponse:
        try:
            return await self._send_once(session, request, headers)
        except RETRYABLE as exc:
            logger.info("node %s: %s; retrying once", node.node_id, _reason(exc))
        await asyncio.sleep(self.retry_backoff)
        try:
            return await self._send_once(session, request, headers)
        except RETRYABLE as exc:
            raise NodeUnreachable(f"{_reason(exc)} (tried twice)") from None

    @staticmethod
    async def _send_once(
        session: aiohttp.ClientSession, request: _Request, headers: dict[str, str]
    ) -> NodeResponse:
        method, url, payload = request
        try:
            async with session.request(
                method, url, data=payload, headers=headers, allow_redirects=False
            ) as response:
                content = await response.read()
                return NodeResponse(response.status, response.headers, content)
        except RETRYABLE:
            raise
        except aiohttp.ClientError as exc:
            raise NodeUnreachable(_reason(exc)) from None


# A question as sent: method, URL, and the body of a POST.
_Request = tuple[str, yarl.URL, bytes | None]

# The longest query string sent as a GET: well within what servers and proxies accept in a
# request line (nginx's default buffer for one is 8 kB).
GET_QUERY_LIMIT = 4000


@functools.lru_cache(maxsize=256)
def _query_string(document: str, variables: bytes) -> str:
    # The same question goes to every node: encoded once, not once per node.
    return urllib.parse.urlencode({"query": document, "variables": variables.decode()})


@functools.lru_cache(maxsize=4096)
def _url_with_query(url: str, query: str) -> yarl.URL:
    return yarl.URL(f"{_parsed_url(url)}?{query}", encoded=True)


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> yarl.URL:
    # Parsing a URL (quoting each part) is a visible share of a request's cost: once per node.
    return yarl.URL(url)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # The same trust store as the product's other HTTP clients (certifi, or SSL_CERT_FILE);
    # building it reads the CA bundle: once per process.
    return httpx.create_ssl_context()


def _proxy_in_environment() -> bool:
    proxies = urllib.request.getproxies()
    return "http" in proxies or "https" in proxies


def _check_status(response: NodeResponse, body: object) -> None:
    if response.is_error and not (isinstance(body, dict) and body.get("errors")):
        raise NodeBadAnswer(f"HTTP {response.status_code} without a GraphQL error")


def _json_body(response: NodeResponse) -> object:
    # An answer that did not fit its shape, read as plain JSON to say what is wrong with it.
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise _not_json(response) from None


def _not_json(response: NodeResponse) -> NodeBadAnswer:
    return NodeBadAnswer(
        f"HTTP {response.status_code}: the answer is not JSON"
        f" ({response.headers.get('content-type', 'no content type')})"
    )


def _reason(exc: aiohttp.ClientError) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {detail}"[:300]
