"""`lnob coordinator …` (the secretariat's service), and `lnob stocktake` and `lnob gaps`,
which ask a running coordinator."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import httpx
from rich.table import Table

from federation import registry
from federation.fanout import Federation, SourceStatus
from federation.gaps import DEFAULT_STALE_AFTER_YEARS
from federation.registry import NodeIdentity, RegisteredNode
from federation.stocktake import StocktakeEntry, csv_lines
from federation.transport import HttpTransport
from federation.trust import RegistryVerifier
from service import migrate
from service.cli.common import console, err_console, fail_cleanly, settings_from_env
from service.coordinator_downloads import GAPS_QUERY, gaps_csv_lines
from service.db import make_engine, make_session_factory
from service.errors import LnobError
from service.logging import configure_logging
from service.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_COORDINATOR_URL = "http://127.0.0.1:8100"
STATUS_STYLE = {
    "OK": "green",
    "TIMEOUT": "yellow",
    "UNREACHABLE": "red",
    "ERROR": "red",
    "UNTRUSTED": "bold red",
}


class CoordinatorUnavailable(LnobError):
    """The coordinator could not be reached or did not answer as a coordinator does."""

    code = "COORDINATOR_UNAVAILABLE"


class CoordinatorRefused(LnobError):
    """The coordinator answered with a GraphQL error."""

    code = "COORDINATOR_REFUSED"


@click.group()
def coordinator() -> None:
    """Run the secretariat's coordinator: register nodes, serve federated questions."""


@coordinator.command()
@fail_cleanly
def init() -> None:
    """Create or upgrade the coordinator's database (Alembic migrations). Safe to repeat."""
    settings = settings_from_env()
    engine = make_engine(settings.coordinator_database_url)
    try:
        migrate.upgrade(engine, "coordinator")
    finally:
        engine.dispose()
    console.print(
        f"coordinator database ready: {engine.url.render_as_string(hide_password=True)}",
        highlight=False,
    )


@coordinator.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
@fail_cleanly
def serve(host: str, port: int) -> None:
    """Serve federated GraphQL at /graphql, /download/stocktake.csv, /healthz and /readyz."""
    from service.coordinator_app import create_coordinator_app
    from service.serving import serve as serve_app

    settings = settings_from_env()
    configure_logging(logging.INFO)
    serve_app(create_coordinator_app(settings), host=host, port=port)


@coordinator.group()
def nodes() -> None:
    """The node registry: which nodes the coordinator asks, with which keys."""


async def _fetch_identity(settings: Settings, url: str) -> tuple[str, NodeIdentity]:
    async with HttpTransport(
        timeout=settings.node_timeout, retry_backoff=settings.fanout_retry_backoff
    ) as transport:
        return await registry.fetch_identity(transport, url)


@nodes.command("add")
@click.argument("url")
@click.option("--key", "pinned", metavar="JWK-OR-FILE",
              help="The node's public key received out of band (JWK text or a file): "
                   "refuse the node if it presents another. For a node already registered "
                   "at URL, pins this key in place of the one held.")  # fmt: skip
@fail_cleanly
def add_node(url: str, pinned: str | None) -> None:
    """Fetch the identity and public key of the node at URL and register it.

    The node must sign its answers with the key it presents."""
    settings = settings_from_env()
    pinned_key = registry.read_jwk(pinned) if pinned else None
    endpoint, identity = asyncio.run(_fetch_identity(settings, url))
    console.print(
        f"node [bold]{identity.node_id}[/] — {identity.name} ({identity.organisation}), "
        f"schema {identity.schema_version}",
        highlight=False,
    )
    console.print(f"key fingerprint: [bold]{identity.fingerprint}[/]")
    engine = make_engine(settings.coordinator_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            node = registry.register(session, endpoint, identity, pinned_key=pinned_key)
    finally:
        engine.dispose()
    if pinned_key is not None:
        console.print("[green]the key matches the pinned key[/]")
    else:
        console.print(
            "compare this fingerprint with the one the node's operator reads from "
            "`lnob node init` before trusting its answers"
        )
    console.print(f"registered [bold]{node.node_id}[/] at {node.url}", highlight=False)


@nodes.command("pin")
@click.argument("node")
@click.option(
    "--key",
    "pinned",
    required=True,
    metavar="JWK-OR-FILE",
    help="The node's new public key, received out of band (JWK text or a file).",
)
@fail_cleanly
def pin_node(node: str, pinned: str) -> None:
    """Trust the new key of NODE (its id or URL) in place of the one the registry holds.

    For a key replaced without a rotation the old key vouched for, or after the overlap ended.
    The node must present the pinned key and sign with it; earlier keys stop being accepted."""
    settings = settings_from_env()
    pinned_key = registry.read_jwk(pinned)
    engine = make_engine(settings.coordinator_database_url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            known = registry.get_node(session, node)
        _endpoint, identity = asyncio.run(_fetch_identity(settings, known.url))
        with sessions.begin() as session:
            pinned_node = registry.pin_key(session, known.node_id, identity, pinned_key)
    finally:
        engine.dispose()
    console.print(
        f"node [bold]{pinned_node.node_id}[/] now trusted with key "
        f"[bold]{pinned_node.fingerprint}[/] (was {known.fingerprint})",
        highlight=False,
    )


@coordinator.group()
def official() -> None:
    """What official statistics already cover, shown beside the gap analysis."""


@official.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@fail_cleanly
def load_official(file: Path) -> None:
    """Load FILE (indicator,ref_area,dimension,codes[,series,source,first_year,latest_year]).

    All or nothing; replaces what earlier loads stored for the sources it names.
    """
    from federation.official import load_official_file
    from service.reference import load_reference

    settings = settings_from_env()
    engine = make_engine(settings.coordinator_database_url)
    try:
        with make_session_factory(engine)() as session:
            report = load_official_file(session, file, load_reference())
    finally:
        engine.dispose()
    console.print(
        f"{report.file}: {report.rows_read} rows read, {report.records_stored} records "
        f"stored for {', '.join(report.sources) or 'no source'} "
        f"({report.records_replaced} replaced)",
        highlight=False,
    )


def prepare_coordinator(settings: Settings, node_urls: Sequence[str]) -> list[RegisteredNode]:
    """Create or upgrade the coordinator's database and register the nodes at `node_urls`
    with the keys they present (what `lnob demo` does; safe to repeat)."""
    engine = make_engine(settings.coordinator_database_url)
    try:
        migrate.upgrade(engine, "coordinator")
        registered = []
        for url in node_urls:
            endpoint, identity = asyncio.run(_fetch_identity(settings, url))
            with make_session_factory(engine).begin() as session:
                registered.append(registry.register(session, endpoint, identity))
    finally:
        engine.dispose()
    return registered


def _registry(settings: Settings) -> list[RegisteredNode]:
    engine = make_engine(settings.coordinator_database_url)
    try:
        with make_session_factory(engine)() as session:
            return registry.list_nodes(session)
    finally:
        engine.dispose()


def _status(status: str | None) -> str:
    if status is None:
        return "[dim]never asked[/]"
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


@nodes.command("list")
@fail_cleanly
def list_nodes() -> None:
    """List registered nodes with how each last answered."""
    rows = _registry(settings_from_env())
    if not rows:
        console.print("no nodes registered: `lnob coordinator nodes add URL`")
        return
    table = Table("node", "organisation", "url", "schema", "key fingerprint", "last status",
                  "latency", "checked")  # fmt: skip
    for node in rows:
        table.add_row(
            node.node_id, node.organisation, node.url, node.schema_version, node.fingerprint,
            _status(node.last_status),
            "" if node.last_latency_ms is None else f"{node.last_latency_ms:.0f} ms",
            "" if node.last_checked_at is None else f"{node.last_checked_at:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    console.print(table)


@nodes.command("remove")
@click.argument("node")
@fail_cleanly
def remove_node(node: str) -> None:
    """Forget NODE (its id or URL): the coordinator stops asking it."""
    settings = settings_from_env()
    engine = make_engine(settings.coordinator_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            removed = registry.remove_node(session, node)
    finally:
        engine.dispose()
    console.print(f"removed [bold]{removed.node_id}[/] ({removed.url})", highlight=False)


async def _check(settings: Settings) -> list[tuple[RegisteredNode, SourceStatus, str | None]]:
    engine = make_engine(settings.coordinator_database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            registered = registry.list_nodes(session)

        async def registered_nodes() -> list[RegisteredNode]:
            return registered

        async with (
            httpx.AsyncClient(timeout=settings.node_timeout) as client,
            HttpTransport(
                timeout=settings.node_timeout,
                retry_backoff=settings.fanout_retry_backoff,
                verify_response=RegistryVerifier(sessions, client, timeout=settings.node_timeout),
            ) as transport,
        ):
            answer = await Federation.from_settings(settings, registered_nodes, transport).check()
        versions = {header.node_id: header.schema_version for header in answer.items}
        with sessions.begin() as session:
            registry.record_statuses(session, answer.sources, schema_versions=versions)
    finally:
        engine.dispose()
    return [
        (node, source, versions.get(node.node_id))
        for node, source in zip(registered, answer.sources, strict=True)
    ]


@nodes.command("check")
@fail_cleanly
def check_nodes() -> None:
    """Ask every registered node now: reachable, schema version, latency."""
    results = asyncio.run(_check(settings_from_env()))
    if not results:
        console.print("no nodes registered: `lnob coordinator nodes add URL`")
        return
    table = Table("node", "url", "status", "schema", "latency", "message")
    for node, source, version in results:
        table.add_row(
            node.node_id, node.url, _status(source.status), version or node.schema_version,
            f"{source.latency_ms:.0f} ms", source.message or "",
        )  # fmt: skip
    console.print(table)
    if any(source.status != "OK" for _node, source, _version in results):
        raise SystemExit(1)


# --- asking a running coordinator -------------------------------------------------------------


def ask_coordinator(
    url: str, document: str, variables: Mapping[str, object], token: str | None
) -> dict[str, Any]:
    """POST one GraphQL document to the coordinator at `url`; its `data`, or a clear error."""
    endpoint = url.rstrip("/")
    endpoint = endpoint if endpoint.endswith("/graphql") else endpoint + "/graphql"
    headers = {"Accept": "application/graphql-response+json, application/json;q=0.9"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(
            endpoint,
            json={"query": document, "variables": dict(variables)},
            headers=headers,
            timeout=120.0,
        )
        body = response.json()
    except httpx.HTTPError as exc:
        raise CoordinatorUnavailable(f"cannot reach the coordinator at {url}: {exc}") from None
    except ValueError:
        raise CoordinatorUnavailable(
            f"{endpoint} answered HTTP {response.status_code} without JSON: is it a coordinator?"
        ) from None
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else {}
        raise CoordinatorRefused(f"the coordinator refused: {first.get('message', errors)}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise CoordinatorUnavailable(f"{endpoint} gave no data: is it a coordinator?")
    return data


def print_sources(sources: list[dict[str, Any]]) -> None:
    """Which nodes answered: on standard error, so that CSV on standard output stays clean."""
    table = Table("node", "organisation", "status", "latency", "message", title="sources")
    for source in sources:
        table.add_row(
            source["nodeId"], source["organisation"], _status(source["status"]),
            f"{source['latencyMs']:.0f} ms", source.get("message") or "",
        )  # fmt: skip
    err_console.print(table)


def coordinator_options(command: Callable[P, R]) -> Callable[P, R]:
    """`--url` and `--token`, shared by every command that asks a coordinator."""
    with_token = click.option(
        "--token", envvar="LNOB_TOKEN", help="Bearer token forwarded to every node [LNOB_TOKEN]."
    )(command)
    return click.option(
        "--url", envvar="LNOB_COORDINATOR_URL", default=DEFAULT_COORDINATOR_URL,
        show_default=True, help="The coordinator to ask [LNOB_COORDINATOR_URL].",
    )(with_token)  # fmt: skip


STOCKTAKE_QUERY = """query Stocktake($filter: StocktakeFilter) {
  stocktake(filter: $filter) {
    entries {
      organisation dataset indicator target goal country countryName subArea group
      disaggregations cellCount firstYear latestYear valuesVisible nodes
    }
    sources { nodeId organisation url status latencyMs message }
  }
}"""


def _entry(raw: Mapping[str, Any]) -> StocktakeEntry:
    return StocktakeEntry(
        organisation=raw["organisation"], dataset=raw["dataset"], indicator=raw["indicator"],
        target=raw["target"], goal=raw["goal"], country=raw["country"],
        country_name=raw["countryName"], sub_area=raw["subArea"], group=raw["group"],
        disaggregations=tuple(raw["disaggregations"]), cell_count=raw["cellCount"],
        first_year=raw["firstYear"], latest_year=raw["latestYear"],
        values_visible=raw["valuesVisible"], nodes=tuple(raw["nodes"]),
    )  # fmt: skip


@click.command()
@click.option("--goal", "goals", multiple=True, help="SDG goal (repeatable), e.g. 3.")
@click.option("--target", "targets", multiple=True, help="SDG target, e.g. 3.8.")
@click.option("--indicator", "indicators", multiple=True, help="SDG indicator, e.g. 3.8.1.")
@click.option("--country", "countries", multiple=True, help="ISO 3166-1 alpha-3, e.g. BGD.")
@click.option("--group", "groups", multiple=True, help="Group code, e.g. PWD.")
@click.option("--organisation", "organisations", multiple=True)
@click.option("--from", "period_from", type=int, help="Earliest year.")
@click.option("--to", "period_to", type=int, help="Latest year.")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to standard output.")
@coordinator_options
@fail_cleanly
def stocktake(
    goals: tuple[str, ...],
    targets: tuple[str, ...],
    indicators: tuple[str, ...],
    countries: tuple[str, ...],
    groups: tuple[str, ...],
    organisations: tuple[str, ...],
    period_from: int | None,
    period_to: int | None,
    as_csv: bool,
    url: str,
    token: str | None,
) -> None:
    """What data exists across every node, merged by organisation (no values)."""
    wanted: dict[str, object] = {
        "goals": list(goals), "targets": list(targets), "indicators": list(indicators),
        "countries": list(countries), "groups": list(groups),
        "organisations": list(organisations), "periodFrom": period_from, "periodTo": period_to,
    }  # fmt: skip
    filter = {name: value for name, value in wanted.items() if value not in (None, [])}
    data = ask_coordinator(url, STOCKTAKE_QUERY, {"filter": filter or None}, token)
    result = data["stocktake"]
    entries = [_entry(raw) for raw in result["entries"]]
    if as_csv:
        sys.stdout.writelines(csv_lines(entries))
    else:
        table = Table("organisation", "indicator", "country", "sub-area", "group",
                      "disaggregations", "years", "cells", "dataset", "values")  # fmt: skip
        for e in entries:
            years = f"{e.first_year}" if e.first_year == e.latest_year else (
                f"{e.first_year}-{e.latest_year}"
            )  # fmt: skip
            table.add_row(
                e.organisation, e.indicator, e.country, e.sub_area or "", e.group,
                ", ".join(e.disaggregations) or "totals", years, f"{e.cell_count:,}", e.dataset,
                "yes" if e.values_visible else "[dim]no[/]",
            )  # fmt: skip
        console.print(table)
        console.print(f"{len(entries)} entries", highlight=False)
    print_sources(result["sources"])


GAP_STYLE = {"NO_DATA": "red", "STALE": "yellow", "SINGLE_SOURCE": "cyan", "COVERED": "green"}


def _official(official: Mapping[str, Any]) -> str:
    if official["reported"]:
        year = f" {official['latestYear']}" if official["latestYear"] else ""
        return f"reported{year}"
    if official["reported"] is False:
        return "expected, not reported" if official["expected"] else "not reported"
    return "expected" if official["expected"] else ""


@click.command()
@click.option("--goal", "goals", multiple=True, help="SDG goal (repeatable), e.g. 1.")
@click.option("--target", "targets", multiple=True, help="SDG target, e.g. 1.4.")
@click.option("--indicator", "indicators", multiple=True, help="SDG indicator, e.g. 1.4.2.")
@click.option("--country", "countries", multiple=True,
              help="ISO 3166-1 alpha-3 (default: every country any node speaks of).")  # fmt: skip
@click.option("--group", "groups", multiple=True, help="Group code (default: every group).")
@click.option("--level", type=click.Choice(["INDICATOR", "TARGET"], case_sensitive=False),
              default="INDICATOR", show_default=True, help="Rows of the frame.")  # fmt: skip
@click.option("--stale-after", type=int, default=DEFAULT_STALE_AFTER_YEARS, show_default=True,
              help="Data older than this many years is stale.")  # fmt: skip
@click.option("--as-of", "as_of", type=int, help="The year staleness is counted from.")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(list(GAP_STYLE), case_sensitive=False),
              help="Show only cells of this status (repeatable).")  # fmt: skip
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to standard output.")
@coordinator_options
@fail_cleanly
def gaps(
    goals: tuple[str, ...],
    targets: tuple[str, ...],
    indicators: tuple[str, ...],
    countries: tuple[str, ...],
    groups: tuple[str, ...],
    level: str,
    stale_after: int,
    as_of: int | None,
    statuses: tuple[str, ...],
    as_csv: bool,
    url: str,
    token: str | None,
) -> None:
    """Which indicator × country × group combinations have no data, stale data or one source."""
    variables: dict[str, object] = {
        "goals": list(goals) or None, "targets": list(targets) or None,
        "indicators": list(indicators) or None, "countries": list(countries) or None,
        "groups": list(groups) or None, "level": level.upper(), "staleAfterYears": stale_after,
        "asOfYear": as_of, "statuses": [s.upper() for s in statuses] or None,
    }  # fmt: skip
    analysis = ask_coordinator(url, GAPS_QUERY, variables, token)["gapAnalysis"]
    cells = analysis["cells"]
    if as_csv:
        sys.stdout.writelines(gaps_csv_lines(cells))
    else:
        table = Table("row", "country", "group", "status", "latest", "organisations", "official")
        for cell in cells:
            style = GAP_STYLE.get(cell["status"], "white")
            table.add_row(
                cell["row"], cell["refArea"], cell["group"], f"[{style}]{cell['status']}[/]",
                str(cell["latestYear"] or ""), ", ".join(cell["organisations"]),
                _official(cell["official"]),
            )  # fmt: skip
        console.print(table)
        counts = {status: 0 for status in GAP_STYLE}
        for cell in cells:
            counts[cell["status"]] = counts.get(cell["status"], 0) + 1
        console.print(
            f"{len(cells)} cells as of {analysis['asOfYear']}: "
            + ", ".join(f"{count} {status}" for status, count in counts.items()),
            highlight=False,
        )
    print_sources(analysis["sources"])
