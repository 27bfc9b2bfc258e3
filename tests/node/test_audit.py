"""The audit log is append-only and any alteration or removal is found by verification."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.node import audit
from service.node.audit import AuditRecord


def _append(engine: Engine, n: int, caller: str = "tester") -> None:
    for i in range(n):
        with Session(engine) as session, session.begin():
            audit.append(
                session,
                AuditRecord(caller=caller, level="public", action="graphql",
                            operation=f"query {i}", cells_returned=i, cells_suppressed=i // 2),
            )  # fmt: skip


def _drop_guards(engine: Engine) -> None:
    """What an attacker with database access does first; verification must still catch them."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


def test_chain_of_untouched_log_verifies(node_engine: Engine) -> None:
    _append(node_engine, 5)
    with Session(node_engine) as session:
        result = audit.verify(session)
    assert result.ok and result.entries == 5


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET cells_returned = 0 WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 3",
])  # fmt: skip
def test_database_refuses_rewrites(node_engine: Engine, statement: str) -> None:
    _append(node_engine, 3)
    with pytest.raises(DBAPIError, match="append-only"), node_engine.begin() as conn:
        conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_log SET cells_returned = 0 WHERE seq = 3", "entry 3: altered"),
        ("UPDATE audit_log SET caller = 'someone else' WHERE seq = 1", "entry 1: altered"),
        ("DELETE FROM audit_log WHERE seq = 2", "entry 2: missing"),
        ("DELETE FROM audit_log WHERE seq = 4", "removed: the log ends at entry 3"),
    ],
)
def test_verification_finds_altered_and_removed_entries(
    node_engine: Engine, statement: str, expected: str
) -> None:
    _append(node_engine, 4)
    _drop_guards(node_engine)
    with node_engine.begin() as conn:
        conn.execute(text(statement))
    with Session(node_engine) as session:
        result = audit.verify(session)
    assert not result.ok
    assert any(expected in str(problem) for problem in result.problems), result.problems


def test_concurrent_appenders_keep_one_chain(node_engine: Engine) -> None:
    threads = [
        threading.Thread(target=_append, args=(node_engine, 10, f"caller-{t}")) for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(node_engine) as session:
        result = audit.verify(session)
    assert result.ok, result.problems
    assert result.entries == 40
