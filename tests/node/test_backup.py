"""`lnob node backup` / `restore`: a round trip loses nothing and the audit chain still verifies,
on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from auth.levels import Level
from service import backup as node_backup
from service import migrate
from service.backup import BackupError
from service.cli.backup import backup as backup_command
from service.cli.backup import restore as restore_command
from service.db import make_engine
from service.node import audit
from service.node.models import AuditEntry, NodeBase
from tests.conftest import BACKEND, POSTGRES_ADMIN_URL
from tests.node.conftest import NodeUnderTest, sex_table


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every node table, in primary-key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in NodeBase.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            rows = connection.execute(select(table).order_by(*order)).all()
            tables[table.name] = [tuple(row) for row in rows]
        versions = connection.execute(text("SELECT version_num FROM alembic_version"))
        tables["alembic_version"] = [tuple(row) for row in versions]
    return tables


def fill(node: NodeUnderTest) -> None:
    """Real data: two datasets (one with two versions), and audit entries of every kind."""
    node.load("survey", sex_table(female=(120, 40), male=(95, 38), total=(215, 78)))
    node.load("survey", sex_table(female=(121, 41), male=(96, 39), total=(217, 80)))
    node.load(
        "scorecard",
        sex_table(indicator="5.5.1", female=(3.25, 12), male=(4.5, 11), total=(7.75, 23),
                  unit="SCORE"),
        release=Level.COALITION,
    )  # fmt: skip
    with Session(node.engine) as session, session.begin():
        for seq in range(3):
            audit.append(
                session,
                audit.AuditRecord(
                    caller=f"client-{seq}", level="government", action="graphql",
                    operation="query Observations { observations { totalCount } }",
                    detail={"status": 200, "note": "é ✓"}, cells_returned=seq * 7,
                    cells_suppressed=seq,
                ),
            )  # fmt: skip


@pytest.fixture
def other_database_url(tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the backend under test: where a backup is restored."""
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path / 'restored' / 'node.sqlite3'}"
        return
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lnob_restore_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_round_trip_into_a_new_database_loses_nothing(
    test_node: NodeUnderTest, other_database_url: str, tmp_path: Path
) -> None:
    fill(test_node)
    before = snapshot(test_node.engine)
    assert len(before["dataset_version"]) == 3 and len(before["observation"]) == 6
    assert len(before["audit_log"]) >= 3

    result = node_backup.backup(test_node.settings.database_url, tmp_path / "node.backup")
    assert result.size > 0
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600

    restored = node_backup.restore(other_database_url, result.path)
    assert restored.node_id == "test-icso"
    assert restored.at_head
    assert restored.audit.ok, restored.audit.problems
    assert restored.audit.entries == len(before["audit_log"])
    engine = make_engine(other_database_url)
    try:
        assert snapshot(engine) == before
        # The database's own guard came along: the restored log is still append-only.
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(update(AuditEntry).values(caller="someone"))
    finally:
        engine.dispose()


def test_restore_over_a_live_database_brings_back_the_backup_exactly(
    test_node: NodeUnderTest, tmp_path: Path
) -> None:
    fill(test_node)
    before = snapshot(test_node.engine)
    file = node_backup.backup(test_node.settings.database_url, tmp_path / "node.backup").path

    # Work after the backup: a new dataset and more audit entries; all of it is undone.
    test_node.load("later", sex_table(female=(10, 50), male=(11, 50), total=(21, 100)))
    assert snapshot(test_node.engine) != before

    restored = node_backup.restore(test_node.settings.database_url, file)
    assert restored.audit.ok, restored.audit.problems
    assert snapshot(test_node.engine) == before
    # The chain continues where the backup left it: a new entry verifies too.
    with Session(test_node.engine) as session, session.begin():
        audit.append(session, audit.AuditRecord("after-restore", "owner", "graphql", "{ node }"))
    with Session(test_node.engine) as session:
        assert audit.verify(session).ok


def test_tampering_in_a_backup_is_found_after_restore(
    test_node: NodeUnderTest, other_database_url: str, tmp_path: Path
) -> None:
    fill(test_node)
    with test_node.engine.begin() as connection:  # an attacker drops the guards first
        if test_node.engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
    with Session(test_node.engine) as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(caller="someone"))
    file = node_backup.backup(test_node.settings.database_url, tmp_path / "node.backup").path
    restored = node_backup.restore(other_database_url, file)
    assert not restored.audit.ok
    assert any(problem.seq == 2 for problem in restored.audit.problems)


def test_backup_refuses_to_overwrite_and_to_copy_an_empty_database(
    test_node: NodeUnderTest, database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "node.backup"
    target.write_text("keep me")
    with pytest.raises(BackupError, match="exists"):
        node_backup.backup(test_node.settings.database_url, target)
    assert target.read_text() == "keep me"
    node_backup.backup(test_node.settings.database_url, target, overwrite=True)
    assert target.read_text(errors="replace") != "keep me"


def test_restore_refuses_what_is_not_a_node_backup(
    test_node: NodeUnderTest, tmp_path: Path
) -> None:
    before = snapshot(test_node.engine)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    with pytest.raises(BackupError, match="not a backup"):
        node_backup.restore(test_node.settings.database_url, junk)
    with pytest.raises(BackupError, match="no backup file"):
        node_backup.restore(test_node.settings.database_url, tmp_path / "missing.backup")
    assert snapshot(test_node.engine) == before


@pytest.mark.skipif(BACKEND == "postgres", reason="builds an SQLite file by hand")
def test_sqlite_restore_refuses_a_database_of_another_kind(
    test_node: NodeUnderTest, tmp_path: Path
) -> None:
    import sqlite3

    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    connection.close()
    with pytest.raises(BackupError, match="not a node database"):
        node_backup.restore(test_node.settings.database_url, other)


@pytest.mark.skipif(BACKEND == "postgres", reason="the cross-backend case seen from SQLite")
def test_a_backup_of_one_backend_is_refused_by_the_other(
    test_node: NodeUnderTest, tmp_path: Path
) -> None:
    file = node_backup.backup(test_node.settings.database_url, tmp_path / "node.backup").path
    with pytest.raises(BackupError, match="sqlite backup; the database is postgresql"):
        node_backup.restore("postgresql://postgres@127.0.0.1:5432/never-touched", file)


def test_cli_backup_and_restore(
    test_node: NodeUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(test_node)
    before = snapshot(test_node.engine)
    monkeypatch.setenv("LNOB_DATABASE_URL", test_node.settings.database_url)
    monkeypatch.setenv("LNOB_KEY_FILE", str(test_node.settings.key_file))
    runner = CliRunner()
    file = tmp_path / "nightly.backup"

    made = runner.invoke(backup_command, [str(file)])
    assert made.exit_code == 0, made.output
    assert "written to" in made.output

    again = runner.invoke(backup_command, [str(file)])
    assert again.exit_code == 1 and "exists" in again.output

    test_node.load("later", sex_table(female=(10, 50), male=(11, 50), total=(21, 100)))
    declined = runner.invoke(restore_command, [str(file)], input="n\n")
    assert declined.exit_code == 1
    assert "test-icso" in declined.output
    assert snapshot(test_node.engine) != before

    done = runner.invoke(restore_command, [str(file), "--yes"])
    assert done.exit_code == 0, done.output
    assert "audit log intact" in done.output
    assert snapshot(test_node.engine) == before
    assert migrate.at_head(test_node.engine, "node")
