"""4. Federation overhead: a stocktake through the coordinator over 5, 20 and 50 nodes.

The nodes are stand-ins (`bench.standin`) serving the answers that the three demo nodes give to
the same questions, each under its own node id and organisation, after a set delay. For the
summary the coordinator asks each node for its sums per organisation, for the entry table for
its coverage (as a table, node schema 1.2) and its sums. The baseline of each is the slowest
node's own latency for the question it is asked: every node asked directly, one at a time,
before and after the stocktakes. The coordinator asks every node each time (its coverage cache
is off), with its default fan-out settings; should the default fan-out concurrency be below the
largest number of nodes, that size runs again with it raised to the number of nodes.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from auth.caller import Caller
from auth.keys import SigningKey, create_key_file
from auth.levels import Level
from bench.clients import graphql, round_trip
from bench.measure import Timing, alternate, format_ms, format_timing, ratio, time_once
from bench.results import Figure, Outcome
from bench.servers import free_port, python_module, running
from bench.workspace import Workspace
from federation import registry
from federation.answers import COVERAGE_SUMMARY_QUERY, COVERAGE_TABLE_QUERY
from federation.answers import STOCKTAKE_TABLE_QUERY as NODE_STOCKTAKE_QUERY
from federation.fanout import DATA_VERSION_QUERY
from federation.registry import NodeIdentity
from federation.stocktake import StocktakeQuery
from schema.context import NodeContext
from schema.node import NODE_SCHEMA_VERSION, build_node_schema
from service import migrate
from service.db import make_engine
from service.federation_demo import prepare_node
from service.node.demo import DEMO_ORGANISATIONS
from service.node.disclosure import DisclosurePolicy
from service.node.identity import load_signing_key
from service.reference import load_reference
from service.settings import Settings, load_settings

NAME = "federation"
DELAY_MS = 100
QUESTION = StocktakeQuery(countries=("BGD",))
# Two answers to the same question: who holds what (one line per organisation), and the whole
# table (one line per organisation, dataset, indicator, area, group and breakdown).
SUMMARY_QUERY = """query Stocktake($filter: StocktakeFilter) {
  stocktake(filter: $filter) {
    organisations { organisation nodes datasets indicators countries cellCount latestYear }
    sources { nodeId status latencyMs message }
  }
}"""
STOCKTAKE_QUERY = """query Stocktake($filter: StocktakeFilter) {
  stocktake(filter: $filter) {
    entries {
      organisation dataset indicator target country group disaggregations cellCount
      firstYear latestYear valuesVisible nodes
    }
    organisations { organisation nodes datasets indicators countries cellCount latestYear }
    sources { nodeId status latencyMs message }
  }
}"""
STOCKTAKE_VARIABLES = {"filter": {"countries": list(QUESTION.countries)}}


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one demo node answers: its coverage of the question as a table, the same summed
    per organisation, both in one answer (a stocktake's question), and its `node` header."""

    coverage: dict[str, Any]
    summary: dict[str, Any]
    stocktake: dict[str, Any]
    header: dict[str, Any]


def record_demo_answers(folder: Path) -> list[Recorded]:
    """Each demo node's answers to the coordinator's questions, as it would send them."""
    schema = build_node_schema()
    answers = []
    for org in DEMO_ORGANISATIONS:
        prepared = prepare_node(org, folder)
        settings = load_settings(
            database_url=prepared.env["LNOB_DATABASE_URL"], key_file=prepared.env["LNOB_KEY_FILE"]
        )
        engine = make_engine(settings.database_url)
        try:
            with Session(engine) as session:
                context = NodeContext(
                    caller=Caller("bench", level=Level.PUBLIC),
                    session=session,
                    settings=settings,
                    policy=DisclosurePolicy.from_settings(settings),
                    reference=load_reference(),
                    signing_key=load_signing_key(settings),
                )
                bodies = []
                for query, variables in (
                    (COVERAGE_TABLE_QUERY, {"filter": QUESTION.node_filter()}),
                    (COVERAGE_SUMMARY_QUERY, {"filter": QUESTION.node_filter()}),
                    (NODE_STOCKTAKE_QUERY, {"filter": QUESTION.node_filter()}),
                    (DATA_VERSION_QUERY, {}),
                ):
                    result = schema.execute_sync(
                        query, variable_values=variables, context_value=context
                    )
                    if result.errors:
                        raise RuntimeError(f"demo node {org.node_id}: {result.errors}")
                    bodies.append({"data": result.data})
        finally:
            engine.dispose()
        answers.append(
            Recorded(coverage=bodies[0], summary=bodies[1], stocktake=bodies[2], header=bodies[3])
        )
    return answers


def stand_in_plan(answers: list[Recorded], count: int) -> list[dict[str, Any]]:
    """`count` nodes, each a demo node's answers under its own node id and organisation."""
    nodes = []
    ports: set[int] = set()
    for index in range(count):
        port = free_port()
        while port in ports:  # a port free a moment ago may be handed out twice
            port = free_port()
        ports.add(port)
        recorded = answers[index % len(answers)]
        node_id = f"standin-{index:02d}"
        coverage, summary, stocktake, header = (
            as_node(answer, node_id, index)
            for answer in (recorded.coverage, recorded.summary, recorded.stocktake, recorded.header)
        )
        nodes.append(
            {
                "node_id": node_id,
                "port": port,
                "coverage": json.dumps(coverage, separators=(",", ":")),
                "summary": json.dumps(summary, separators=(",", ":")),
                "stocktake": json.dumps(stocktake, separators=(",", ":")),
                "header": json.dumps(header, separators=(",", ":")),
                "organisation": f"Stand-in ICSO {index:02d}",
                "data_version": header["data"]["node"]["dataVersion"],
            }
        )
    return nodes


def as_node(recorded: dict[str, Any], node_id: str, index: int) -> dict[str, Any]:
    """A demo node's recorded answer as stand-in `index` gives it: under its own node id, and
    its organisations' names numbered (fifty stand-ins are fifty organisations)."""
    answer: dict[str, Any] = json.loads(json.dumps(recorded))
    data = answer["data"]
    data["node"]["id"] = node_id
    named = [*data.get("coverageSummary", ())]
    if "coverageTable" in data:
        values = data["coverageTable"]["values"]
        values["organisations"] = [f"{name} {index:02d}" for name in values["organisations"]]
    for row in named:
        row["organisation"] = f"{row['organisation']} {index:02d}"
    return answer


def register(url: str, nodes: list[dict[str, Any]], key: SigningKey) -> None:
    """A coordinator registry holding the stand-ins, with the key they sign with."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, "coordinator")
        with Session(engine) as session, session.begin():
            for node in nodes:
                registry.register(
                    session,
                    f"http://127.0.0.1:{node['port']}/graphql",
                    NodeIdentity(
                        node_id=node["node_id"],
                        name=node["node_id"],
                        organisation=node["organisation"],
                        schema_version=NODE_SCHEMA_VERSION,
                        data_version=node["data_version"],
                        public_key=key.public_jwk(),
                        key_id=key.key_id,
                    ),
                )
    finally:
        engine.dispose()


# What the coordinator asks each node for each stocktake: its sums for the summary (a node of
# this schema version sums its own coverage), its coverage cells and sums for the entry table.
NODE_QUESTIONS = {"summary": COVERAGE_SUMMARY_QUERY, "entries": NODE_STOCKTAKE_QUERY}


def ask_each_node(
    client: httpx.Client,
    nodes: list[dict[str, Any]],
    rounds: int,
    samples: dict[tuple[str, str], list[float]],
) -> None:
    """Ask every node directly each node question, one after another, adding its latencies to
    `samples` (by kind of stocktake and node)."""
    for kind, document in NODE_QUESTIONS.items():
        for node in nodes:
            call = round_trip(
                client,
                f"http://127.0.0.1:{node['port']}/graphql",
                document,
                {"filter": QUESTION.node_filter()},
            )
            samples.setdefault((kind, node["node_id"]), []).extend(
                time_once(call) for _ in range(rounds)
            )


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    answers = record_demo_answers(workspace.folder / "demo-nodes")
    outcome.details["recorded_coverage_cells"] = [
        answer.coverage["data"]["coverageTable"]["size"] for answer in answers
    ]
    key = create_key_file(workspace.folder / "standin-key.pem")
    sizes = workspace.sizes.federation_sizes
    cases: list[tuple[int, dict[str, str]]] = [(count, {}) for count in sizes]
    default_concurrency = Settings.model_fields["fanout_concurrency"].default
    if not workspace.sizes.quick and default_concurrency < sizes[-1]:
        # A fan-out concurrency below the number of nodes asks them in waves.
        cases.append((sizes[-1], {"LNOB_FANOUT_CONCURRENCY": str(sizes[-1])}))
    for count, env in cases:
        label = f"{count} nodes" + (f", concurrency {count}" if env else "")
        timings, slowest_by_kind, entries = measure(workspace, answers, key, count, env)
        judged = count == sizes[-1]
        details: dict[str, object] = {"stocktake_entries": entries, "settings": env}
        for kind, timing in zip(("summary", "entries"), timings, strict=True):
            slowest = slowest_by_kind[kind]
            allowed = 0.10 * slowest + 0.020
            overhead = timing.median - slowest
            outcome.figures.append(
                Figure(
                    benchmark="4 federation",
                    case=f"{label}, {kind}" + (f" ({entries:,})" if kind == "entries" else ""),
                    ours=format_timing(timing),
                    baseline=f"slowest node {format_ms(slowest)}",
                    ratio=ratio(timing.median, slowest),
                    goal=f"overhead <= {format_ms(allowed)}" if judged else "",
                    met=overhead <= allowed if judged else None,
                )
            )
            details[kind] = {
                **timing.as_json(),
                "slowest_node_ms": round(slowest * 1000, 2),
                "allowed_overhead_ms": round(allowed * 1000, 2),
                "overhead_ms": round(overhead * 1000, 2),
            }
        outcome.details[label] = details
    outcome.details["delay_ms"] = DELAY_MS
    return outcome


def measure(
    workspace: Workspace,
    answers: list[Recorded],
    key: SigningKey,
    count: int,
    env: dict[str, str],
) -> tuple[list[Timing], dict[str, float], int]:
    """Stocktake timings (summary, entries), the slowest node's latency for each, and the
    number of entries."""
    nodes = stand_in_plan(answers, count)
    plan = workspace.folder / f"standin-{count}.json"
    plan.write_text(json.dumps({"delay_ms": DELAY_MS, "nodes": nodes}), encoding="utf-8")
    database = workspace.sqlite_url(f"coordinator-{count}-{len(env)}")
    register(database, nodes, key)
    logs = workspace.folder / "logs"
    port = free_port()
    coordinator_env = {
        "LNOB_COORDINATOR_DATABASE_URL": database,
        # Every stocktake asks every node for its coverage: the cost being measured.
        "LNOB_COVERAGE_CACHE_SECONDS": "0",
        **env,
    }
    standins = python_module("bench.standin", str(plan), str(workspace.folder / "standin-key.pem"))
    serve = python_module(
        "uvicorn", "bench.coordinator_server:app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    )  # fmt: skip
    with (
        running("standin", standins, port=nodes[0]["port"], ready_path="/", logs=logs),
        running(
            "coordinator", serve, port=port, ready_path="/readyz", env=coordinator_env, logs=logs
        ) as coordinator,  # fmt: skip
        httpx.Client(timeout=120) as client,
    ):
        url = f"{coordinator.url}/graphql"
        answer = graphql(client, url, STOCKTAKE_QUERY, STOCKTAKE_VARIABLES)["stocktake"]
        failed = [s for s in answer["sources"] if s["status"] != "OK"]
        if failed or len(answer["sources"]) != count:
            raise RuntimeError(f"not every stand-in answered: {failed[:3]}")
        rounds = 1 if workspace.sizes.quick else 2
        direct: dict[tuple[str, str], list[float]] = {}
        ask_each_node(client, nodes, rounds, direct)
        stocktakes: list[Callable[[], object]] = [
            round_trip(client, url, query, STOCKTAKE_VARIABLES)
            for query in (SUMMARY_QUERY, STOCKTAKE_QUERY)
        ]
        timings = alternate(stocktakes, samples=3 if workspace.sizes.quick else 10, warmup=1)
        ask_each_node(client, nodes, rounds, direct)
    slowest = {
        kind: max(statistics.median(times) for (asked, _), times in direct.items() if asked == kind)
        for kind in NODE_QUESTIONS
    }
    return timings, slowest, len(answer["entries"])
