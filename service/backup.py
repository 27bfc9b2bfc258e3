"""Back up a node's database to one file and restore it, while the node keeps running.

SQLite goes through its online backup API (a consistent copy even while the node writes);
PostgreSQL through `pg_dump --format=custom` and `pg_restore --single-transaction`, so a restore
either replaces everything or changes nothing. The file holds the whole database: datasets, the
audit log and its chain head, the node's identity, and the migration revision. The signing key
is not in it (it lives outside the database): back it up separately.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from service import migrate
from service.db import make_engine, normalise_url
from service.errors import LnobError
from service.logging import redact
from service.node import audit
from service.node.models import NodeIdentity

Backend = Literal["sqlite", "postgresql"]

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
NODE_TABLES = ("alembic_version", "node_identity", "audit_log", "audit_head")


class BackupError(LnobError):
    """A backup or a restore could not be made; the target was left as it was."""

    code = "BACKUP_FAILED"


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    backend: Backend
    size: int


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What the database holds after a restore, and whether it is ready to serve."""

    backend: Backend
    node_id: str
    revisions: frozenset[str]
    at_head: bool
    audit: audit.Verification


def backend_of(database_url: str) -> Backend:
    name = make_url(normalise_url(database_url)).get_backend_name()
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"cannot back up a {name} database: SQLite and PostgreSQL only")


def backup(database_url: str, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Write a consistent copy of the node database at `database_url` to `target`.

    The file is written beside `target` and renamed into place only when complete, mode 0600:
    it holds everything the node holds.
    """
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists: choose another file or allow overwriting it")
    backend = backend_of(database_url)
    _check_is_node(database_url)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        if backend == "sqlite":
            _sqlite_backup(_sqlite_path(database_url), partial)
        else:
            _pg_run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges",
                                f"--file={partial}"], database_url)  # fmt: skip
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, backend=backend, size=target.stat().st_size)


def restore(database_url: str, source: Path) -> RestoreResult:
    """Replace the node database at `database_url` with the backup in `source`.

    The backup is checked first (its kind matches the database's, it is a node database of a
    revision this version knows); nothing is changed if it is not usable.
    """
    backend = backend_of(database_url)
    _check_backup_file(source, backend)
    if backend == "sqlite":
        _sqlite_restore(source, _sqlite_path(database_url))
    else:
        _pg_run("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                               "--single-transaction", "--exit-on-error"], database_url,
                extra=[str(source)])  # fmt: skip
    engine = make_engine(database_url)
    try:
        return _describe(engine, backend)
    finally:
        engine.dispose()


def describe_database(database_url: str) -> str | None:
    """The node id the database at `database_url` holds, or None if it holds no node."""
    engine = make_engine(database_url)
    try:
        if "node_identity" not in inspect(engine).get_table_names():
            return None
        with Session(engine) as session:
            return session.execute(select(NodeIdentity.node_id)).scalar_one_or_none()
    finally:
        engine.dispose()


def _check_is_node(database_url: str) -> None:
    if describe_database(database_url) is None:
        raise BackupError("the database holds no node: run `lnob node init` first")


def _describe(engine: Engine, backend: Backend) -> RestoreResult:
    revisions = frozenset(migrate.current_revisions(engine))
    with Session(engine) as session:
        node_id = session.execute(select(NodeIdentity.node_id)).scalar_one_or_none()
        verification = audit.verify(session)
    return RestoreResult(
        backend=backend,
        node_id=node_id or "",
        revisions=revisions,
        at_head=migrate.at_head(engine, "node"),
        audit=verification,
    )


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("the SQLite database must be a file named in LNOB_DATABASE_URL")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database file at {source}")
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        # One self-contained file: no -wal or -shm beside it to forget.
        dst.execute("PRAGMA journal_mode=DELETE")
        _sqlite_check(dst, target)


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
        _sqlite_check(src, source)
        with contextlib.closing(sqlite3.connect(target, timeout=30)) as dst:
            # The backup API writes the target in one transaction, under its lock: running
            # readers see the old database or the new one, never a mixture.
            src.backup(dst)
    if target.stat().st_mode & 0o077:
        target.chmod(0o600)


def _sqlite_check(connection: sqlite3.Connection, path: Path) -> None:
    (result,) = connection.execute("PRAGMA integrity_check").fetchone()
    if result != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result}")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    missing = [name for name in NODE_TABLES if name not in tables]
    if missing:
        raise BackupError(f"{path} is not a node database (no {', '.join(missing)} table)")
    revisions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    _check_revisions_known(revisions, path)


# --- PostgreSQL ----------------------------------------------------------------------------


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries the password, so
    neither `ps` nor an error message shows it."""
    url: URL = make_url(normalise_url(database_url))
    env = {**os.environ}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _pg_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools, of the server's major "
            "version or newer"
        )
    return path


def _pg_run(
    tool: str, options: list[str], database_url: str, *, extra: list[str] | None = None
) -> None:
    uri, env = _libpq(database_url)
    command = [_pg_binary(tool), *options, f"--dbname={uri}", *(extra or [])]
    completed = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
        command, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = redact(completed.stderr.strip())[-2000:] or f"exit status {completed.returncode}"
        raise BackupError(f"{tool} failed: {detail}")


def _check_backup_file(source: Path, backend: Backend) -> None:
    try:
        with source.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"no backup file at {source}") from None
    kind: Backend | None = (
        "sqlite"
        if head.startswith(SQLITE_MAGIC)
        else "postgresql"
        if head.startswith(PG_DUMP_MAGIC)
        else None
    )
    if kind is None:
        raise BackupError(f"{source} is not a backup made by `lnob node backup`")
    if kind != backend:
        raise BackupError(
            f"{source} is a {kind} backup; the database is {backend}: restore it into a "
            f"{kind} database"
        )
    if kind == "postgresql":
        _check_pg_dump(source)


def _check_pg_dump(source: Path) -> None:
    listing = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
        [_pg_binary("pg_restore"), "--list", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise BackupError(f"{source} cannot be read by pg_restore: {listing.stderr.strip()}")
    tables = {
        parts[parts.index("TABLE") + 2]
        for line in listing.stdout.splitlines()
        if " TABLE " in line and not line.startswith(";")
        for parts in [line.split()]
        if parts.index("TABLE") + 2 < len(parts)
    }
    missing = [name for name in NODE_TABLES if name not in tables]
    if missing:
        raise BackupError(f"{source} is not a node database (no {', '.join(missing)} table)")


def _check_revisions_known(revisions: set[str], path: Path) -> None:
    """A backup made by a newer version cannot be restored by this one: it would not start."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://", "node"))
    for revision in revisions:
        try:
            known = script.get_revision(revision) is not None
        except Exception:  # alembic raises its own resolution errors for unknown ids
            known = False
        if not known:
            raise BackupError(
                f"{path} is at database revision {revision}, which this version does not "
                "know: restore it with the version that made it, or a newer one"
            )


__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "backend_of",
    "backup",
    "describe_database",
    "restore",
]
