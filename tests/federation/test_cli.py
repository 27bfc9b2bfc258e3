"""`lnob coordinator …`, `lnob stocktake` and `lnob gaps` as the secretariat runs them,
against real node servers and a real coordinator server."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from auth.keys import fingerprint
from schema.node import NODE_SCHEMA_VERSION
from service.cli.coordinator import coordinator, gaps, prepare_coordinator, stocktake
from service.coordinator_app import create_coordinator_app
from service.coordinator_downloads import GAPS_CSV_COLUMNS
from service.node.identity import load_signing_key
from tests.federation.conftest import (
    RunningNode,
    Server,
    coordinator_settings,
    serve,
    standin_identity,
    unused_port_url,
)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {
        "LNOB_COORDINATOR_DATABASE_URL": database_url,
        "LNOB_NODE_TIMEOUT": "5",
        "LNOB_FANOUT_RETRY_BACKOFF": "0.05",
        "COLUMNS": "250",
    }


def run(command: object, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(command, list(args), env=env)  # type: ignore[arg-type]


def test_nodes_are_registered_listed_checked_and_removed(
    env: dict[str, str], demo_nodes: list[RunningNode], tmp_path: Path
) -> None:
    node = demo_nodes[1]
    own_key = load_signing_key(node.settings).public_jwk()

    init = run(coordinator, env, "init")
    assert init.exit_code == 0, init.output
    assert "coordinator database ready" in init.stdout
    assert run(coordinator, env, "init").exit_code == 0  # safe to repeat

    other_key = tmp_path / "other.jwk"
    other_key.write_text(json.dumps(standin_identity("x").public_key), encoding="utf-8")
    refused = run(coordinator, env, "nodes", "add", node.url, "--key", str(other_key))
    assert refused.exit_code == 1
    assert "not the pinned key" in refused.stderr

    added = run(coordinator, env, "nodes", "add", node.url, "--key", json.dumps(own_key))
    assert added.exit_code == 0, added.output
    assert fingerprint(own_key) in added.stdout
    assert "matches the pinned key" in added.stdout
    assert "registered lantern" in added.stdout

    dead = unused_port_url()
    not_added = run(coordinator, env, "nodes", "add", dead)
    assert not_added.exit_code == 1
    assert "tried twice" in not_added.stderr

    listed = run(coordinator, env, "nodes", "list")
    assert listed.exit_code == 0
    assert "lantern" in listed.stdout and "never asked" in listed.stdout

    checked = run(coordinator, env, "nodes", "check")
    assert checked.exit_code == 0, checked.output
    assert "OK" in checked.stdout and NODE_SCHEMA_VERSION in checked.stdout
    assert "OK" in run(coordinator, env, "nodes", "list").stdout

    removed = run(coordinator, env, "nodes", "remove", "lantern")
    assert removed.exit_code == 0
    assert "no nodes registered" in run(coordinator, env, "nodes", "list").stdout
    missing = run(coordinator, env, "nodes", "remove", "lantern")
    assert missing.exit_code == 1
    assert "no registered node 'lantern'" in missing.stderr


@pytest.fixture
def running_coordinator(env: dict[str, str], demo_nodes: list[RunningNode]) -> Iterator[Server]:
    settings = coordinator_settings(env["LNOB_COORDINATOR_DATABASE_URL"])
    urls = [node.url for node in demo_nodes]
    registered = prepare_coordinator(settings, urls)
    assert prepare_coordinator(settings, urls) == registered  # as `lnob demo` may, again
    assert [node.node_id for node in registered] == ["riverbend", "lantern"]
    server = serve(create_coordinator_app(settings))
    yield server
    server.stop()


def test_stocktake_prints_a_table_or_the_same_csv_as_the_download(
    env: dict[str, str], running_coordinator: Server
) -> None:
    url = running_coordinator.url
    table = run(stocktake, env, "--url", url, "--country", "NPL", "--goal", "1")
    assert table.exit_code == 0, table.output
    assert "Lantern Livelihoods Network" in table.stdout
    assert "entries" in table.stdout
    assert "riverbend" in table.stderr and "OK" in table.stderr

    as_csv = run(stocktake, env, "--url", url, "--country", "NPL", "--goal", "1", "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    download = httpx.get(f"{url}/download/stocktake.csv?country=NPL&goal=1", timeout=30)
    assert as_csv.stdout_bytes == download.content
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows and {row["country"] for row in rows} == {"NPL"}


def test_gaps_prints_a_table_or_the_same_csv_as_the_download(
    env: dict[str, str], running_coordinator: Server
) -> None:
    url = running_coordinator.url
    args = ["--url", url, "--country", "NPL", "--country", "KEN", "--target", "1.4",
            "--group", "_T", "--group", "DALIT", "--as-of", "2026"]  # fmt: skip
    table = run(gaps, env, *args)
    assert table.exit_code == 0, table.output
    assert "1.4.2" in table.stdout and "cells as of 2026" in table.stdout

    as_csv = run(gaps, env, *args, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    download = httpx.get(
        f"{url}/download/gaps.csv?country=NPL,KEN&target=1.4&group=_T&group=DALIT&as_of=2026",
        timeout=30,
    )
    assert download.status_code == 200, download.text
    assert as_csv.stdout_bytes == download.content
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert tuple(rows[0].keys()) == GAPS_CSV_COLUMNS
    # The frame: target 1.4's indicators × two countries × two groups.
    assert {(r["row"], r["country"], r["group"]) for r in rows} == {
        (row, country, group)
        for row in ("1.4.1", "1.4.2")
        for country in ("NPL", "KEN")
        for group in ("_T", "DALIT")
    }
    assert "lantern=OK" in download.headers["lnob-sources"]
    refused = httpx.get(f"{url}/download/gaps.csv?status=MAYBE", timeout=30)
    assert refused.status_code == 400


def test_asking_a_coordinator_that_is_not_there_fails_clearly(env: dict[str, str]) -> None:
    result = run(stocktake, env, "--url", unused_port_url())
    assert result.exit_code == 1
    assert "cannot reach the coordinator" in result.stderr
