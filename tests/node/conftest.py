"""Node fixtures: an initialised node with its key, and a way to load small tidy tables."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from auth.levels import Level
from service.node.identity import init_node
from service.node.ingest import DatasetMeta, IngestOptions, IngestReport, ingest_file
from service.settings import Settings, load_settings

TIDY_HEADER = (
    "indicator", "ref_area", "time_period", "sex", "disability_status", "group",
    "value", "unit", "n",
)  # fmt: skip


@dataclass
class NodeUnderTest:
    settings: Settings
    engine: Engine
    folder: Path

    def load(
        self,
        slug: str,
        rows: Sequence[Mapping[str, object]],
        *,
        release: Level = Level.PUBLIC,
        discovery: Level | None = None,
        published: bool = False,
    ) -> IngestReport:
        path = self.folder / f"{slug}.csv"
        columns = list(dict.fromkeys([*TIDY_HEADER, *(k for row in rows for k in row)]))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return ingest_file(
            self.engine,
            path,
            DatasetMeta(
                slug=slug,
                title=f"Test dataset {slug}",
                release_level=release,
                discovery_level=discovery if discovery is not None else release,
                published=published,
            ),
            IngestOptions(format="tidy"),
            loaded_by="test",
        )


@pytest.fixture
def test_node(node_engine: Engine, database_url: str, tmp_path: Path) -> Iterator[NodeUnderTest]:
    settings = load_settings(database_url=database_url, key_file=tmp_path / "node-key.pem")
    init_node(
        node_engine, settings, name="Test node", organisation="Test ICSO", node_id="test-icso"
    )
    yield NodeUnderTest(settings=settings, engine=node_engine, folder=tmp_path)


def sex_table(
    *, indicator: str = "3.8.1", area: str = "BGD", period: str = "2022",
    female: tuple[float, int], male: tuple[float, int], total: tuple[float, int],
    unit: str = "NUMBER", group: str = "_T",
) -> list[dict[str, object]]:  # fmt: skip
    """A sex table with its total: (value, n) per cell."""
    return [
        {"indicator": indicator, "ref_area": area, "time_period": period, "sex": sex,
         "group": group, "value": value, "unit": unit, "n": n}
        for sex, (value, n) in (("F", female), ("M", male), ("_T", total))
    ]  # fmt: skip
