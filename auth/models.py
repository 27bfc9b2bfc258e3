"""The authorization server's tables. Alembic (`migrations/`, branch "auth") creates them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.db import NAMING_CONVENTION, utcnow


class AuthBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OAuthClient(AuthBase):
    """A machine client of the secretariat's authorization server. Only a slow, salted hash of
    its secret is kept: the secret itself is shown once, when the client is added."""

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
    role: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_token_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
