"""The people who sign in to the dashboards: add, list, remove, check a password.

Passwords are stored as salted scrypt hashes, as client secrets are (`auth.clients`). Checking a
password costs the same whether or not the username exists, so the time of an answer does not
tell which usernames are real.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth.clients import hash_secret, readable_id, utc, verify_secret
from auth.models import User
from auth.tokens import Role
from service.db import utcnow
from service.errors import BadRequest, NotFound

MIN_PASSWORD_LENGTH = 12
# scrypt reads the whole password; a cap keeps one sign-in attempt's cost bounded.
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
_GENERATED_PASSWORD_BYTES = 15


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that an unknown name costs one scrypt
    too; made on first use, not at import."""
    return hash_secret(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as operators and tokens see them; never carries the password or its hash."""

    subject: str
    username: str
    name: str
    role: Role
    organisation: str | None
    active: bool
    created_at: dt.datetime
    removed_at: dt.datetime | None
    last_sign_in_at: dt.datetime | None


def normalise_username(username: str) -> str:
    return username.strip().lower()


def add_user(
    session: Session,
    *,
    username: str,
    name: str,
    role: Role,
    organisation: str | None = None,
    password: str | None = None,
) -> tuple[UserRecord, str]:
    """Add a user; returns them and their password (generated unless given), which is not kept."""
    username = normalise_username(username)
    name = " ".join(name.split())
    organisation = " ".join(organisation.split()) if organisation else None
    if not _USERNAME.match(username):
        raise BadRequest(
            "a username has 1 to 100 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    if not name or len(name) > 200:
        raise BadRequest("a user needs a display name of 1 to 200 characters")
    if role is Role.ICSO and not organisation:
        raise BadRequest("an icso user needs --organisation: the organisation they work for")
    if role is not Role.ICSO and organisation:
        raise BadRequest(f"a {role.value} user works for no member organisation: drop it")
    if organisation and len(organisation) > 200:
        raise BadRequest("an organisation name has at most 200 characters")
    if password is None:
        password = secrets.token_urlsafe(_GENERATED_PASSWORD_BYTES)
    elif not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise BadRequest(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    if _find_active(session, username) is not None:
        raise BadRequest(f"there is already a user {username!r}")
    row = User(
        subject=readable_id(username, "user"),
        username=username,
        name=name,
        role=role.value,
        organisation=organisation,
        password_hash=hash_secret(password),
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _record(row), password


def list_users(session: Session) -> list[UserRecord]:
    rows = session.execute(select(User).order_by(User.created_at, User.id))
    return [_record(row) for row in rows.scalars()]


def remove_user(session: Session, username: str) -> UserRecord:
    """Stop a user signing in. The row stays, so their subject is never given to anyone else;
    access tokens already issued live out their short lifetime."""
    row = _find_active(session, normalise_username(username))
    if row is None:
        raise NotFound(f"no user {normalise_username(username)!r}")
    row.active = False
    row.removed_at = utcnow()
    session.flush()
    return _record(row)


def authenticate(session: Session, username: str, password: str) -> UserRecord | None:
    """The active user with this username and password, or None — after the same work either
    way. The caller must not say which of the two was wrong."""
    row = _find_active(session, normalise_username(username)[:100])
    candidate = password[:MAX_PASSWORD_LENGTH]
    if row is None:
        verify_secret(candidate, _dummy_hash())
        return None
    if len(password) > MAX_PASSWORD_LENGTH or not verify_secret(candidate, row.password_hash):
        return None
    return _record(row)


def record_sign_in(session: Session, subject: str) -> None:
    session.execute(update(User).where(User.subject == subject).values(last_sign_in_at=utcnow()))


def find_active_user(session: Session, subject: str) -> UserRecord | None:
    row = session.execute(
        select(User).where(User.subject == subject, User.active.is_(True))
    ).scalar_one_or_none()
    return _record(row) if row is not None else None


def _find_active(session: Session, username: str) -> User | None:
    return session.execute(
        select(User).where(User.username == username, User.active.is_(True))
    ).scalar_one_or_none()


def _record(row: User) -> UserRecord:
    return UserRecord(
        subject=row.subject,
        username=row.username,
        name=row.name,
        role=Role(row.role),
        organisation=row.organisation,
        active=row.active,
        created_at=utc(row.created_at),
        removed_at=utc(row.removed_at) if row.removed_at else None,
        last_sign_in_at=utc(row.last_sign_in_at) if row.last_sign_in_at else None,
    )
