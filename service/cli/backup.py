"""`lnob node backup FILE` and `lnob node restore FILE`: the node's database in one file."""

from __future__ import annotations

from pathlib import Path

import click

from service import backup as node_backup
from service.cli.common import console, err_console, fail_cleanly, settings_from_env


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
@fail_cleanly
def backup(file: Path, overwrite: bool) -> None:
    """Write a consistent copy of the node's database to FILE, while the node runs.

    SQLite: an SQLite file (online backup API). PostgreSQL: a pg_dump custom-format archive
    (needs pg_dump of the server's major version or newer). The signing key is not included:
    keep a copy of LNOB_KEY_FILE (and the folder of retired keys beside it) too.
    """
    settings = settings_from_env()
    result = node_backup.backup(settings.database_url, file, overwrite=overwrite)
    console.print(
        f"backup of the {result.backend} database written to {result.path} "
        f"({result.size:,} bytes, mode 0600)",
        highlight=False,
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
@fail_cleanly
def restore(file: Path, yes: bool) -> None:
    """Replace the node's database with the backup in FILE; then verify the audit log.

    Stop the node's servers first: answers given during a restore could come from either
    database. Everything written since the backup was made is lost.
    """
    settings = settings_from_env()
    current = node_backup.describe_database(settings.database_url)
    if current is not None and not yes:
        click.confirm(
            f"This replaces everything in the database of node {current!r} with {file}. Continue?",
            abort=True,
            err=True,
        )
    result = node_backup.restore(settings.database_url, file)
    console.print(
        f"restored node [bold]{result.node_id}[/] from {file} into the {result.backend} database",
        highlight=False,
    )
    if current is not None and current != result.node_id:
        err_console.print(
            f"[bold yellow]note[/]: the database held node {current!r}; the backup is of "
            f"node {result.node_id!r}: LNOB_KEY_FILE must be that node's key",
            highlight=False,
        )
    if not result.at_head:
        err_console.print(
            "[bold yellow]the backup is of an older version[/]: run `lnob node init` to "
            "upgrade the database before serving"
        )
    if result.audit.ok:
        console.print(f"audit log intact: {result.audit.entries} entries verified")
        return
    for problem in result.audit.problems:
        err_console.print(f"[bold red]{problem}[/]", highlight=False)
    raise SystemExit(2)
