"""`lnob node …` as an ICSO data team runs it: real processes, a real server, real HTTP."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.federation_demo import free_port, start_process, stop_all, wait_ready

EXAMPLE = Path(__file__).resolve().parents[2] / "service" / "node" / "examples" / "tidy_example.csv"


def lnob(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def node_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"LNOB_DATABASE_URL": database_url, "LNOB_KEY_FILE": str(tmp_path / "keys" / "node.pem")}


def test_init_is_safe_to_repeat_and_keeps_the_key(node_env: dict[str, str]) -> None:
    first = lnob(node_env, "node", "init", "--name", "Dhaka node", "--organisation", "Riverbend")
    assert first.returncode == 0, first.stderr
    assert "riverbend" in first.stdout and "created" in first.stdout
    key_file = Path(node_env["LNOB_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    second = lnob(node_env, "node", "init")
    assert second.returncode == 0, second.stderr
    assert "already initialised" in second.stdout
    assert key_file.read_bytes() == key
    fingerprint = [line for line in first.stdout.splitlines() if "fingerprint" in line]
    assert fingerprint and fingerprint[0] in second.stdout


def test_new_node_needs_a_name(node_env: dict[str, str]) -> None:
    result = lnob(node_env, "node", "init")
    assert result.returncode == 1
    assert "needs a name and an organisation" in result.stderr


def test_looser_policy_is_refused_at_start_up(node_env: dict[str, str]) -> None:
    result = lnob({**node_env, "LNOB_THRESHOLD_PUBLIC": "3"}, "node", "datasets")
    assert result.returncode == 1
    assert "LNOB_THRESHOLD_PUBLIC=3 is looser than the federation minimum 10" in result.stderr


def test_ingest_release_audit_and_serve(node_env: dict[str, str], tmp_path: Path) -> None:
    assert lnob(node_env, "node", "init", "--name", "n", "--organisation", "Org A").returncode == 0
    loaded = lnob(
        node_env, "node", "ingest", str(EXAMPLE), "--dataset", "example",
        "--title", "Example survey", "--release-level", "government", "--discovery-level", "public",
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert "version 1" in loaded.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("indicator,ref_area,time_period,value,unit\n99.9.9,XXX,2020,abc,NUMBER\n")
    refused = lnob(node_env, "node", "ingest", str(bad), "--dataset", "example")
    assert refused.returncode == 1
    assert "nothing was changed" in refused.stderr
    assert "row 2" in refused.stderr and "99.9.9" in refused.stderr

    listed = lnob(node_env, "node", "datasets")
    assert "example" in listed.stdout and "government" in listed.stdout

    released = lnob(node_env, "node", "release", "example", "--level", "public")
    assert released.returncode == 0, released.stderr

    port = free_port()
    server = start_process("node", ["node", "serve"], node_env, port)
    try:
        wait_ready(server)
        response = httpx.post(
            f"{server.url}/graphql",
            json={
                "query": "{ datasets { slug releaseLevel } observations(first: 5) { totalCount } }"
            },
            headers={"accept": "application/graphql-response+json"},
        )
    finally:
        stop_all([server])
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["datasets"] == [{"slug": "example", "releaseLevel": "PUBLIC"}]
    assert data["observations"]["totalCount"] > 0

    log = lnob(node_env, "node", "audit", "--limit", "10")
    assert "release" in log.stdout and "ingest" in log.stdout and "graphql" in log.stdout
    verified = lnob(node_env, "node", "audit", "--verify")
    assert verified.returncode == 0 and "audit log intact" in verified.stdout
