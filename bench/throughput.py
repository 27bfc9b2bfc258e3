"""6. Throughput: a typical coverage question from 32 concurrent clients on one uvicorn worker.

The baseline is the same question answered by the plain coverage function, one call after
another in this process: what one core does without HTTP, GraphQL or the audit log. Every
answer is checked; an HTTP error or a GraphQL error counts as an error.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy.orm import Session

from auth.levels import Level
from bench import data
from bench.clients import ACCEPT, graphql
from bench.results import Figure, Outcome
from bench.servers import running_node
from bench.workspace import Workspace
from service.db import make_engine
from service.node.coverage import coverage
from service.node.filters import CellFilter

NAME = "throughput"
CLIENTS = 32

TYPICAL_QUERY = """query Coverage($country: String!) {
  coverage(filter: {refAreas: [$country]}) {
    dataset indicator group breakdown cellCount latestYear
  }
}"""


async def load(url: str, seconds: float) -> tuple[int, int, float]:
    """Requests answered without error, errors, and the seconds it took, with `CLIENTS` at once."""
    payload = {"query": TYPICAL_QUERY, "variables": {"country": data.TYPICAL_COVERAGE_COUNTRY}}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    answered = errors = 0
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_client() -> None:
            nonlocal answered, errors
            while time.perf_counter() < deadline:
                try:
                    response = await client.post(url, json=payload, headers={"accept": ACCEPT})
                except httpx.HTTPError:
                    errors += 1
                    continue
                if response.status_code == 200 and b'"errors"' not in response.content:
                    answered += 1
                else:
                    errors += 1

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        return answered, errors, time.perf_counter() - started


def in_process_rate(url: str, seconds: float) -> float:
    """Plain `coverage()` calls per second, one after another."""
    engine = make_engine(url)
    cell_filter = CellFilter(ref_areas=[data.TYPICAL_COVERAGE_COUNTRY])
    calls = 0
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            with Session(engine) as session:
                coverage(session, level=Level.PUBLIC, cell_filter=cell_filter)
            calls += 1
        return calls / (time.perf_counter() - started)
    finally:
        engine.dispose()


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    node = workspace.query_node()
    seconds = workspace.sizes.seconds
    # 32 clients from one address are one client to the node's per-client rate limit, which
    # would answer most of them 429: this measures the worker, so the limit is off here.
    running = running_node(node, workspace.folder / "logs", LNOB_RATE_LIMIT_PER_MINUTE="0")
    with running as server, httpx.Client() as client:
        url = f"{server.url}/graphql"
        variables = {"country": data.TYPICAL_COVERAGE_COUNTRY}
        groups = len(graphql(client, url, TYPICAL_QUERY, variables)["coverage"])
        answered, errors, took = asyncio.run(load(url, seconds))
    baseline = in_process_rate(node.url, seconds / 2)
    rate = answered / took
    outcome.figures.append(
        Figure(
            benchmark="6 throughput",
            case=f"coverage of one country, {CLIENTS} clients, {seconds:g} s",
            ours=f"{rate:,.1f} req/s, {errors} errors",
            baseline=f"in-process {baseline:,.1f} calls/s",
            ratio=rate / baseline,
            goal="no errors",
            met=errors == 0,
        )
    )
    outcome.details = {
        "requests_per_second": round(rate, 2),
        "answered": answered,
        "errors": errors,
        "seconds": round(took, 2),
        "clients": CLIENTS,
        "coverage_groups": groups,
        "node_cells": node.cells,
        "in_process_calls_per_second": round(baseline, 2),
    }
    return outcome
