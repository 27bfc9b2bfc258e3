"""`lnob demo`, the README's first command: a working federation that survives a dead node."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.levels import Level
from service.federation_demo import free_port
from service.node.demo import DEMO_ORGANISATIONS

# The demo keeps its data in its own SQLite files: the PostgreSQL run adds nothing here.
pytestmark = pytest.mark.demo_files

STOCKTAKE = "{ stocktake { entries { organisation } sources { nodeId status message } } }"


def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = path.read_text(encoding="utf-8", errors="replace")
        if text in output:
            return output
        assert process.poll() is None, output
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed within {timeout} s:\n{path.read_text()}")


def _ask(url: str, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def test_demo_runs_a_federation_that_names_a_stopped_node(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "service", "demo", "--dir", str(tmp_path / "fed"),
             "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        printed = _wait_for(out, "Press Ctrl-C to stop.", demo, timeout=180)
        assert f"{url}/graphql" in printed
        for example in ("# stocktake", "# gaps", "# compare"):
            assert example in printed

        from service.cli.demo import COMPARE_QUERY, GAPS_QUERY, STOCKTAKE_QUERY

        for query in (STOCKTAKE_QUERY, GAPS_QUERY, COMPARE_QUERY, _readme_query()):
            _ask(url, query)  # the queries the demo and the README print work as printed
        _check_role_clients(printed, url)
        before = _ask(url, STOCKTAKE)["stocktake"]
        assert {s["status"] for s in before["sources"]} == {"OK"}
        organisations = {e["organisation"] for e in before["entries"]}
        assert len(organisations) == 3

        lantern = next(line for line in printed.splitlines() if "node lantern" in line)
        node_port = int(lantern.rsplit(":", 1)[1].split("/")[0])
        pid = _pid_listening_on(node_port)
        os.kill(pid, signal.SIGTERM)
        _wait_for(out, "node lantern stopped", demo, timeout=30)

        after = _ask(url, STOCKTAKE)["stocktake"]
        status = {s["nodeId"]: s["status"] for s in after["sources"]}
        assert status == {"lantern": "UNREACHABLE", "riverbend": "OK", "commons-voice": "OK"}
        assert len({e["organisation"] for e in after["entries"]}) == 2
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    assert "stopped" in out.read_text()
    auth_port = int(printed.split("authorization server http://127.0.0.1:", 1)[1].split()[0])
    with_port = [p for p in (port, node_port, auth_port) if _listening(p)]
    assert not with_port, "the demo left servers running"


ROLE_STOCKTAKE = "{ stocktake { entries { organisation dataset valuesVisible } } }"
NODE_DATASETS = "{ datasets { slug valuesVisible } }"


def _check_role_clients(printed: str, url: str) -> None:
    """Each printed client gets a token; each token sees what its role may see and no more."""
    clients = _printed_clients(printed)
    assert {"secretariat", "government partner"} <= set(clients)
    assert len([title for title in clients if title.startswith("ICSO")]) == len(DEMO_ORGANISATIONS)

    public = _datasets_seen(_ask(url, ROLE_STOCKTAKE)["stocktake"]["entries"])
    government = _datasets_seen(
        _ask(url, ROLE_STOCKTAKE, _token(*clients["government partner"]))["stocktake"]["entries"]
    )
    assert set(public) <= set(government)
    assert all(government[slug] >= visible for slug, visible in public.items())
    expected = {
        d.slug: d.release_level <= Level.GOVERNMENT
        for org in DEMO_ORGANISATIONS
        for d in org.datasets
        if d.discovery_level <= Level.GOVERNMENT
    }
    assert government == expected  # nothing only the coalition or an owner may know of
    assert len(government) > len(public)

    if shutil.which("curl"):  # the printed lines work as pasted into a shell
        block = printed.split("# government partner", 1)[1].split("\n\n", 1)[0]
        commands = [line for line in block.splitlines() if line.startswith(("TOKEN=", "curl "))]
        shell = subprocess.run(
            ["bash", "-c", "\n".join(commands)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        organisations = json.loads(shell.stdout)["data"]["stocktake"]["organisations"]
        assert sum(o["datasets"] for o in organisations) == len(expected)

    riverbend = next(org for org in DEMO_ORGANISATIONS if org.node_id == "riverbend")
    own_token = _token(*clients[f"ICSO data team: {riverbend.organisation}"])
    node_url = _node_url(printed, riverbend.node_id)
    own = {
        d["slug"]: d["valuesVisible"] for d in _ask(node_url, NODE_DATASETS, own_token)["datasets"]
    }
    assert own == {d.slug: True for d in riverbend.datasets}  # owner-only ones included
    anonymous = {d["slug"] for d in _ask(node_url, NODE_DATASETS)["datasets"]}
    owner_only = {d.slug for d in riverbend.datasets if d.discovery_level is Level.OWNER}
    assert owner_only and not owner_only & anonymous


def _printed_clients(printed: str) -> dict[str, tuple[str, str, str]]:
    """Role title -> (client id, secret, token endpoint), from the demo's printed examples."""
    clients = {}
    for match in re.finditer(
        r"^# (?P<title>[^(\n]+?) \(.*?\n.*?TOKEN=\$\(curl -s -u '(?P<id>[^:']+):(?P<secret>[^']+)' "
        r"-d grant_type=client_credentials (?P<endpoint>\S+)",
        printed,
        re.MULTILINE | re.DOTALL,
    ):
        clients[match["title"]] = (match["id"], match["secret"], match["endpoint"])
    return clients


def _token(client_id: str, secret: str, endpoint: str) -> str:
    form = {"grant_type": "client_credentials"}
    response = httpx.post(endpoint, data=form, auth=(client_id, secret), timeout=30)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _datasets_seen(entries: list[dict[str, Any]]) -> dict[str, bool]:
    """Each dataset the stocktake shows, and whether the caller may read its values."""
    return {entry["dataset"]: entry["valuesVisible"] for entry in entries}


def _node_url(printed: str, node_id: str) -> str:
    line = next(line for line in printed.splitlines() if f"node {node_id} " in line)
    return line.split()[-1].removesuffix("/graphql")


def _readme_query() -> str:
    """The GraphQL document of the README's first example (`--data-urlencode 'query=…'`)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    return readme.split("--data-urlencode 'query=", 1)[1].split("'\n", 1)[0]


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.TransportError:
        return False
    return True


def _pid_listening_on(port: int) -> int:
    """The demo's node process serving `port` (found through /proc, no extra tools)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
                inode = fields[9]
    assert inode is not None, f"nothing listens on {port}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if str(fd.readlink()) == f"socket:[{inode}]":
                    return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no process found for port {port}")
