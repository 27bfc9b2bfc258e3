"""What a run found: one row per figure for the printed table, details for the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "sqlalchemy", "strawberry-graphql", "graphql-core", "starlette", "uvicorn", "httpx",
    "aiohttp", "msgspec", "orjson", "psycopg", "pydantic",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the table: what was measured, against what, their ratio and the goal."""

    benchmark: str
    case: str
    ours: str
    baseline: str
    ratio: float | None
    goal: str = ""
    met: bool | None = None  # None: no goal, or nothing to judge

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]

    def as_json(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "case": self.case,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "goal": self.goal,
            "met": self.met,
        }


@dataclass
class Outcome:
    """What one benchmark gave: its table rows, its raw numbers, and notes on what it skipped."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "figures": [figure.as_json() for figure in self.figures],
            "details": self.details,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
        }


def machine() -> dict[str, object]:
    """The machine and software a run measured, so that figures can be compared later."""
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": _commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def table(outcomes: list[Outcome]) -> str:
    """The run's figures as a plain-text table."""
    header = ("benchmark", "case", "ours", "baseline", "ratio", "goal", "")
    rows = [header]
    for outcome in outcomes:
        for f in outcome.figures:
            shown = "" if f.ratio is None else f"{f.ratio:.2f}x"
            rows.append((f.benchmark, f.case, f.ours, f.baseline, shown, f.goal, f.verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    for outcome in outcomes:
        lines.extend(f"note ({outcome.name}): {note}" for note in outcome.notes)
    return "\n".join(lines)


def write_json(
    path: Path, outcomes: list[Outcome], *, quick: bool, info: dict[str, object]
) -> None:
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": info,
        "benchmarks": {outcome.name: outcome.as_json() for outcome in outcomes},
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
