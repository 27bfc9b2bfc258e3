"""`lnob node …`: what an ICSO data team runs on its own node."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.orm import Session

from auth.keys import fingerprint
from auth.levels import Level
from service.cli.backup import backup, restore
from service.cli.common import LEVEL, console, fail_cleanly, operator, settings_from_env
from service.cli.keys import keys
from service.db import make_engine
from service.logging import configure_logging
from service.node import audit
from service.node import datasets as node_datasets
from service.node.identity import init_node


@click.group()
def node() -> None:
    """Run an ICSO's node: initialise, load data, decide who sees what, serve."""


@node.command()
@click.option("--name", help="Node name, e.g. 'Riverbend node (Dhaka)'.")
@click.option("--organisation", help="The organisation that runs this node.")
@click.option("--node-id", help="Short id (lowercase, hyphens); default from the organisation.")
@fail_cleanly
def init(name: str | None, organisation: str | None, node_id: str | None) -> None:
    """Create the database (Alembic migrations) and the node's identity and signing key.

    Safe to run again: it upgrades the database and keeps the existing identity and key.
    """
    settings = settings_from_env()
    engine = make_engine(settings.database_url)
    try:
        result = init_node(engine, settings, name=name, organisation=organisation, node_id=node_id)
    finally:
        engine.dispose()
    console.print(
        f"node [bold]{result.node_id}[/] ({result.organisation})"
        + (" created" if result.identity_created else " already initialised; database upgraded")
    )
    console.print(f"database: {engine.url.render_as_string(hide_password=True)}")
    state = "created" if result.key_created else "kept"
    console.print(f"signing key {state}: {settings.key_file} (mode 0600)")
    console.print(f"key fingerprint: [bold]{fingerprint(result.key.public_jwk())}[/]")


@node.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", "slug", required=True, help="Dataset slug (lowercase, hyphens).")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["tidy", "open-sdg", "sdmx-csv"]),
    default="tidy",
    show_default=True,
)
@click.option(
    "--mapping-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with column_mapping.csv and code_mapping.csv (open-sdg).",
)
@click.option("--ref-area", help="ISO 3166-1 alpha-3 country for files that carry none.")
@click.option("--strict", is_flag=True, help="Refuse the file if any column or label does not map.")
@click.option("--title")
@click.option("--organisation", help="Default: the node's organisation.")
@click.option("--methodology", help="e.g. community-driven survey, scorecard, focus group.")
@click.option("--collection-period")
@click.option("--licence")
@click.option("--contact")
@click.option("--release-level", type=LEVEL, help="Who may see values (new dataset: owner).")
@click.option("--discovery-level", type=LEVEL, help="Who may see that it exists.")
@click.option(
    "--published/--not-published",
    default=None,
    help="Already-published statistics: cells without n may be released.",
)
@fail_cleanly
def ingest(
    file: Path,
    slug: str,
    file_format: str,
    mapping_dir: Path | None,
    ref_area: str | None,
    strict: bool,
    title: str | None,
    organisation: str | None,
    methodology: str | None,
    collection_period: str | None,
    licence: str | None,
    contact: str | None,
    release_level: Level | None,
    discovery_level: Level | None,
    published: bool | None,
) -> None:
    """Load FILE as a new version of a dataset: all of it, or nothing."""
    from service.node.ingest import DatasetMeta, IngestOptions, ingest_file

    settings = settings_from_env()
    engine = make_engine(settings.database_url)
    meta = DatasetMeta(
        slug=slug, title=title, organisation=organisation, methodology=methodology,
        collection_period=collection_period, licence=licence, contact=contact,
        release_level=release_level, discovery_level=discovery_level, published=published,
    )  # fmt: skip
    options = IngestOptions(
        format=file_format,  # type: ignore[arg-type]
        mapping_dir=mapping_dir,
        strict=strict,
        ref_area=ref_area,
    )
    total = file.stat().st_size
    progress = Progress(
        TextColumn("[bold]ingest[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task(file.name, total=total)
            report = ingest_file(
                engine, file, meta, options, loaded_by=operator(),
                progress=lambda done, _total: progress.update(task, completed=done),
            )  # fmt: skip
    finally:
        engine.dispose()
    console.print(
        f"dataset [bold]{report.dataset}[/] version {report.version}: "
        f"{report.rows_stored} cells stored from {report.rows_read} rows "
        f"in {report.seconds:.1f} s ({report.rows_read / max(report.seconds, 1e-9):,.0f} rows/s)"
    )
    if report.rows_excluded:
        console.print(f"[yellow]{report.rows_excluded} rows left out[/] (use --strict to refuse):")
        for reason, count in sorted(report.exclusions.items(), key=lambda item: -item[1]):
            console.print(f"  {count:>7}  {reason}", highlight=False)


@node.command("datasets")
@fail_cleanly
def list_datasets() -> None:
    """List datasets with their levels and versions."""
    settings = settings_from_env()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        rows = node_datasets.list_datasets(session, level=Level.OWNER)
    engine.dispose()
    table = Table("dataset", "title", "release", "discovery", "published", "version", "cells")
    for d in rows:
        table.add_row(
            d.slug, d.title, d.release_level.label, d.discovery_level.label,
            "yes" if d.published else "no", str(d.version or "-"), f"{d.cell_count:,}",
        )  # fmt: skip
    console.print(table)


@node.command()
@click.argument("slug")
@click.option("--level", "release_level", type=LEVEL, help="Who may see values.")
@click.option("--discovery-level", type=LEVEL, help="Who may see that the dataset exists.")
@fail_cleanly
def release(slug: str, release_level: Level | None, discovery_level: Level | None) -> None:
    """Change who may see a dataset; the audit log records who and when."""
    if release_level is None and discovery_level is None:
        raise click.UsageError("give --level and/or --discovery-level")
    settings = settings_from_env()
    engine = make_engine(settings.database_url)
    with Session(engine) as session, session.begin():
        info = node_datasets.set_levels(
            session, slug, by=operator(),
            release_level=release_level, discovery_level=discovery_level,
        )  # fmt: skip
    engine.dispose()
    console.print(
        f"{info.slug}: values to [bold]{info.release_level.label}[/], "
        f"existence to [bold]{info.discovery_level.label}[/]"
    )


@node.command("audit")
@click.option("--limit", default=50, show_default=True, help="How many recent entries to list.")
@click.option("--verify", is_flag=True, help="Check the hash chain: altered or removed entries.")
@fail_cleanly
def audit_log(limit: int, verify: bool) -> None:
    """List the audit log, or verify that no entry was altered or removed."""
    settings = settings_from_env()
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        if verify:
            result = audit.verify(session)
            engine.dispose()
            if result.ok:
                console.print(f"audit log intact: {result.entries} entries verified")
                return
            for problem in result.problems:
                console.print(f"[bold red]{problem}[/]", highlight=False)
            raise SystemExit(2)
        entries = audit.recent(session, limit)
    engine.dispose()
    table = Table("seq", "at (UTC)", "caller", "level", "action", "operation", "cells", "suppr.")
    for e in reversed(entries):
        operation = " ".join(e.operation.split())
        table.add_row(
            str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.caller, e.level, e.action,
            operation[:60] + ("…" if len(operation) > 60 else ""),
            str(e.cells_returned), str(e.cells_suppressed),
        )  # fmt: skip
    console.print(table)


@node.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@fail_cleanly
def serve(host: str, port: int) -> None:
    """Serve GraphQL at /graphql, downloads, /healthz and /readyz with uvicorn."""
    from service.node_app import create_node_app
    from service.serving import serve as serve_app

    settings = settings_from_env()
    configure_logging(logging.INFO)
    serve_app(create_node_app(settings), host=host, port=port)


node.add_command(keys)
node.add_command(backup)
node.add_command(restore)
