"""Where a run keeps its files and databases, and the nodes it builds once and shares.

Everything lives in one temporary folder (and PostgreSQL databases named `lnob_bench_…`), all
removed when the run ends. A node built by one benchmark (the 1,000,000-cell node that the
ingest benchmark loads) is reused by the next instead of being built twice.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text

from auth.levels import Level
from bench import data
from service.db import make_engine
from service.node.identity import init_node
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from service.settings import load_settings

logger = logging.getLogger(__name__)

ORGANISATION = "Bench Survey Network"
DATASET = "bench-survey"


@dataclass(frozen=True, slots=True)
class Sizes:
    """The stated sizes, or the smoke sizes of `--quick`."""

    quick: bool

    @property
    def query_cells(self) -> tuple[int, ...]:
        return (1_000,) if self.quick else (1_000, 10_000)

    @property
    def bulk_cells(self) -> int:
        return 50_000 if self.quick else 1_000_000

    @property
    def small_file_cells(self) -> int:
        """The smaller file the ingest's peak memory is compared with."""
        return 10_000 if self.quick else 100_000

    @property
    def samples(self) -> int:
        return 10 if self.quick else 40

    @property
    def seconds(self) -> float:
        """How long a throughput run lasts."""
        return 2.0 if self.quick else 10.0

    @property
    def federation_sizes(self) -> tuple[int, ...]:
        return (5, 20) if self.quick else (5, 20, 50)


@dataclass(frozen=True, slots=True)
class NodeDatabase:
    """An initialised node's database and key, as the environment of `lnob node serve`."""

    url: str
    key_file: Path
    cells: int

    @property
    def env(self) -> dict[str, str]:
        return {"LNOB_DATABASE_URL": self.url, "LNOB_KEY_FILE": str(self.key_file)}

    @property
    def backend(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"


@dataclass
class Workspace:
    folder: Path
    sizes: Sizes
    postgres_url: str | None
    _databases: list[str] = field(default_factory=list)
    _query_node: NodeDatabase | None = None
    _bulk_csv: Path | None = None
    bulk_nodes: dict[str, NodeDatabase] = field(default_factory=dict)
    postgres_version: str | None = None

    @classmethod
    def create(cls, sizes: Sizes, postgres_url: str | None) -> Workspace:
        folder = Path(tempfile.mkdtemp(prefix="lnob-bench-"))
        workspace = cls(folder=folder, sizes=sizes, postgres_url=_reachable(postgres_url))
        if workspace.postgres_url is not None:
            with psycopg.connect(workspace.postgres_url) as connection:
                workspace.postgres_version = str(
                    connection.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
                )
        return workspace

    def close(self) -> None:
        for name in self._databases:
            self._drop_database(name)
        shutil.rmtree(self.folder, ignore_errors=True)

    # Databases

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.folder / f'{name}.sqlite3'}"

    def postgres_database(self) -> str:
        """A new, empty PostgreSQL database, dropped when the run ends."""
        assert self.postgres_url is not None
        name = f"lnob_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.postgres_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return _with_database(self.postgres_url, name)

    def _drop_database(self, name: str) -> None:
        assert self.postgres_url is not None
        try:
            with psycopg.connect(self.postgres_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            logger.warning("could not drop the benchmark database %s", name)

    def new_node(self, url: str, name: str) -> NodeDatabase:
        """A migrated node database with its identity and key, and no data yet."""
        key_file = self.folder / f"{name}-key.pem"
        settings = load_settings(database_url=url, key_file=key_file)
        engine = make_engine(url)
        try:
            init_node(engine, settings, name=f"Bench node {name}", organisation=ORGANISATION,
                      node_id=f"bench-{name}")  # fmt: skip
        finally:
            engine.dispose()
        return NodeDatabase(url=url, key_file=key_file, cells=0)

    # Shared data

    def query_node(self) -> NodeDatabase:
        """A SQLite node holding a 1,000-cell answer and, at full size, a 10,000-cell one."""
        if self._query_node is None:
            large = not self.sizes.quick
            tables = data.query_tables(
                indicators=20 if large else 5, countries=10 if large else 4, large=large
            )
            path = self.folder / "query-node.csv"
            data.write_tidy_csv(path, tables)
            node = self.new_node(self.sqlite_url("query-node"), "query")
            self._query_node = load(node, path)
        return self._query_node

    def bulk_csv(self) -> Path:
        """The large tidy file: 1,000,000 cells (50,000 with `--quick`)."""
        if self._bulk_csv is None:
            path = self.folder / f"bulk-{self.sizes.bulk_cells}.csv"
            data.write_tidy_csv(path, data.bulk_tables(self.sizes.bulk_cells))
            self._bulk_csv = path
        return self._bulk_csv

    def bulk_node(self, backend: str) -> NodeDatabase:
        """A node holding the large file, loaded by `lnob node ingest`'s own code."""
        if backend not in self.bulk_nodes:
            url = self.sqlite_url("bulk-node") if backend == "sqlite" else self.postgres_database()
            self.bulk_nodes[backend] = load(self.new_node(url, f"bulk-{backend}"), self.bulk_csv())
        return self.bulk_nodes[backend]


def load(node: NodeDatabase, path: Path) -> NodeDatabase:
    """Ingest `path` into the node as its one public dataset."""
    engine = make_engine(node.url)
    try:
        report = ingest_file(
            engine,
            path,
            DatasetMeta(
                slug=DATASET,
                title="Benchmark survey",
                release_level=Level.PUBLIC,
                discovery_level=Level.PUBLIC,
            ),
            IngestOptions(format="tidy"),
            loaded_by="bench",
        )
        analyse(engine)
    finally:
        engine.dispose()
    return NodeDatabase(url=node.url, key_file=node.key_file, cells=report.rows_stored)


def analyse(engine: Engine) -> None:
    """Planner statistics on PostgreSQL, as autovacuum gathers them within a minute of a load.

    SQLite gathers none by itself, and a node never asks it to, so its files are left as they are.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


def _reachable(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        logger.warning("PostgreSQL at %s does not answer: its benchmarks are skipped", url)
        return None
    return url
