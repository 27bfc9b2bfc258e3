"""2. A peer on the same data: datasette with datasette-graphql, against our node.

The peer serves the same cells as one flat SQLite table, indexed on what the question filters
by, from its own virtual environment (datasette-graphql needs an older graphql-core than
strawberry). Both are asked the same question with the same page size, taking turns.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import httpx

from bench.clients import graphql, round_trip
from bench.measure import alternate, format_timing, ratio
from bench.node_query import CELLS_QUERY, question, variables
from bench.results import Figure, Outcome
from bench.servers import free_port, running, running_node
from bench.workspace import NodeDatabase, Workspace

NAME = "peer"
PEER_VENV = Path(__file__).resolve().parent / ".peer-venv"
# Versions that install together on Python 3.11 (datasette-graphql 2.2 needs graphql-core 3.2).
PEER_PACKAGES = (
    "datasette==0.65.5",
    "datasette-graphql==2.2",
    "graphene==3.4.3",
    "graphql-core==3.2.14",
)

PEER_QUERY = """query Cells($indicator: String!, $country: String!, $first: Int!) {
  observations(
    filter: {indicator: {eq: $indicator}, ref_area: {eq: $country}}, first: $first, sort: id
  ) {
    totalCount
    edges { node {
      id dataset organisation indicator series ref_area sub_area time_period sex age
      disability_status urbanisation income_wealth_quantile group_code unit value n
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# The node's cells as one table, the way a datasette user would publish them.
FLAT_TABLE = """
CREATE TABLE observations AS
SELECT o.id, d.slug AS dataset, d.organisation, o.indicator, o.series, o.ref_area, o.sub_area,
       o.time_period, o.sex, o.age, o.disability_status, o.urbanisation,
       o.income_wealth_quantile, o.group_code, o.unit, o.value, o.n
FROM node.observation AS o JOIN node.dataset AS d ON d.current_version_id = o.version_id
ORDER BY o.id
"""


class PeerUnavailable(RuntimeError):
    """The peer's environment could not be installed; the message says why, exactly."""


def peer_environment(python: str = "python3") -> Path:
    """The datasette executable in `bench/.peer-venv`, created on first use."""
    datasette = PEER_VENV / "bin" / "datasette"
    stamp = PEER_VENV / ".installed"
    wanted = "\n".join(PEER_PACKAGES)
    if datasette.exists() and stamp.exists() and stamp.read_text() == wanted:
        return datasette
    steps = [
        [python, "-m", "venv", str(PEER_VENV)],
        [str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            raise PeerUnavailable(f"`{' '.join(step)}` failed:\n{done.stderr.strip()[-2000:]}")
    stamp.write_text(wanted)
    return datasette


def flat_copy(node: NodeDatabase, path: Path) -> Path:
    """The node's cells in a new SQLite file, indexed on indicator and country."""
    if path.exists():
        return path
    source = node.url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        connection.execute("ATTACH DATABASE ? AS node", (source,))
        connection.execute(FLAT_TABLE)
        connection.execute("CREATE INDEX ix_observations_indicator_area "
                           "ON observations (indicator, ref_area)")  # fmt: skip
        connection.commit()
        connection.execute("DETACH DATABASE node")
    finally:
        connection.close()
    return path


def peer_versions(datasette: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(datasette.parent / "python"), "-m", "pip", "list", "--format", "freeze"],
        capture_output=True,
        text=True,
        check=False,
    )
    wanted = ("datasette", "datasette-graphql", "graphene", "graphql-core", "uvicorn")
    pairs = (line.split("==", 1) for line in done.stdout.splitlines() if "==" in line)
    return {name.lower(): version for name, version in pairs if name.lower() in wanted}


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    try:
        datasette = peer_environment()
    except PeerUnavailable as exc:
        outcome.notes.append(f"datasette could not be installed: {exc}")
        return outcome
    outcome.details["peer_versions"] = peer_versions(datasette)
    node = workspace.query_node()
    table = flat_copy(node, workspace.folder / "peer.sqlite3")
    largest = max(workspace.sizes.query_cells)
    port = free_port()
    command = [
        str(datasette), "serve", str(table), "--host", "127.0.0.1", "--port", str(port),
        # Let one page hold the largest answer, and let its query run as long as it needs.
        "--setting", "max_returned_rows", str(largest),
        "--setting", "sql_time_limit_ms", "60000",
    ]  # fmt: skip
    logs = workspace.folder / "logs"
    with (
        running("datasette", command, port=port, ready_path="/-/versions.json", logs=logs) as peer,
        running_node(node, logs) as server,
        httpx.Client(timeout=120) as client,
    ):
        node_url, peer_url = f"{server.url}/graphql", f"{peer.url}/graphql"
        for cells in workspace.sizes.query_cells:
            indicator, country = question(cells)
            peer_variables = {"indicator": indicator, "country": country, "first": cells}
            answer = graphql(client, peer_url, PEER_QUERY, peer_variables)
            returned = len(answer["observations"]["edges"])
            if returned != cells:
                raise RuntimeError(f"datasette returned {returned} cells, not {cells}")
            samples = workspace.sizes.samples if cells <= 1_000 else workspace.sizes.samples // 3
            ours, theirs = alternate(
                [
                    round_trip(client, node_url, CELLS_QUERY, variables(cells)),
                    round_trip(client, peer_url, PEER_QUERY, peer_variables),
                ],
                samples=samples,
            )
            median_ratio = ratio(ours.median, theirs.median)
            outcome.figures.append(
                Figure(
                    benchmark="2 peer (datasette)",
                    case=f"{cells:,} cells",
                    ours=format_timing(ours),
                    baseline=f"datasette {format_timing(theirs)}",
                    ratio=median_ratio,
                    goal="< 1x (node faster)",
                    met=median_ratio < 1.0,
                )
            )
            outcome.details[f"{cells}_cells"] = {
                "node": ours.as_json(),
                "datasette": theirs.as_json(),
                "median_ratio": round(median_ratio, 3),
                "p95_ratio": round(ratio(ours.p95, theirs.p95), 3),
            }
    return outcome
