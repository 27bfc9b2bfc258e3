"""The client registry of the authorization server: add, list, revoke, check a secret.

A machine client has a role and gets tokens with the client-credentials grant. A web client
(a dashboard) has redirect URIs instead and gets tokens for the person who signs in, with the
authorization code grant. A client's secret is generated here, returned once, and stored only
as a salted scrypt hash; checking it recomputes the hash and compares in constant time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from auth.models import OAuthClient, RedirectUri
from auth.tokens import Role
from service.db import utcnow
from service.errors import BadRequest, NotFound

# scrypt at n=2**14, r=8, p=1 (16 MiB, some tens of milliseconds): the parameters OWASP lists
# for scrypt; a stolen table then costs an attacker as much per guess.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SECRET_BYTES = 32
MAX_REDIRECT_URI_LENGTH = 2000
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered client as operators see it; never carries the secret or its hash."""

    client_id: str
    name: str
    role: Role | None
    organisation: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_token_at: dt.datetime | None
    redirect_uris: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_web_client(self) -> bool:
        """Signs people in (authorization code grant) rather than acting as itself."""
        return bool(self.redirect_uris)


@dataclass(frozen=True, slots=True)
class ActiveClient:
    """A client that may ask for tokens, with what checking its secret needs."""

    record: ClientRecord
    secret_hash: str

    def check_secret(self, secret: str) -> bool:
        return verify_secret(secret, self.secret_hash)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def add_client(
    session: Session,
    *,
    name: str,
    role: Role | None,
    organisation: str | None = None,
    redirect_uris: Sequence[str] = (),
) -> tuple[ClientRecord, str]:
    """Register a client; returns it and its secret, which is not kept and cannot be shown again.

    With `redirect_uris` it is a web client, which has no role: its tokens carry the role of
    the person signed in. Without, it is a machine client and needs a role."""
    name = " ".join(name.split())
    organisation = " ".join(organisation.split()) if organisation else None
    uris = list(dict.fromkeys(check_redirect_uri(uri) for uri in redirect_uris))
    if not name or len(name) > 200:
        raise BadRequest("a client needs a name of 1 to 200 characters")
    if uris and (role is not None or organisation):
        raise BadRequest(
            "a web client (--redirect-uri) has no role or organisation of its own: its tokens "
            "carry those of the person who signs in"
        )
    if not uris and role is None:
        raise BadRequest("a machine client needs --role; a web client needs --redirect-uri")
    if role is Role.ICSO and not organisation:
        raise BadRequest("an icso client needs --org: the organisation it speaks for")
    if role is not None and role is not Role.ICSO and organisation:
        raise BadRequest(f"a {role.value} client speaks for no organisation: drop --org")
    if organisation and len(organisation) > 200:
        raise BadRequest("an organisation name has at most 200 characters")
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    row = OAuthClient(
        client_id=readable_id(name, "client"),
        name=name,
        role=role.value if role is not None else None,
        organisation=organisation,
        secret_hash=hash_secret(secret),
        created_at=utcnow(),
        redirect_uris=[RedirectUri(uri=uri) for uri in uris],
    )
    session.add(row)
    session.flush()
    return _record(row), secret


def check_redirect_uri(uri: str) -> str:
    """`uri` if it may be registered: absolute, https (http only on loopback), no fragment and
    no credentials (RFC 6749 §3.1.2, RFC 9700 §2.1)."""
    parts = urlsplit(uri)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    )
    if (
        not secure
        or not parts.hostname
        or parts.fragment
        or "#" in uri
        or parts.username is not None
        or len(uri) > MAX_REDIRECT_URI_LENGTH
        or any(char.isspace() for char in uri)
    ):
        raise BadRequest(
            f"redirect URI {uri[:100]!r} refused: give an absolute https URL (http only on "
            "localhost), without a fragment or credentials"
        )
    return uri


def list_clients(session: Session) -> list[ClientRecord]:
    rows = session.execute(
        select(OAuthClient)
        .options(selectinload(OAuthClient.redirect_uris))
        .order_by(OAuthClient.created_at, OAuthClient.id)
    )
    return [_record(row) for row in rows.scalars()]


def revoke_client(session: Session, client_id: str) -> ClientRecord:
    """Stop issuing tokens to a client. Tokens already issued live out their short lifetime."""
    row = session.execute(
        select(OAuthClient).where(OAuthClient.client_id == client_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no client {client_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _record(row)


def find_active_client(session: Session, client_id: str) -> ActiveClient | None:
    row = session.execute(
        select(OAuthClient)
        .options(selectinload(OAuthClient.redirect_uris))
        .where(OAuthClient.client_id == client_id, OAuthClient.revoked_at.is_(None))
    ).scalar_one_or_none()
    return ActiveClient(_record(row), row.secret_hash) if row is not None else None


def record_token_issued(session: Session, client_id: str) -> None:
    session.execute(
        update(OAuthClient).where(OAuthClient.client_id == client_id).values(last_token_at=utcnow())
    )


def _record(row: OAuthClient) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        role=Role(row.role) if row.role is not None else None,
        organisation=row.organisation,
        created_at=utc(row.created_at),
        revoked_at=utc(row.revoked_at) if row.revoked_at else None,
        last_token_at=utc(row.last_token_at) if row.last_token_at else None,
        redirect_uris=tuple(entry.uri for entry in row.redirect_uris),
    )


def utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def readable_id(name: str, fallback: str) -> str:
    """An identifier readable in audit logs ("<issuer>#ministry-of-planning-kenya-3f9a2c1b"),
    unique by its random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-") or fallback
    return f"{slug}-{secrets.token_hex(4)}"


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=64 * 2**20
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
