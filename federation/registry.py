"""The node registry: which nodes the coordinator asks, their keys, how they last answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth.keys import fingerprint, jwk_thumbprint, public_key_from_jwk
from federation.models import NodeRecord, RetiredKeyRecord, utcnow
from federation.transport import (
    NodeBadAnswer,
    NodeEndpoint,
    NodeTransport,
    RetiredNodeKey,
    graphql_endpoint,
)
from service.errors import BadRequest, LnobError, NotFound
from service.node.identity import NODE_ID_PATTERN

if TYPE_CHECKING:
    from federation.fanout import SourceStatus

IDENTITY_QUERY = """query NodeIdentity {
  node { id name organisation schemaVersion dataVersion publicKey keyId }
}"""


class KeyMismatch(LnobError):
    """The node presents another key than the one received out of band: it is not registered."""

    code = "KEY_MISMATCH"


class AlreadyRegistered(LnobError):
    code = "ALREADY_REGISTERED"


class RegistryChanged(LnobError):
    """The node's key in the registry changed while a rotation was being accepted."""

    code = "REGISTRY_CHANGED"


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What a node says about itself (its `node` query)."""

    node_id: str
    name: str
    organisation: str
    schema_version: str
    data_version: str
    public_key: dict[str, str]
    key_id: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


@dataclass(frozen=True, slots=True)
class RegisteredNode:
    """A registered node; `url` is its GraphQL endpoint."""

    node_id: str
    name: str
    organisation: str
    url: str
    public_key: Mapping[str, str]
    key_id: str
    schema_version: str
    added_at: dt.datetime
    last_status: str | None = None
    last_latency_ms: float | None = None
    last_message: str | None = None
    last_checked_at: dt.datetime | None = None
    retired_keys: tuple[RetiredNodeKey, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(dict(self.public_key))


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _registered(record: NodeRecord) -> RegisteredNode:
    return RegisteredNode(
        node_id=record.node_id,
        name=record.name,
        organisation=record.organisation,
        url=record.url,
        public_key=dict(record.public_key),
        key_id=record.key_id,
        schema_version=record.schema_version,
        added_at=_utc(record.added_at),
        last_status=record.last_status,
        last_latency_ms=record.last_latency_ms,
        last_message=record.last_message,
        last_checked_at=_utc(record.last_checked_at) if record.last_checked_at else None,
        retired_keys=tuple(
            RetiredNodeKey(key.key_id, dict(key.public_key), _utc(key.valid_until))
            for key in sorted(record.retired_keys, key=lambda key: key.valid_until, reverse=True)
        ),
    )


def identity_from(data: Mapping[str, Any]) -> NodeIdentity:
    """Read a `node` answer, refusing one that lacks a field or carries no usable key."""
    node = data.get("node")
    if not isinstance(node, dict):
        raise NodeBadAnswer("the answer has no `node` object")
    try:
        texts = {
            name: node[name]
            for name in ("id", "name", "organisation", "schemaVersion", "dataVersion", "keyId")
        }
        key = node["publicKey"]
    except KeyError as exc:
        raise NodeBadAnswer(f"the node's identity lacks {exc.args[0]!r}") from None
    if not all(isinstance(value, str) for value in texts.values()):
        raise NodeBadAnswer("the node's identity holds a field that is not text")
    if not NODE_ID_PATTERN.match(texts["id"]):
        raise NodeBadAnswer(f"the node's id {texts['id'][:80]!r} is not a valid node id")
    if isinstance(key, str):  # a JWK sent as a JSON string rather than an object
        key = _json_object(key, "the node's public key")
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise NodeBadAnswer("the node's public key is not a JWK object")
    try:
        public_key_from_jwk(key)
    except ValueError as exc:
        raise NodeBadAnswer(f"the node's public key is unusable: {exc}") from None
    if texts["keyId"] != jwk_thumbprint(key):
        raise NodeBadAnswer("the node's keyId is not the thumbprint of its public key")
    return NodeIdentity(
        node_id=texts["id"],
        name=texts["name"],
        organisation=texts["organisation"],
        schema_version=texts["schemaVersion"],
        data_version=texts["dataVersion"],
        public_key=dict(key),
        key_id=texts["keyId"],
    )


async def fetch_identity(
    transport: NodeTransport, url: str, *, authorization: str | None = None
) -> tuple[str, NodeIdentity]:
    """Ask the node at `url` who it is. Returns its GraphQL endpoint and its identity.

    The node is asked twice: who it is, then again under the key it presented, so an identity
    is only taken from a node that signs its answers with that key (`NodeUntrusted` if not).
    """
    try:
        endpoint = graphql_endpoint(url)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    data = await transport.execute(NodeEndpoint(url=endpoint), IDENTITY_QUERY, {}, authorization)
    claimed = identity_from(data)
    presenting = NodeEndpoint(url=endpoint, public_key=claimed.public_key)
    identity = identity_from(await transport.execute(presenting, IDENTITY_QUERY, {}, authorization))
    if identity.key_id != claimed.key_id or identity.node_id != claimed.node_id:
        raise NodeBadAnswer("the node presented another identity when asked again")
    return endpoint, identity


def read_jwk(text_or_path: str) -> dict[str, str]:
    """A public key given on the command line: a JWK as JSON text, or a file holding one."""
    text = text_or_path
    if not text_or_path.lstrip().startswith("{"):
        try:
            text = Path(text_or_path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadRequest(f"cannot read the key file {text_or_path}: {exc.strerror}") from None
    key = _json_object(text, "the pinned key")
    try:
        public_key_from_jwk(key)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"the pinned key is not usable: {exc}") from None
    return {str(name): str(value) for name, value in key.items()}


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise BadRequest(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} is not a JSON object")
    return value


def register(
    session: Session,
    endpoint: str,
    identity: NodeIdentity,
    *,
    pinned_key: Mapping[str, str] | None = None,
) -> RegisteredNode:
    """Add a node with the key it presented; refuse if it differs from `pinned_key`.

    Registering the same node at the same URL with the same key again changes nothing.
    """
    presented = jwk_thumbprint(identity.public_key)
    if pinned_key is not None and jwk_thumbprint(dict(pinned_key)) != presented:
        raise KeyMismatch(
            f"node {identity.node_id} at {endpoint} presents key {identity.fingerprint}, "
            f"not the pinned key {fingerprint(dict(pinned_key))}: not registered"
        )
    existing = session.get(NodeRecord, identity.node_id)
    if existing is not None:
        if existing.url == endpoint and jwk_thumbprint(existing.public_key) == presented:
            return _registered(existing)
        if existing.url == endpoint and pinned_key is not None:
            return _pin(session, existing, identity)
        hint = (
            "; to trust the key it presents now, pin it (`lnob coordinator nodes pin "
            f"{identity.node_id} --key JWK-OR-FILE`) or remove it first to register it again"
            if existing.url == endpoint
            else "; remove it first to register it again"
        )
        raise AlreadyRegistered(
            f"node {identity.node_id} is already registered at {existing.url} with key "
            f"{fingerprint(existing.public_key)}{hint}"
        )
    at_url = session.execute(select(NodeRecord).where(NodeRecord.url == endpoint)).scalar()
    if at_url is not None:
        raise AlreadyRegistered(
            f"{endpoint} is already registered as node {at_url.node_id}; remove it first"
        )
    record = NodeRecord(
        node_id=identity.node_id,
        url=endpoint,
        name=identity.name,
        organisation=identity.organisation,
        public_key=dict(identity.public_key),
        key_id=identity.key_id,
        schema_version=identity.schema_version,
        added_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return _registered(record)


def pin_key(
    session: Session, node_id_or_url: str, identity: NodeIdentity, pinned_key: Mapping[str, str]
) -> RegisteredNode:
    """Trust the key an operator received out of band for a registered node, in place of the
    one the registry holds (and of any retired key). `identity` is what the node presents now;
    it must present the pinned key."""
    record = _find(session, node_id_or_url)
    if identity.node_id != record.node_id:
        raise KeyMismatch(
            f"the node at {record.url} says it is {identity.node_id!r}, not {record.node_id!r}"
        )
    if jwk_thumbprint(dict(pinned_key)) != jwk_thumbprint(identity.public_key):
        raise KeyMismatch(
            f"node {record.node_id} presents key {identity.fingerprint}, not the pinned key "
            f"{fingerprint(dict(pinned_key))}: the registry still holds "
            f"{fingerprint(record.public_key)}"
        )
    return _pin(session, record, identity)


def _pin(session: Session, record: NodeRecord, identity: NodeIdentity) -> RegisteredNode:
    # An operator pins after a key may have leaked: no earlier key of the node stays valid.
    record.public_key = dict(identity.public_key)
    record.key_id = jwk_thumbprint(identity.public_key)
    record.name, record.organisation = identity.name, identity.organisation
    record.schema_version = identity.schema_version
    record.retired_keys.clear()
    session.flush()
    return _registered(record)


def accept_rotation(
    session: Session,
    node_id: str,
    *,
    old_key_id: str,
    new_key: Mapping[str, str],
    old_valid_until: dt.datetime,
    now: dt.datetime | None = None,
) -> RegisteredNode:
    """Make `new_key` the node's key after its identity document, signed by `old_key_id`,
    announced it; keep the old key valid until `old_valid_until`. Idempotent.

    The caller has checked the document (`auth.keyring.verify_rotation`). Raises
    `RegistryChanged` if the registry no longer holds `old_key_id` as the node's key.
    """
    moment = now or utcnow()
    record = session.get(NodeRecord, node_id)
    if record is None:
        raise NotFound(f"no registered node {node_id!r}")
    new_key_id = jwk_thumbprint(dict(new_key))
    if record.key_id == new_key_id:
        return _registered(record)
    if record.key_id != old_key_id:
        raise RegistryChanged(
            f"node {node_id}'s key changed meanwhile (now {fingerprint(record.public_key)})"
        )
    kept = [
        key
        for key in record.retired_keys
        if _utc(key.valid_until) > moment and key.key_id not in (old_key_id, new_key_id)
    ]
    kept.append(
        RetiredKeyRecord(
            key_id=old_key_id,
            public_key=dict(record.public_key),
            retired_at=moment,
            valid_until=old_valid_until,
        )
    )
    record.retired_keys = kept
    record.public_key = dict(new_key)
    record.key_id = new_key_id
    session.flush()
    return _registered(record)


def list_nodes(session: Session) -> list[RegisteredNode]:
    records = session.execute(select(NodeRecord).order_by(NodeRecord.node_id)).scalars()
    return [_registered(record) for record in records]


def _find(session: Session, node_id_or_url: str) -> NodeRecord:
    record = session.get(NodeRecord, node_id_or_url)
    if record is None:
        try:
            endpoint = graphql_endpoint(node_id_or_url)
        except ValueError:
            endpoint = node_id_or_url
        record = session.execute(
            select(NodeRecord).where(NodeRecord.url == endpoint)
        ).scalar_one_or_none()
    if record is None:
        raise NotFound(f"no registered node {node_id_or_url!r}")
    return record


def get_node(session: Session, node_id_or_url: str) -> RegisteredNode:
    return _registered(_find(session, node_id_or_url))


def remove_node(session: Session, node_id_or_url: str) -> RegisteredNode:
    """Forget a node (by id or URL); the coordinator stops asking it."""
    record = _find(session, node_id_or_url)
    removed = _registered(record)
    session.delete(record)
    session.flush()
    return removed


def record_statuses(
    session: Session,
    statuses: Sequence[SourceStatus],
    *,
    schema_versions: Mapping[str, str] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Remember how each node last answered (nodes removed meanwhile are skipped)."""
    when = at or utcnow()
    versions = schema_versions or {}
    latest = {status.node_id: status for status in statuses}  # a node's last word counts
    registered = set(
        session.execute(
            select(NodeRecord.node_id).where(NodeRecord.node_id.in_(list(latest)))
        ).scalars()
    )
    rows: list[dict[str, object]] = []
    for node_id, status in latest.items():
        if node_id in registered:
            rows.append(
                {
                    "node_id": node_id,
                    "last_status": status.status,
                    "last_latency_ms": status.latency_ms,
                    "last_message": status.message,
                    "last_checked_at": when,
                    **({"schema_version": versions[node_id]} if node_id in versions else {}),
                }
            )
    # One executemany UPDATE per set of columns, not a SELECT and an UPDATE per node.
    with_version = [row for row in rows if "schema_version" in row]
    without = [row for row in rows if "schema_version" not in row]
    for batch in (with_version, without):
        if batch:
            session.execute(update(NodeRecord), batch)
    session.flush()


class RegistrySnapshot:
    """The registered nodes each federated question asks, read again once `max_age` seconds
    have passed since the last read.

    Reading the registry is a query and a row object per node on every question (about 2 ms
    for 50 nodes, on the path of every answer); the node list changes when an operator adds,
    removes or pins a node. A change made elsewhere (the `lnob coordinator nodes` commands) is
    seen within `max_age`. A key rotation the coordinator accepts is used at once regardless:
    an answer signed by a key the snapshot does not hold sends the verifier back to the registry.
    Questions arriving together share one read.
    """

    def __init__(
        self,
        read: Callable[[], Awaitable[list[RegisteredNode]]],
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.max_age = max_age
        self._clock = clock
        self._nodes: list[RegisteredNode] | None = None
        self._read_at = 0.0
        self._reading = asyncio.Lock()

    async def __call__(self) -> list[RegisteredNode]:
        nodes = self._fresh()
        if nodes is not None:
            return nodes
        async with self._reading:
            nodes = self._fresh()  # read meanwhile by another question
            if nodes is None:
                nodes = await self._read()
                self._nodes, self._read_at = nodes, self._clock()
        return nodes

    def invalidate(self) -> None:
        """Read the registry again on the next question."""
        self._nodes = None

    def _fresh(self) -> list[RegisteredNode] | None:
        if self._nodes is not None and self._clock() - self._read_at < self.max_age:
            return self._nodes
        return None
