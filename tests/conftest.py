"""Fixtures shared by every test: a fresh database per test, on SQLite or PostgreSQL.

`LNOB_TEST_BACKEND=postgres` runs the suite against the server at `LNOB_TEST_POSTGRES_URL`
(default postgresql://postgres@127.0.0.1:5432/test), creating and dropping a database per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from service import migrate
from service.db import make_engine

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKEND = os.environ.get("LNOB_TEST_BACKEND", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "LNOB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data beside the project (SDG framework, SDMX codelists, UK Open SDG)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


def _postgres_database() -> Iterator[str]:
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lnob_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test, dropped afterwards."""
    if BACKEND == "postgres":
        yield from _postgres_database()
    else:
        yield f"sqlite:///{tmp_path / 'lnob.sqlite3'}"


@pytest.fixture
def node_engine(database_url: str) -> Iterator[Engine]:
    """A node database migrated to head by Alembic, as `lnob node init` does."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "node")
    yield engine
    engine.dispose()
