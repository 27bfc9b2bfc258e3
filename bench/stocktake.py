"""3. Stocktake at a node over 1,000,000 cells: the coverage query against the same GROUP BY.

The baseline is the GROUP BY that `service.node.coverage` builds, written as SQL and run on
the bare database driver. Two figures stand against it: the coverage function (SQLAlchemy and
the result objects) and the question the coordinator sends over HTTP (plus GraphQL and audit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.orm import Session

from auth.levels import Level
from bench.clients import graphql, round_trip
from bench.measure import alternate, format_timing, ratio
from bench.results import Figure, Outcome
from bench.servers import running_node
from bench.workspace import NodeDatabase, Workspace
from federation.fanout import COVERAGE_QUERY
from service.db import make_engine
from service.node.coverage import coverage
from service.node.filters import CellFilter

NAME = "stocktake"

RAW_GROUP_BY = """
SELECT d.slug, d.organisation, d.release_level, o.indicator, o.ref_area, o.sub_area,
       o.group_code, o.breakdown, count(*) AS cell_count, min(o.year_start) AS first_year,
       max(o.year_end) AS latest_year
FROM observation AS o JOIN dataset AS d ON d.current_version_id = o.version_id
WHERE d.discovery_level <= 0
GROUP BY d.slug, d.organisation, d.release_level, o.indicator, o.ref_area, o.sub_area,
         o.group_code, o.breakdown
ORDER BY d.slug, d.organisation, d.release_level, o.indicator, o.ref_area, o.sub_area,
         o.group_code, o.breakdown
"""


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    backends = ["sqlite"] + (["postgresql"] if workspace.postgres_url else [])
    if not workspace.postgres_url:
        outcome.notes.append("PostgreSQL did not answer: its case was skipped")
    for backend in backends:
        node = workspace.bulk_node(backend)
        outcome.details[backend] = measure(workspace, node, outcome)
    return outcome


def measure(workspace: Workspace, node: NodeDatabase, outcome: Outcome) -> dict[str, Any]:
    engine = make_engine(node.url)
    try:
        raw = engine.raw_connection()

        def raw_sql() -> int:
            cursor = raw.cursor()
            cursor.execute(RAW_GROUP_BY)
            rows = len(cursor.fetchall())
            cursor.close()
            raw.commit()  # ends PostgreSQL's implicit transaction, as a request would
            return rows

        def function() -> int:
            with Session(engine) as session:
                return len(coverage(session, level=Level.PUBLIC, cell_filter=CellFilter()))

        groups = raw_sql()
        if function() != groups:
            raise RuntimeError("the coverage function and the raw GROUP BY disagree")
        with (
            running_node(node, workspace.folder / "logs") as server,
            httpx.Client(timeout=300) as client,
        ):
            url = f"{server.url}/graphql"
            answered = len(graphql(client, url, COVERAGE_QUERY, {"filter": None})["coverage"])
            if answered != groups:
                raise RuntimeError(f"the node answered {answered} coverage cells, not {groups}")
            operations: list[Callable[[], object]] = [
                raw_sql,
                function,
                round_trip(client, url, COVERAGE_QUERY, {"filter": None}),
            ]
            samples = 3 if workspace.sizes.quick else 4
            baseline, in_process, over_http = alternate(operations, samples=samples, warmup=1)
        raw.close()
    finally:
        engine.dispose()
    case = f"{node.backend}, {node.cells:,} cells"
    for label, timing in (("coverage()", in_process), ("GraphQL over HTTP", over_http)):
        outcome.figures.append(
            Figure(
                benchmark="3 stocktake",
                case=f"{case}, {label}",
                ours=format_timing(timing),
                baseline=f"raw SQL {format_timing(baseline)}",
                ratio=ratio(timing.median, baseline.median),
            )
        )
    return {
        "cells": node.cells,
        "coverage_groups": groups,
        "raw_sql": baseline.as_json(),
        "coverage_function": in_process.as_json(),
        "graphql_http": over_http.as_json(),
        "function_ratio": round(ratio(in_process.median, baseline.median), 3),
        "http_ratio": round(ratio(over_http.median, baseline.median), 3),
    }
