"""Authorization codes: issued after a person signs in, spent once at the token endpoint.

A code is 256 random bits, handed to the client's redirect URI and stored only as its SHA-256.
Spending it is one conditional UPDATE (`used_at IS NULL AND expires_at > now`), so of two token
requests with the same code, in one process or in several, exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from auth.clients import utc
from auth.models import AuthorizationCode
from service.db import utcnow

CODE_LIFETIME = dt.timedelta(seconds=60)
# Spent and expired codes are kept this long, so a replayed code is recognised as such in logs.
KEEP_SPENT = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What a code was issued for: everything the token request is checked against."""

    client_id: str
    subject: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    auth_time: dt.datetime

    # authlib's AuthorizationCodeMixin, read by its grant and its PKCE and OpenID extensions.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


def new_code() -> str:
    return secrets.token_urlsafe(32)


def store_code(
    session: Session, code: str, grant: CodeGrant, *, lifetime: dt.timedelta = CODE_LIFETIME
) -> None:
    """Keep `code` for `grant`, as its hash only, for `lifetime`."""
    now = utcnow()
    stale = now - KEEP_SPENT
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < stale))
    session.add(
        AuthorizationCode(
            code_hash=_digest(code),
            client_id=grant.client_id,
            subject=grant.subject,
            redirect_uri=grant.redirect_uri,
            scope=grant.scope,
            nonce=grant.nonce,
            code_challenge=grant.code_challenge,
            code_challenge_method=grant.code_challenge_method,
            auth_time=grant.auth_time,
            expires_at=now + lifetime,
        )
    )
    session.flush()


def spend_code(session: Session, code: str, client_id: str) -> CodeGrant | None:
    """The grant of a live, unspent code of `client_id`, marking it spent; None for a code that
    is unknown, expired, already spent or another client's."""
    now = utcnow()
    digest = _digest(code)
    spent = session.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.code_hash == digest,
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = session.execute(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == digest)
    ).scalar_one()
    return CodeGrant(
        client_id=row.client_id,
        subject=row.subject,
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        nonce=row.nonce,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        auth_time=utc(row.auth_time),
    )


def nonce_used(session: Session, client_id: str, nonce: str) -> bool:
    """Whether a code of `client_id` was already issued with `nonce` (OpenID Connect replay)."""
    query = select(
        exists().where(AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce)
    )
    return bool(session.execute(query).scalar())


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", errors="replace")).hexdigest()
