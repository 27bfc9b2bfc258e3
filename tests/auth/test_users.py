"""The user store and `lnob auth users …`: a password is shown once, only its slow hash is kept,
and a wrong username costs as much as a wrong password."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auth import clients, users
from auth.models import User
from auth.tokens import Role
from service import migrate
from service.cli import lnob
from service.db import make_engine, make_session_factory
from service.errors import BadRequest, NotFound


@pytest.fixture
def auth_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "auth")
    yield engine
    engine.dispose()


def test_add_authenticate_and_remove(auth_engine: Engine) -> None:
    sessions = make_session_factory(auth_engine)
    with sessions.begin() as session:
        record, password = users.add_user(
            session, username=" Amina ", name="Amina  Rahman", role=Role.ICSO,
            organisation="Riverbend Inclusion Collective",
        )  # fmt: skip
    assert (record.username, record.name) == ("amina", "Amina Rahman")
    assert record.subject.startswith("amina-") and len(password) >= 20
    with sessions() as session:
        assert users.authenticate(session, "AMINA", password) == record
        assert users.authenticate(session, "amina", password + "x") is None
        assert users.authenticate(session, "nobody", password) is None
        assert users.authenticate(session, "amina", "x" * 5000) is None
        stored = session.execute(select(User)).scalar_one()
    assert stored.password_hash.startswith("scrypt$") and password not in stored.password_hash

    with sessions.begin() as session:
        removed = users.remove_user(session, "amina")
    assert not removed.active and removed.removed_at is not None
    with sessions.begin() as session:
        assert users.authenticate(session, "amina", password) is None
        assert users.find_active_user(session, record.subject) is None
        # The name may be given again; the new person gets a new subject.
        again, _ = users.add_user(session, username="amina", name="Amina B", role=Role.GOVERNMENT)
    assert again.subject != record.subject
    with sessions() as session:
        assert [u.active for u in users.list_users(session)] == [False, True]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": "has space"}, "username"),
        ({"username": ""}, "username"),
        ({"name": "  "}, "display name"),
        ({"role": Role.ICSO, "organisation": None}, "needs --organisation"),
        ({"role": Role.SECRETARIAT, "organisation": "Riverbend"}, "no member organisation"),
        ({"password": "short"}, "12 to 1024"),
    ],
)
def test_malformed_users_are_refused(
    auth_engine: Engine, changes: dict[str, object], message: str
) -> None:
    wanted: dict[str, object] = {"username": "lee", "name": "Lee", "role": Role.GOVERNMENT,
                                 "organisation": None} | changes  # fmt: skip
    with make_session_factory(auth_engine).begin() as session, pytest.raises(BadRequest) as refused:
        users.add_user(session, **wanted)  # type: ignore[arg-type]
    assert message in str(refused.value)


def test_usernames_are_unique_among_active_users(auth_engine: Engine) -> None:
    with make_session_factory(auth_engine).begin() as session:
        users.add_user(session, username="lee", name="Lee", role=Role.GOVERNMENT)
        with pytest.raises(BadRequest, match="already a user"):
            users.add_user(session, username="LEE", name="Lee 2", role=Role.GOVERNMENT)
        with pytest.raises(NotFound):
            users.remove_user(session, "nobody")


def test_an_unknown_username_costs_a_password_check_too(auth_engine: Engine) -> None:
    with make_session_factory(auth_engine).begin() as session:
        _, password = users.add_user(session, username="lee", name="Lee", role=Role.GOVERNMENT)

    def slowest(username: str) -> float:
        # The fastest of a few tries, to keep a busy machine's noise out.
        times = []
        for _ in range(3):
            with make_session_factory(auth_engine)() as session:
                start = time.perf_counter()
                users.authenticate(session, username, password + "x")
                times.append(time.perf_counter() - start)
        return min(times)

    known, unknown = slowest("lee"), slowest("nobody")
    started = time.perf_counter()
    clients.verify_secret("x", clients.hash_secret("y"))
    one_hash = time.perf_counter() - started
    # Both pay for one scrypt; without the dummy check the unknown name would cost ~nothing.
    assert unknown > one_hash / 4
    assert known > one_hash / 4


def _lnob(runner: CliRunner, env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    # A wide terminal, so that tables are not folded.
    return runner.invoke(
        lnob, list(args), env={"COLUMNS": "250", **env}, input=stdin, catch_exceptions=False
    )


def test_cli_adds_lists_and_removes_users(database_url: str, auth_engine: Engine) -> None:
    runner = CliRunner()
    env = {"LNOB_AUTH_DATABASE_URL": database_url}
    added = _lnob(
        runner, env, "auth", "users", "add", "--username", "amina", "--name", "Amina Rahman",
        "--role", "icso", "--organisation", "Riverbend Inclusion Collective",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    found = re.search(r"password: (\S+)", added.stdout)
    assert found and "cannot be shown again" in added.output
    password = found.group(1)
    with Session(auth_engine) as session:
        assert users.authenticate(session, "amina", password) is not None

    piped = _lnob(
        runner, env, "auth", "users", "add", "--username", "lee", "--name", "Lee",
        "--role", "government", "--password-stdin", stdin="a long enough passphrase\n",
    )  # fmt: skip
    assert piped.exit_code == 0, piped.output
    assert "a long enough passphrase" not in piped.output
    with Session(auth_engine) as session:
        assert users.authenticate(session, "lee", "a long enough passphrase") is not None

    listed = _lnob(runner, env, "auth", "users", "list")
    assert "amina" in listed.stdout and "Riverbend" in listed.stdout
    assert password not in listed.output

    removed = _lnob(runner, env, "auth", "users", "remove", "amina")
    assert removed.exit_code == 0 and "removed" in removed.output
    assert "removed" in _lnob(runner, env, "auth", "users", "list").stdout
    missing = _lnob(runner, env, "auth", "users", "remove", "amina")
    assert missing.exit_code == 1 and "no user 'amina'" in missing.output


def test_cli_registers_a_web_client_with_its_redirect_uris(
    database_url: str, auth_engine: Engine
) -> None:
    runner = CliRunner()
    env = {"LNOB_AUTH_DATABASE_URL": database_url}
    added = _lnob(
        runner, env, "auth", "clients", "add", "--name", "Coordinator dashboard",
        "--redirect-uri", "https://federation.example.org/auth/callback",
        "--redirect-uri", "http://localhost:8000/auth/callback",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "web client" in added.stdout
    with Session(auth_engine) as session:
        [record] = clients.list_clients(session)
    assert record.role is None and record.is_web_client
    assert record.redirect_uris == (
        "https://federation.example.org/auth/callback",
        "http://localhost:8000/auth/callback",
    )
    for bad in ("http://federation.example.org/cb", "https://x.example/cb#frag", "/relative"):
        refused = _lnob(
            runner, env, "auth", "clients", "add", "--name", "Bad", "--redirect-uri", bad
        )
        assert refused.exit_code == 1 and "refused" in refused.output
    with_role = _lnob(
        runner, env, "auth", "clients", "add", "--name", "Both", "--role", "secretariat",
        "--redirect-uri", "https://x.example/cb",
    )  # fmt: skip
    assert with_role.exit_code == 1 and "no role" in with_role.output
    neither = _lnob(runner, env, "auth", "clients", "add", "--name", "Neither")
    assert neither.exit_code == 1 and "needs --role" in neither.output


def test_cli_asks_for_init_before_users(tmp_path: Path) -> None:
    env = {"LNOB_AUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    result = _lnob(CliRunner(), env, "auth", "users", "list")
    assert result.exit_code == 1 and "lnob auth init" in result.output
