"""Migrations build the node schema from empty and round-trip down and up on both databases."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from service import migrate
from service.db import make_engine

NODE_TABLES = {
    "node_identity",
    "dataset",
    "dataset_version",
    "observation",
    "audit_log",
    "audit_head",
}


def test_upgrade_from_empty_reaches_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not migrate.at_head(engine, "node")
        migrate.upgrade(engine, "node")
        assert migrate.at_head(engine, "node")
        assert set(inspect(engine).get_table_names()) >= NODE_TABLES
        migrate.upgrade(engine, "node")  # twice is safe
        assert migrate.at_head(engine, "node")
    finally:
        engine.dispose()


def test_round_trip_down_and_up(node_engine: Engine) -> None:
    migrate.downgrade(node_engine, "node", "base")
    assert not (NODE_TABLES & set(inspect(node_engine).get_table_names()))
    migrate.upgrade(node_engine, "node")
    assert migrate.at_head(node_engine, "node")
    assert set(inspect(node_engine).get_table_names()) >= NODE_TABLES
