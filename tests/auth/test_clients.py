"""The client registry and `lnob auth …`: a secret is shown once, only its slow hash is kept."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth import clients
from auth.models import OAuthClient, utcnow
from auth.tokens import Role
from service import migrate
from service.cli import lnob
from service.db import make_engine
from service.errors import BadRequest, NotFound
from tests.auth.conftest import AuthServer


@pytest.fixture
def auth_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "auth")
    yield engine
    engine.dispose()


def test_secret_hash_is_salted_slow_and_checked_in_constant_time() -> None:
    first, second = clients.hash_secret("s3cret"), clients.hash_secret("s3cret")
    assert first != second  # a fresh salt each time
    assert first.startswith(f"scrypt${clients.SCRYPT_N}${clients.SCRYPT_R}${clients.SCRYPT_P}$")
    assert "s3cret" not in first
    assert clients.verify_secret("s3cret", first) and clients.verify_secret("s3cret", second)
    assert not clients.verify_secret("s3cret ", first)
    assert not clients.verify_secret("", first)
    for broken in ("", "plain", "scrypt$1$2$3$!!$!!", "md5$1$2$3$AA==$AA==", first + "$x"):
        assert not clients.verify_secret("s3cret", broken)


@pytest.mark.parametrize(
    ("role", "organisation", "message"),
    [
        (Role.ICSO, None, "needs --org"),
        (Role.GOVERNMENT, "Ministry", "speaks for no organisation"),
        (Role.SECRETARIAT, "LNOB", "speaks for no organisation"),
    ],
)
def test_only_icso_clients_speak_for_an_organisation(
    auth_engine: Engine, role: Role, organisation: str | None, message: str
) -> None:
    with Session(auth_engine) as session, pytest.raises(BadRequest, match=message):
        clients.add_client(session, name="A client", role=role, organisation=organisation)


def test_the_database_enforces_the_role_and_organisation_rules(auth_engine: Engine) -> None:
    bad_rows: list[dict[str, str | None]] = [
        {"role": "icso", "organisation": None},
        {"role": "government", "organisation": "Someone"},
        {"role": "admin", "organisation": None},
    ]
    for n, row in enumerate(bad_rows):
        with auth_engine.connect() as connection, pytest.raises(IntegrityError):
            connection.execute(
                insert(OAuthClient).values(
                    client_id=f"c{n}", name="x", secret_hash="x", created_at=utcnow(), **row
                )
            )


def test_revoking_is_recorded_and_unknown_clients_are_reported(auth_engine: Engine) -> None:
    with Session(auth_engine) as session, session.begin():
        record, _ = clients.add_client(session, name="Script", role=Role.SECRETARIAT)
        first = clients.revoke_client(session, record.client_id)
        again = clients.revoke_client(session, record.client_id)
        assert not first.active and again.revoked_at == first.revoked_at
        assert clients.find_active_client(session, record.client_id) is None
        with pytest.raises(NotFound):
            clients.revoke_client(session, "no-such-client")


def _lnob(runner: CliRunner, env: dict[str, str], *args: str) -> Result:
    return runner.invoke(lnob, list(args), env={**env, "COLUMNS": "200"}, catch_exceptions=False)


def test_cli_prints_the_secret_once_and_stores_only_its_hash(
    auth_server: AuthServer, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {
        "LNOB_AUTH_DATABASE_URL": database_url,
        "LNOB_AUTH_KEY_FILE": str(tmp_path / "cli" / "issuer.pem"),
    }
    init = _lnob(runner, env, "auth", "init")
    assert init.exit_code == 0, init.output
    key_file = Path(env["LNOB_AUTH_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _lnob(runner, env, "auth", "init").exit_code == 0  # safe to repeat; key kept
    assert key_file.read_bytes() and "kept" in _lnob(runner, env, "auth", "init").output

    added = _lnob(
        runner, env, "auth", "clients", "add",
        "--role", "government", "--name", "Ministry of Planning, Kenya",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    client_id = re.search(r"client_id: (\S+)", added.stdout)
    secret = re.search(r"client_secret: (\S+)", added.stdout)
    assert client_id and secret
    client_id_text, secret_text = client_id.group(1), secret.group(1)
    assert client_id_text.startswith("ministry-of-planning-kenya-")
    assert added.stdout.count(secret_text) == 1
    assert "cannot be shown again" in added.output

    listed = _lnob(runner, env, "auth", "clients", "list")
    assert client_id_text in listed.stdout and secret_text not in listed.output

    with Session(auth_server.engine) as session:
        row = session.execute(
            select(OAuthClient).where(OAuthClient.client_id == client_id_text)
        ).scalar_one()
        stored = [str(getattr(row, column.key)) for column in OAuthClient.__table__.columns]
    assert not any(secret_text in value for value in stored)
    assert row.secret_hash.startswith("scrypt$")
    assert (row.role, row.organisation) == ("government", None)

    # The printed secret is the one that works at the running authorization server.
    assert auth_server.token_response(client_id_text, secret_text).status_code == 200
    revoked = _lnob(runner, env, "auth", "clients", "revoke", client_id_text)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert auth_server.token_response(client_id_text, secret_text).status_code == 401
    assert "revoked" in _lnob(runner, env, "auth", "clients", "list").output


def test_cli_refuses_an_icso_client_without_its_organisation(
    database_url: str, auth_engine: Engine
) -> None:
    result = _lnob(
        CliRunner(), {"LNOB_AUTH_DATABASE_URL": database_url},
        "auth", "clients", "add", "--role", "icso", "--name", "Data team",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "needs --org" in result.output


def test_cli_asks_for_init_before_clients(tmp_path: Path) -> None:
    env = {"LNOB_AUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    result = _lnob(CliRunner(), env, "auth", "clients", "list")
    assert result.exit_code == 1
    assert "lnob auth init" in result.output
