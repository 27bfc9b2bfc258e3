"""authorization server: users, web clients' redirect URIs, authorization codes

Revision ID: a0002
Revises: a0001
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0002"
down_revision: str | Sequence[str] | None = "a0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE_CHECK = "role IN ('secretariat', 'government', 'icso')"
ORGANISATION_CHECK = (
    "(role = 'icso' AND organisation IS NOT NULL) OR (role <> 'icso' AND organisation IS NULL)"
)


def _client_table(role_nullable: bool) -> sa.Table:
    """oauth_client as SQLite's batch mode must rebuild it, CHECK constraints included."""
    return sa.Table(
        "oauth_client",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=role_nullable),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("secret_hash", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_token_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(ROLE_CHECK, name="ck_oauth_client_role"),
        sa.CheckConstraint(ORGANISATION_CHECK, name="ck_oauth_client_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_client"),
        sa.UniqueConstraint("client_id", name="uq_oauth_client_client_id"),
    )


def upgrade() -> None:
    # A web client has no role of its own: its tokens carry the signed-in person's.
    with op.batch_alter_table("oauth_client", copy_from=_client_table(False)) as batch:
        batch.alter_column("role", existing_type=sa.String(length=20), nullable=True)
    op.create_table(
        "oauth_redirect_uri",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_redirect_uri_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_redirect_uri")),
        sa.UniqueConstraint("client_id", "uri", name=op.f("uq_oauth_redirect_uri_client_uri")),
    )
    op.create_table(
        "auth_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(ROLE_CHECK, name=op.f("ck_auth_user_role")),
        sa.CheckConstraint(ORGANISATION_CHECK, name=op.f("ck_auth_user_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_user")),
        sa.UniqueConstraint("subject", name=op.f("uq_auth_user_subject")),
    )
    op.create_index(
        "uq_auth_user_active_username",
        "auth_user",
        ["username"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "authorization_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_authorization_code_code_hash")),
    )
    op.create_index(
        "ix_authorization_code_client_nonce", "authorization_code", ["client_id", "nonce"]
    )
    op.create_index(
        op.f("ix_authorization_code_expires_at"), "authorization_code", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_authorization_code_expires_at"), table_name="authorization_code")
    op.drop_index("ix_authorization_code_client_nonce", table_name="authorization_code")
    op.drop_table("authorization_code")
    op.drop_index("uq_auth_user_active_username", table_name="auth_user")
    op.drop_table("auth_user")
    op.drop_table("oauth_redirect_uri")
    # Web clients cannot be machine clients: they go before the role is required again.
    op.execute("DELETE FROM oauth_client WHERE role IS NULL")
    with op.batch_alter_table("oauth_client", copy_from=_client_table(True)) as batch:
        batch.alter_column("role", existing_type=sa.String(length=20), nullable=False)
