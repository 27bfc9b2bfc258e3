"""Who this node is: its row in the database and its signing key on disk."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auth.keys import SigningKey, load_key_file, load_or_create_key_file
from service import migrate
from service.errors import ConfigError, NotInitialised
from service.node.models import NodeIdentity
from service.settings import Settings

NODE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class InitResult:
    node_id: str
    name: str
    organisation: str
    key_created: bool
    identity_created: bool
    key: SigningKey


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63] or "node"


def _passphrase(settings: Settings) -> bytes | None:
    secret = settings.key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret else None


def load_signing_key(settings: Settings) -> SigningKey:
    return load_key_file(settings.key_file, _passphrase(settings))


def init_node(
    engine: Engine,
    settings: Settings,
    *,
    name: str | None,
    organisation: str | None,
    node_id: str | None = None,
) -> InitResult:
    """Migrate the database to head and create the identity and key if missing. Safe to repeat:
    an existing identity and key are kept (the arguments then change nothing)."""
    migrate.upgrade(engine, "node")
    with Session(engine) as session, session.begin():
        identity = session.execute(select(NodeIdentity)).scalar_one_or_none()
        created = identity is None
        if identity is None:
            if not (name and organisation):
                raise ConfigError("a new node needs a name and an organisation")
            node_id = node_id or slugify(organisation)
            if not NODE_ID_PATTERN.match(node_id):
                raise ConfigError(
                    f"node id {node_id!r} must be lowercase letters, digits and hyphens "
                    "(at most 63)"
                )
            identity = NodeIdentity(node_id=node_id, name=name, organisation=organisation)
            session.add(identity)
        key, key_created = load_or_create_key_file(settings.key_file, _passphrase(settings))
        result = InitResult(
            node_id=identity.node_id,
            name=identity.name,
            organisation=identity.organisation,
            key_created=key_created,
            identity_created=created,
            key=key,
        )
    return result


def get_identity(session: Session) -> NodeIdentity:
    identity = session.execute(select(NodeIdentity)).scalar_one_or_none()
    if identity is None:
        raise NotInitialised("this node has no identity yet: run `lnob node init`")
    return identity
