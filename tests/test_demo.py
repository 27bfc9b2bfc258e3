"""`lnob demo`, the README's first command: a working federation that survives a dead node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.federation_demo import free_port

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


def _ask(url: str, query: str) -> dict[str, object]:
    response = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[return-value]


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
        before = _ask(url, STOCKTAKE)["stocktake"]
        assert {s["status"] for s in before["sources"]} == {"OK"}  # type: ignore[index]
        organisations = {e["organisation"] for e in before["entries"]}  # type: ignore[index]
        assert len(organisations) == 3

        lantern = next(line for line in printed.splitlines() if "node lantern" in line)
        node_port = int(lantern.rsplit(":", 1)[1].split("/")[0])
        pid = _pid_listening_on(node_port)
        os.kill(pid, signal.SIGTERM)
        _wait_for(out, "node lantern stopped", demo, timeout=30)

        after = _ask(url, STOCKTAKE)["stocktake"]
        status = {s["nodeId"]: s["status"] for s in after["sources"]}  # type: ignore[index]
        assert status == {"lantern": "UNREACHABLE", "equal-ground": "OK", "commons-voice": "OK"}
        assert len({e["organisation"] for e in after["entries"]}) == 2  # type: ignore[index]
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    assert "stopped" in out.read_text()
    with_port = [p for p in (port, node_port) if _listening(p)]
    assert not with_port, "the demo left servers running"


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
