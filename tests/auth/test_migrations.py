"""The "auth" Alembic branch builds the client registry, round-trips, and lives beside a node's."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from service import migrate
from service.db import make_engine


def test_auth_branch_upgrades_from_empty_and_round_trips(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not migrate.at_head(engine, "auth")
        migrate.upgrade(engine, "auth")
        migrate.upgrade(engine, "auth")  # twice is safe
        assert migrate.at_head(engine, "auth")
        tables = set(inspect(engine).get_table_names())
        assert {"oauth_client", "oauth_redirect_uri", "auth_user", "authorization_code"} <= tables
        migrate.downgrade(engine, "auth", "a0001")  # back to machine clients only
        assert "auth_user" not in inspect(engine).get_table_names()
        assert not next(
            c for c in inspect(engine).get_columns("oauth_client") if c["name"] == "role"
        )["nullable"]
        migrate.upgrade(engine, "auth")
        migrate.downgrade(engine, "auth", "auth@base")
        assert "oauth_client" not in inspect(engine).get_table_names()
        migrate.upgrade(engine, "auth")
        assert migrate.at_head(engine, "auth")
    finally:
        engine.dispose()


def test_auth_and_node_branches_share_a_database(node_engine: Engine) -> None:
    migrate.upgrade(node_engine, "auth")
    assert migrate.at_head(node_engine, "auth") and migrate.at_head(node_engine, "node")
    tables = set(inspect(node_engine).get_table_names())
    assert {"oauth_client", "node_identity", "audit_log"} <= tables
