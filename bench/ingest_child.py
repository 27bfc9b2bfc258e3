"""One load in its own process, so that its peak resident memory is its own.

`python -m bench.ingest_child ingest|floor DATABASE_URL CSV` prints
`{"rows": …, "seconds": …, "peak_kib": …}`.
`ingest` is the product's `ingest_file`; `floor` stores the same rows with a bare `executemany`
(SQLite) or `COPY` (PostgreSQL) into the same table, with none of the checking.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from auth.levels import Level
from bench.workspace import DATASET
from service.db import make_engine
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from service.node.ingest.records import OBSERVATION_COLUMNS

BATCH_ROWS = 10_000
Row = tuple[object, ...]


def ingest(engine: Engine, path: Path) -> int:
    report = ingest_file(
        engine,
        path,
        DatasetMeta(slug=DATASET, release_level=Level.PUBLIC, discovery_level=Level.PUBLIC),
        IngestOptions(format="tidy"),
        loaded_by="bench",
    )
    return report.rows_stored


def stored_rows(path: Path, version_id: int) -> Iterator[Row]:
    """The file's rows as the observation table stores them, derived without any checking."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for line, fields in enumerate(reader, start=2):
            indicator, area, sub_area, period, age, group, value, unit, n = fields
            year = int(period)
            key = "|".join((indicator, "", area, sub_area, period, unit))
            breakdown = "+".join(
                name for name, code in (("AGE", age), ("GROUP", group)) if code != "_T"
            )
            yield (
                version_id, line, indicator, "", area, sub_area, period, year, year, "_T", age,
                "_T", "_T", "_T", group, breakdown,
                hashlib.sha256(key.encode()).hexdigest()[:32], float(value), unit, int(n),
                None, None, None, None, None,
            )  # fmt: skip


def floor(engine: Engine, path: Path) -> int:
    columns = ("version_id", *OBSERVATION_COLUMNS)
    with engine.begin() as connection:
        # The rows need a dataset version to belong to, as the product's do.
        connection.execute(
            text(
                "INSERT INTO dataset (slug, title, organisation, release_level, discovery_level, "
                "published, created_at, updated_at) VALUES ('floor', 'floor', 'floor', 0, 0, "
                "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        dataset_id = connection.execute(text("SELECT id FROM dataset WHERE slug = 'floor'"))
        connection.execute(
            text(
                "INSERT INTO dataset_version (dataset_id, version, source_file, source_format, "
                "source_sha256, row_count, rows_excluded, loaded_by, created_at) "
                "VALUES (:d, 1, 'floor', 'tidy', '', 0, 0, 'bench', CURRENT_TIMESTAMP)"
            ),
            {"d": dataset_id.scalar_one()},
        )
        version_id = connection.execute(text("SELECT max(id) FROM dataset_version")).scalar_one()
        driver: Any = connection.connection.driver_connection
        rows = 0
        if engine.dialect.name == "postgresql":
            sql = f"COPY observation ({', '.join(columns)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                for row in stored_rows(path, version_id):
                    copy.write_row(row)
                    rows += 1
            return rows
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO observation ({', '.join(columns)}) VALUES ({marks})"
        batch: list[Row] = []
        for row in stored_rows(path, version_id):
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                driver.executemany(sql, batch)
                rows += len(batch)
                batch.clear()
        driver.executemany(sql, batch)
        return rows + len(batch)


def main() -> None:
    mode, url, csv_path = sys.argv[1:4]
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        rows = (ingest if mode == "ingest" else floor)(engine, Path(csv_path))
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    json.dump({"rows": rows, "seconds": seconds, "peak_kib": peak_kib()}, sys.stdout)


def peak_kib() -> int:
    """This process's resident high-water mark. Not `ru_maxrss`: across fork and exec that keeps
    the parent's peak, so a child would report the benchmark runner's memory, not its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (peak memory is measured on Linux)")


if __name__ == "__main__":
    main()
