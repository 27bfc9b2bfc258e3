"""Which node answers the coordinator trusts: signed by a key its registry holds for that node.

`RegistryVerifier` is the coordinator's `ResponseVerifier`. An answer signed by the node's
registered key (or a retired key still in its overlap) is used. An answer signed by a key the
registry does not hold may follow a key rotation: the node's identity document is fetched, and
the new key is accepted only if the key the registry holds signed that document
(`auth.keyring.verify_rotation`). On any other ground the answer is dropped and the source is
`UNTRUSTED` until an operator pins the node's new key (`lnob coordinator nodes pin`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from auth.keyring import read_identity_document, verify_rotation
from auth.keys import fingerprint, jwk_thumbprint, public_key_from_jwk
from auth.signatures import Rejection, SignatureRejected
from federation import registry
from federation.registry import RegisteredNode
from federation.transport import (
    NodeAddress,
    NodeResponse,
    Verdict,
    check_signature,
    verify_registered_keys,
)
from service.errors import LnobError

logger = logging.getLogger(__name__)

IDENTITY_DOCUMENT_PATH = "/.well-known/lnob-node.json"


def identity_document_url(graphql_url: str) -> str:
    """Where a node serves its identity document, from its registered GraphQL endpoint."""
    base = graphql_url.rstrip("/").removesuffix("/graphql")
    return base + IDENTITY_DOCUMENT_PATH


def pin_hint(node_id: str) -> str:
    return (
        f"if the node's operator replaced its key, compare the new key's fingerprint "
        f"(`lnob node keys list` at the node) and pin it: "
        f"`lnob coordinator nodes pin {node_id} --key JWK-OR-FILE`"
    )


class RegistryVerifier:
    """Verifies each answer against the registry's keys for that node; follows rotations the
    node's previous key vouches for, and records them in the registry."""

    def __init__(
        self, sessions: sessionmaker[Session], client: httpx.AsyncClient, *, timeout: float
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.timeout = timeout

    async def __call__(self, node: NodeAddress, response: NodeResponse) -> Verdict:
        if node.public_key is None:
            return await verify_registered_keys(node, response)
        verdict = check_signature(node, response)
        if verdict.trusted or verdict.rejection is not Rejection.UNKNOWN_KEY:
            return verdict
        return await self._after_rotation(node, response)

    async def _after_rotation(self, node: NodeAddress, response: NodeResponse) -> Verdict:
        """The answer is signed by a key `node` does not hold: did the node rotate its key?"""
        current = await anyio.to_thread.run_sync(self._read, node.node_id)
        if current is None:
            return Verdict(False, f"node {node.node_id} is no longer registered")
        if _key_ids(current) != _key_ids(node):  # the registry changed since `node` was read
            verdict = check_signature(current, response)
            if verdict.trusted or verdict.rejection is not Rejection.UNKNOWN_KEY:
                return verdict
        unknown = "signed by a key the registry does not hold for this node"
        try:
            document = await self._identity_document(current)
            new_key = verify_rotation(
                public_key_from_jwk(dict(current.public_key)), document, node_id=current.node_id
            )
            old_valid_until = read_identity_document(document).valid_until(current.key_id)
        except SignatureRejected as exc:
            return Verdict(
                False,
                f"{unknown}, and its identity document does not vouch for that key ({exc}); "
                + pin_hint(node.node_id),
                rejection=exc.reason,
            )
        except _DocumentUnavailable as exc:
            return Verdict(
                False,
                f"{unknown}, and its identity document could not be read ({exc}); "
                + pin_hint(node.node_id),
                rejection=Rejection.UNKNOWN_KEY,
            )
        if jwk_thumbprint(new_key) == current.key_id or old_valid_until is None:
            # The document still names the key we hold: the answer's key is not the node's.
            return Verdict(
                False,
                f"{unknown}, and its identity document does not announce a new key; "
                + pin_hint(node.node_id),
                rejection=Rejection.UNKNOWN_KEY,
            )
        try:
            rotated = await anyio.to_thread.run_sync(
                self._accept, current, new_key, old_valid_until
            )
        except (LnobError, SQLAlchemyError) as exc:
            # Another answer may have recorded the same rotation at the same moment.
            again = await anyio.to_thread.run_sync(self._read, node.node_id)
            recorded = check_signature(again, response) if again is not None else None
            if recorded is not None and recorded.trusted:
                return recorded
            logger.warning("node %s: rotation not recorded: %s", node.node_id, exc)
            return Verdict(False, "the node's key rotation could not be recorded")
        logger.warning(
            "node %s rotated its key: now %s (vouched for by %s, valid until %s)",
            node.node_id, fingerprint(new_key), current.key_id, old_valid_until.isoformat(),
        )  # fmt: skip
        return check_signature(rotated, response)

    async def _identity_document(self, node: RegisteredNode) -> dict[str, Any]:
        url = identity_document_url(node.url)
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.client.get(url, headers={"Accept": "application/json"})
        except TimeoutError:
            raise _DocumentUnavailable(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise _DocumentUnavailable(type(exc).__name__) from None
        if answer.status_code != 200:
            raise _DocumentUnavailable(f"HTTP {answer.status_code}")
        try:
            document = answer.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _DocumentUnavailable("not JSON") from None
        if not isinstance(document, dict):
            raise SignatureRejected(Rejection.MALFORMED, "the identity document is not an object")
        return document

    def _read(self, node_id: str) -> RegisteredNode | None:
        with self.sessions() as session:
            try:
                return registry.get_node(session, node_id)
            except LnobError:
                return None

    def _accept(
        self, node: RegisteredNode, new_key: dict[str, str], old_valid_until: dt.datetime
    ) -> RegisteredNode:
        with self.sessions.begin() as session:
            return registry.accept_rotation(
                session,
                node.node_id,
                old_key_id=node.key_id,
                new_key=new_key,
                old_valid_until=old_valid_until,
            )


class _DocumentUnavailable(Exception):
    """The identity document could not be fetched or parsed as JSON."""


def _key_ids(node: NodeAddress) -> set[str]:
    held = {retired.key_id for retired in node.retired_keys}
    if node.public_key is not None:
        held.add(jwk_thumbprint(dict(node.public_key)))
    return held
