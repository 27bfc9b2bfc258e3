"""Run the chosen benchmarks in one workspace, print the table and write the JSON file."""

from __future__ import annotations

import argparse
import logging
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import federation, ingest, node_query, peer, stocktake, throughput
from bench.results import Outcome, machine, table, write_json
from bench.workspace import Sizes, Workspace

logger = logging.getLogger("bench")

# Run in this order: the ingest benchmark loads the 1,000,000-cell nodes the stocktake reuses.
BENCHMARKS: dict[str, Callable[[Workspace], Outcome]] = {
    node_query.NAME: node_query.run,
    peer.NAME: peer.run,
    ingest.NAME: ingest.run,
    stocktake.NAME: stocktake.run,
    throughput.NAME: throughput.run,
    federation.NAME: federation.run,
}
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Benchmarks of a node and the coordinator."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small smoke sizes and short runs (under 2 minutes)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent / "results.json",
        help="where to write the results (default: bench/results.json)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LNOB_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server for the PostgreSQL cases (databases are created and dropped); "
        "'' skips them",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # The product's own progress messages would drown the benchmark's.
    logging.getLogger("service").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    chosen = args.only or list(BENCHMARKS)
    workspace = Workspace.create(Sizes(quick=args.quick), args.postgres or None)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    try:
        for name in BENCHMARKS:
            if name not in chosen:
                continue
            logger.info("running %s", name)
            began = time.perf_counter()
            wall_start = time.time()
            try:
                outcome = BENCHMARKS[name](workspace)
            except Exception as exc:  # one broken benchmark must not lose the others' figures
                logger.error("%s failed:\n%s", name, traceback.format_exc())
                for log in sorted((workspace.folder / "logs").glob("*.log")):
                    if log.stat().st_mtime < wall_start:
                        continue  # another benchmark's server
                    tail = log.read_text(errors="replace")[-1500:]
                    logger.error("end of %s:\n%s", log.name, tail)
                outcome = Outcome(name, notes=[f"failed: {type(exc).__name__}: {exc}"[:500]])
            outcome.seconds = time.perf_counter() - began
            logger.info("%s took %.0f s", name, outcome.seconds)
            outcomes.append(outcome)
    finally:
        workspace.close()
    info = machine()
    info["postgresql"] = workspace.postgres_version
    info["total_seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.output, outcomes, quick=args.quick, info=info)
    print()
    print(table(outcomes))
    print(f"\nwritten to {args.output} in {info['total_seconds']} s")
