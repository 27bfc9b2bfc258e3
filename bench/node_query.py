"""1. Node query overhead: cells through the node's HTTP GraphQL endpoint, against the floor.

The floor is the same rows read with one SQLAlchemy Core query and encoded as JSON in this
process: what any service must at least do to answer. The node does that plus counting,
disclosure control over every table the page touches, GraphQL, HTTP and its audit entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine, select

from auth.levels import Level
from bench import data
from bench.clients import graphql, round_trip
from bench.measure import alternate, format_timing, ratio
from bench.results import Figure, Outcome
from bench.servers import running_node
from bench.workspace import Workspace
from service.db import make_engine
from service.node.models import Dataset, Observation

NAME = "node-query"
GOAL_RATIO = 3.0

CELLS_QUERY = """query Cells($filter: ObservationFilter, $first: Int!) {
  observations(filter: $filter, first: $first) {
    totalCount
    edges { node {
      id dataset organisation indicator series refArea subArea timePeriod sex age
      disabilityStatus urbanisation incomeWealthQuantile group unit value n
      suppressed suppressionReason
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# GraphQL field -> the column the floor reads it from.
FIELDS = {
    "id": Observation.id,
    "dataset": Dataset.slug,
    "organisation": Dataset.organisation,
    "indicator": Observation.indicator,
    "series": Observation.series,
    "refArea": Observation.ref_area,
    "subArea": Observation.sub_area,
    "timePeriod": Observation.time_period,
    "sex": Observation.sex,
    "age": Observation.age,
    "disabilityStatus": Observation.disability_status,
    "urbanisation": Observation.urbanisation,
    "incomeWealthQuantile": Observation.income_wealth_quantile,
    "group": Observation.group_code,
    "unit": Observation.unit,
    "value": Observation.value,
    "n": Observation.n,
}


def question(cells: int) -> tuple[str, str]:
    """The indicator and country whose cells number `cells`."""
    return {1_000: data.SMALL_QUERY, 10_000: data.LARGE_QUERY}[cells]


def variables(cells: int) -> dict[str, object]:
    indicator, country = question(cells)
    return {"filter": {"indicators": [indicator], "refAreas": [country]}, "first": cells}


def floor_query(engine: Engine, cells: int) -> Callable[[], bytes]:
    """The same cells with one Core query, as JSON shaped like the GraphQL answer."""
    indicator, country = question(cells)
    statement = (
        select(*FIELDS.values())
        .join(Dataset, Dataset.current_version_id == Observation.version_id)
        .where(
            Dataset.release_level <= int(Level.PUBLIC),
            Observation.indicator == indicator,
            Observation.ref_area == country,
        )
        .order_by(Observation.id)
        .limit(cells)
    )
    names = list(FIELDS)

    def call() -> bytes:
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
        edges: list[dict[str, Any]] = [
            {"node": {**dict(zip(names, row, strict=True)), "suppressed": False}} for row in rows
        ]
        answer = {"data": {"observations": {"totalCount": len(edges), "edges": edges}}}
        return json.dumps(answer).encode()

    return call


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    node = workspace.query_node()
    engine = make_engine(node.url)
    try:
        with running_node(node, workspace.folder / "logs") as server, httpx.Client() as client:
            url = f"{server.url}/graphql"
            for cells in workspace.sizes.query_cells:
                answer = graphql(client, url, CELLS_QUERY, variables(cells))
                returned = len(answer["observations"]["edges"])
                floor = floor_query(engine, cells)
                floor_rows = len(json.loads(floor())["data"]["observations"]["edges"])
                if returned != cells or floor_rows != cells:
                    raise RuntimeError(f"expected {cells} cells, got {returned} and {floor_rows}")
                samples = (
                    workspace.sizes.samples if cells <= 1_000 else workspace.sizes.samples // 3
                )
                ours, baseline = alternate(
                    [round_trip(client, url, CELLS_QUERY, variables(cells)), floor],
                    samples=samples,
                )
                median_ratio = ratio(ours.median, baseline.median)
                goal = f"<= {GOAL_RATIO:g}x" if cells == 1_000 else ""
                outcome.figures.append(
                    Figure(
                        benchmark="1 node query",
                        case=f"{cells:,} cells",
                        ours=format_timing(ours),
                        baseline=f"floor {format_timing(baseline)}",
                        ratio=median_ratio,
                        goal=goal,
                        met=median_ratio <= GOAL_RATIO if goal else None,
                    )
                )
                outcome.details[f"{cells}_cells"] = {
                    "node": ours.as_json(),
                    "floor": baseline.as_json(),
                    "median_ratio": round(median_ratio, 3),
                    "p95_ratio": round(ratio(ours.p95, baseline.p95), 3),
                    "suppressed_cells": sum(
                        edge["node"]["suppressed"] for edge in answer["observations"]["edges"]
                    ),
                }
    finally:
        engine.dispose()
    outcome.details["node_cells"] = node.cells
    return outcome
