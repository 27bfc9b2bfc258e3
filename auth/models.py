"""The authorization server's tables. Alembic (`migrations/`, branch "auth") creates them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service.db import NAMING_CONVENTION, utcnow


class AuthBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OAuthClient(AuthBase):
    """A client of the secretariat's authorization server. Only a slow, salted hash of its
    secret is kept: the secret itself is shown once, when the client is added.

    A machine client has a role and uses the client-credentials grant; a web client has no role
    (its tokens carry the signed-in person's) and redirect URIs, and uses the authorization code
    grant."""

    __tablename__ = "oauth_client"
    __table_args__ = (
        CheckConstraint("role IN ('secretariat', 'government', 'icso')", name="role"),
        # An ICSO client speaks for one organisation; the others for none.
        CheckConstraint(
            "(role = 'icso' AND organisation IS NOT NULL) "
            "OR (role <> 'icso' AND organisation IS NULL)",
            name="organisation",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(20))
    organisation: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_token_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    redirect_uris: Mapped[list[RedirectUri]] = relationship(
        back_populates="client", order_by="RedirectUri.id", cascade="all, delete-orphan"
    )


class RedirectUri(AuthBase):
    """Where a web client may receive authorization codes; matched exactly, never by prefix."""

    __tablename__ = "oauth_redirect_uri"
    __table_args__ = (UniqueConstraint("client_id", "uri", name="client_uri"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"))
    uri: Mapped[str] = mapped_column(String(2000))
    client: Mapped[OAuthClient] = relationship(back_populates="redirect_uris")


class User(AuthBase):
    """A person who signs in to the dashboards. `subject` is the `sub` of their tokens: never
    reused, so a node's audit log names one person however usernames come and go."""

    __tablename__ = "auth_user"
    __table_args__ = (
        CheckConstraint("role IN ('secretariat', 'government', 'icso')", name="role"),
        CheckConstraint(
            "(role = 'icso' AND organisation IS NOT NULL) "
            "OR (role <> 'icso' AND organisation IS NULL)",
            name="organisation",
        ),
        # A removed user's name may be given to someone new; active usernames are unique.
        Index(
            "uq_auth_user_active_username",
            "username",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), unique=True)
    username: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuthorizationCode(AuthBase):
    """An authorization code, bound to everything the token request must repeat. Only the
    code's SHA-256 is stored; `used_at` is set by one atomic UPDATE, so a code is spent once
    however many processes serve the token endpoint."""

    __tablename__ = "authorization_code"
    __table_args__ = (Index("ix_authorization_code_client_nonce", "client_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(100))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
