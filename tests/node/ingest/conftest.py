"""Ingest fixtures: files written on the fly, and a fingerprint of everything ingest may change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.node.ingest import DatasetMeta, IngestOptions, IngestReport, ingest_file
from service.node.models import AuditEntry, AuditHead, Dataset, DatasetVersion, Observation

EXAMPLE = Path(__file__).resolve().parents[3] / "service" / "node" / "examples" / "tidy_example.csv"
HEADER = "indicator,ref_area,sub_area,time_period,sex,disability_status,group,value,unit,n"
GOOD_ROWS = (
    "3.8.1,BGD,,2022,_T,_T,_T,48.5,PERCENT,400",
    "3.8.1,BGD,,2022,F,_T,_T,51.0,PERCENT,210",
    "3.8.1,BGD,,2022,M,_T,_T,45.7,PERCENT,190",
    "3.8.1,BGD,BD-F,2022,_T,PD,DALIT,38.2,PERCENT,34",
)

WriteFile = Callable[..., Path]
Ingest = Callable[..., IngestReport]


def tidy_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write text (UTF-8) or bytes to a new file in the test's folder and return its path."""
    counter = iter(range(1_000_000))

    def write(content: str | bytes, name: str | None = None) -> Path:
        path = tmp_path / (name or f"upload-{next(counter)}.csv")
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def ingest(node_engine: Engine) -> Ingest:
    """Ingest a tidy file into dataset `survey` (or another slug) as user `data-team`."""

    def run(path: Path, slug: str = "survey", **meta: object) -> IngestReport:
        meta.setdefault("organisation", "Community Voices")
        return ingest_file(
            node_engine,
            path,
            DatasetMeta(slug=slug, **meta),  # type: ignore[arg-type]
            IngestOptions(format="tidy"),
            loaded_by="data-team",
        )

    return run


def fingerprint(engine: Engine) -> dict[str, object]:
    """Every row ingest may touch, as text; observations as a count and a digest."""
    with Session(engine) as session:
        digest = hashlib.sha256()
        count = 0
        for observation in session.scalars(select(Observation).order_by(Observation.id)):
            count += 1
            values = {c.name: getattr(observation, c.key) for c in Observation.__table__.c}
            digest.update(repr(sorted(values.items())).encode())

        def rows(model: type) -> list[str]:
            table = model.__table__  # type: ignore[attr-defined]
            ordered = select(table).order_by(*table.primary_key.columns)
            return [repr(tuple(row)) for row in session.execute(ordered).all()]

        return {
            "dataset": rows(Dataset),
            "dataset_version": rows(DatasetVersion),
            "audit_log": rows(AuditEntry),
            "audit_head": rows(AuditHead),
            "observations": count,
            "observation_digest": digest.hexdigest(),
        }
