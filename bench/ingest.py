"""5. Ingest: rows/s of a tidy CSV into SQLite and PostgreSQL, against a bare load (the floor).

Each load runs in its own process, so its peak resident memory is its own. The floor reads the
same file with `csv.reader`, derives the stored columns without checking anything, and stores
them with `executemany` (SQLite) or `COPY` (PostgreSQL) in one transaction, into the same table
with the same indexes. Peak memory is compared between the large file and one a tenth its size.
"""

from __future__ import annotations

import json
import resource
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import data
from bench.results import Figure, Outcome
from bench.servers import python_module
from bench.workspace import NodeDatabase, Workspace

NAME = "ingest"
GOAL_RATE = 0.5  # at least half the floor's rate
GOAL_MEMORY_GROWTH = 1.2  # peak memory on the large file at most 20 % above the small file's


@dataclass(frozen=True, slots=True)
class Load:
    rows: int
    seconds: float
    peak_mib: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
            "rows_per_second": round(self.rate),
            "peak_rss_mib": round(self.peak_mib, 1),
        }


def load_in_child(mode: str, url: str, path: Path) -> Load:
    """Run one load in a child process, which reports its own peak resident memory."""
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            python_module("bench.ingest_child", mode, url, str(path)),
            stdout=subprocess.PIPE,
            stderr=errors,
            check=False,
        )
        if done.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{mode} load failed:\n{message}")
    result = json.loads(done.stdout)
    return Load(result["rows"], result["seconds"], result["peak_kib"] / 1024)


def run(workspace: Workspace) -> Outcome:
    outcome = Outcome(NAME)
    large = workspace.bulk_csv()
    small = workspace.folder / f"bulk-{workspace.sizes.small_file_cells}.csv"
    data.write_tidy_csv(small, data.bulk_tables(workspace.sizes.small_file_cells))
    backends = ["sqlite"] + (["postgresql"] if workspace.postgres_url else [])
    if not workspace.postgres_url:
        outcome.notes.append("PostgreSQL did not answer: its case was skipped")
    for backend in backends:
        url = _url(workspace, backend, "floor")
        floor = load_in_child("floor", workspace.new_node(url, f"floor-{backend}").url, large)
        target = workspace.new_node(_url(workspace, backend, "bulk-node"), f"bulk-{backend}")
        ours = load_in_child("ingest", target.url, large)
        workspace.bulk_nodes[backend] = NodeDatabase(target.url, target.key_file, ours.rows)
        smaller_url = _url(workspace, backend, "small-node")
        smaller = load_in_child("ingest", workspace.new_node(smaller_url, "small").url, small)

        rate_ratio = ours.rate / floor.rate
        growth = ours.peak_mib / smaller.peak_mib
        outcome.figures.append(
            Figure(
                benchmark="5 ingest",
                case=f"{backend}, {ours.rows:,} rows",
                ours=f"{ours.rate:,.0f} rows/s",
                baseline=f"floor {floor.rate:,.0f} rows/s",
                ratio=rate_ratio,
                goal=f">= {GOAL_RATE:g}x",
                met=rate_ratio >= GOAL_RATE,
            )
        )
        outcome.figures.append(
            Figure(
                benchmark="5 ingest memory",
                case=f"{backend}, {ours.rows:,} vs {smaller.rows:,} rows",
                ours=f"{ours.peak_mib:,.0f} MiB peak",
                baseline=f"{smaller.peak_mib:,.0f} MiB",
                ratio=growth,
                goal=f"<= {GOAL_MEMORY_GROWTH:g}x",
                met=growth <= GOAL_MEMORY_GROWTH,
            )
        )
        outcome.details[backend] = {
            "ingest": ours.as_json(),
            "floor": floor.as_json(),
            "ingest_small_file": smaller.as_json(),
            "rate_ratio": round(rate_ratio, 3),
            "memory_growth": round(growth, 3),
        }
    outcome.details["file_bytes"] = large.stat().st_size
    outcome.details["self_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    return outcome


def _url(workspace: Workspace, backend: str, name: str) -> str:
    return workspace.sqlite_url(name) if backend == "sqlite" else workspace.postgres_database()
