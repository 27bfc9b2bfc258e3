"""Signed answers on the wire: the `SignResponses` middleware and the node's identity document.

`SignResponses` holds each HTTP response until its body is complete, then sends it with the
`Content-Digest`, `Signature-Input` and `Signature` headers (`auth.signatures`). A body is only
known once it has all been produced, so a streamed download is buffered up to `max_body_bytes`
(8 MiB by default) and signed if it ends within that bound. A larger one is sent as it streams,
unsigned, and says so: `LNOB-Unsigned: too-large;limit=8388608`. Memory stays bounded per
request, and no client waits for a download of unbounded size to finish before its first byte.
Answers the coordinator verifies (GraphQL) are far below the bound.

It must be the outermost layer that changes bytes (outside any compression), since the digest
covers the bytes as sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.keyring import announce_rotation, load_keyring
from auth.keys import SigningKey
from auth.signatures import DEFAULT_LABEL, sign_response
from service.errors import LnobError
from service.http_errors import error_response, status_for
from service.node.identity import get_identity
from service.settings import Settings

logger = logging.getLogger(__name__)

UNSIGNED_HEADER = b"lnob-unsigned"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_REPLACED = {b"content-digest", b"signature-input", b"signature", UNSIGNED_HEADER}


class SignResponses:
    """ASGI middleware: sign every HTTP response of `app` with the key `key_provider` returns."""

    def __init__(
        self,
        app: ASGIApp,
        key_provider: Callable[[], SigningKey],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        label: str = DEFAULT_LABEL,
    ) -> None:
        self.app = app
        self.key_provider = key_provider
        self.max_body_bytes = max_body_bytes
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A server's zero-copy file sending would bypass the body we digest: hide it from the app.
        extensions = {
            k: v
            for k, v in (scope.get("extensions") or {}).items()
            if k != "http.response.pathsend"
        }
        await self.app({**scope, "extensions": extensions}, receive, _Signer(self, send).send)


class _Signer:
    """One response's way through the middleware: hold, then sign or give up and stream."""

    def __init__(self, middleware: SignResponses, send: Send) -> None:
        self.middleware = middleware
        self.downstream = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False

    async def send(self, message: Message) -> None:
        if self.streaming:
            await self.downstream(message)
        elif message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body" and self.start is not None:
            await self._body(message)
        else:
            await self.downstream(message)

    async def _body(self, message: Message) -> None:
        assert self.start is not None
        chunk: bytes = message.get("body", b"")
        self.chunks.append(chunk)
        self.size += len(chunk)
        if message.get("more_body", False):
            if self.size > self.middleware.max_body_bytes:
                limit = self.middleware.max_body_bytes
                await self._send_unsigned(f"too-large;limit={limit}", more_body=True)
            return
        body = b"".join(self.chunks)
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() not in _REPLACED]
        content_type = b", ".join(v for k, v in headers if k.lower() == b"content-type")
        if not content_type:
            await self._send_unsigned("no-content-type", more_body=False)
            return
        try:
            signed = sign_response(
                self.middleware.key_provider(),
                status=self.start["status"],
                content_type=content_type.decode("latin-1"),
                body=body,
                label=self.middleware.label,
            )
        except Exception:  # an unsigned answer beats none; a verifier treats it as untrusted
            logger.exception("response could not be signed: sent unsigned")
            await self._send_unsigned("signing-failed", more_body=False)
            return
        headers += [(name.lower().encode("ascii"), v.encode("ascii")) for name, v in signed.items()]
        await self.downstream({**self.start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_unsigned(self, reason: str, *, more_body: bool) -> None:
        assert self.start is not None
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() not in _REPLACED]
        headers.append((UNSIGNED_HEADER, reason.encode("ascii")))
        await self.downstream({**self.start, "headers": headers})
        await self.downstream(
            {"type": "http.response.body", "body": b"".join(self.chunks), "more_body": more_body}
        )
        self.chunks.clear()
        self.streaming = True


class NodeStateView(Protocol):
    """What the identity document needs from a running node's state."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...


def node_identity_document(
    settings: Settings, sessions: sessionmaker[Session], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The node's identity document as served: read from the database and the keyring on disk."""
    with sessions() as session:
        identity = get_identity(session)
        node_id, name, organisation = identity.node_id, identity.name, identity.organisation
    passphrase = settings.key_passphrase
    keyring = load_keyring(
        settings.key_file, passphrase.get_secret_value().encode("utf-8") if passphrase else None
    )
    return announce_rotation(
        keyring, node_id=node_id, name=name, organisation=organisation, now=now
    )


async def node_identity_route(request: Request) -> Response:
    """GET /.well-known/lnob-node.json: who this node is and which keys speak for it."""
    state: NodeStateView = request.app.state.node
    try:
        document = await run_in_threadpool(node_identity_document, state.settings, state.sessions)
    except LnobError as exc:
        return error_response(exc, status_for(exc), "application/json")
    return JSONResponse(document, headers={"Cache-Control": "no-cache"})
