"""Real servers for the benchmarks: processes on free loopback ports, always stopped at the end.

A server's output goes to a log file rather than a pipe: a pipe nobody reads fills up during a
long run and then blocks the server mid-benchmark.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.workspace import NodeDatabase

__all__ = ["RunningProcess", "free_port", "lnob", "python_module", "running", "running_node"]

# The query benchmarks ask for 10,000 cells in one page; the default limit is 1,000.
NODE_ENV = {"LNOB_MAX_PAGE_SIZE": "10000"}


@dataclass(frozen=True, slots=True)
class RunningProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: RunningProcess, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `timeout` seconds."""
    if proc.process.poll() is None:
        proc.process.terminate()
    try:
        proc.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.process.kill()
        proc.process.wait()


def lnob(*args: str) -> list[str]:
    """The `lnob` command, as `python -m service` of this interpreter."""
    return [sys.executable, "-m", "service", *args]


def python_module(module: str, *args: str) -> list[str]:
    """This interpreter running one of the benchmarks' own modules."""
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def running_node(node: NodeDatabase, logs: Path, **env: str) -> Iterator[RunningProcess]:
    """`lnob node serve` over `node` (one uvicorn worker) until the block ends."""
    port = free_port()
    with running(
        "node",
        lnob("node", "serve", "--host", "127.0.0.1", "--port", str(port)),
        port=port,
        ready_path="/readyz",
        env={**node.env, **NODE_ENV, **env},
        logs=logs,
    ) as proc:
        yield proc


@contextlib.contextmanager
def running(
    name: str,
    args: list[str],
    *,
    port: int,
    ready_path: str,
    logs: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningProcess]:
    """Run `args` (a server listening on `port`); ready once `ready_path` answers 200."""
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    proc = RunningProcess(name=name, url=f"http://127.0.0.1:{port}", process=process)
    try:
        _wait_ready(proc, ready_path, log_path)
        yield proc
    finally:
        stop(proc)


def _wait_ready(proc: RunningProcess, path: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc.name} exited during start-up:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{proc.url}{path}", timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not ready after {timeout:.0f} s (log: {log_path})")
