from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.errors import IngestError, Problem
from service.node import audit
from service.node.ingest import DatasetMeta, IngestOptions, RawCell
from service.node.ingest.records import Excluded
from service.node.ingest.tidy import read_tidy
from service.node.ingest.writer import BATCH_ROWS, store
from service.node.models import Dataset, DatasetVersion, Observation
from service.reference import Reference, load_reference
from tests.node.ingest.conftest import GOOD_ROWS, Ingest, WriteFile, fingerprint, tidy_text

META = DatasetMeta(slug="survey", organisation="Community Voices")
TIDY = IngestOptions(format="tidy")


def current_cells(engine: Engine) -> list[tuple[int, str]]:
    """What a reader sees: the current version's cells."""
    with Session(engine) as session:
        query = (
            select(Observation.source_row, Observation.time_period)
            .join(Dataset, Dataset.current_version_id == Observation.version_id)
            .order_by(Observation.source_row)
        )
        return [(row, period) for row, period in session.execute(query)]


SERIES_HEADER = "indicator,series,ref_area,time_period,value,unit,n"


def many_rows(count: int) -> str:
    """A tidy file of `count` rows with distinct keys (one series each)."""
    rows = [f"3.8.1,S{i},BGD,2022,{i % 100}.5,PERCENT,{i}" for i in range(count)]
    return tidy_text(*rows, header=SERIES_HEADER)


def test_readers_see_the_old_version_until_the_new_one_commits(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    ingest(write_file(tidy_text(*GOOD_ROWS)))
    old = current_cells(node_engine)
    seen_during: list[list[tuple[int, str]]] = []

    def watching_reader(
        path: Path, options: IngestOptions, reference: Reference
    ) -> Iterator[RawCell | Excluded | Problem]:
        for number, item in enumerate(read_tidy(path, options, reference)):
            if number == BATCH_ROWS + 10:  # some rows of the new version are already written
                seen_during.append(current_cells(node_engine))
            yield item

    path = write_file(many_rows(BATCH_ROWS + 20))
    report = store(
        node_engine, path, META, TIDY, watching_reader, load_reference(), loaded_by="data-team"
    )
    assert seen_during == [old]
    assert report.rows_stored == BATCH_ROWS + 20
    assert len(current_cells(node_engine)) == BATCH_ROWS + 20


def test_rows_across_batches_are_all_stored_and_old_cells_dropped(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    count = 2 * BATCH_ROWS + 7
    ingest(write_file(many_rows(count)))
    ingest(write_file(tidy_text(*GOOD_ROWS)))
    with Session(node_engine) as session:
        per_version = session.execute(
            select(DatasetVersion.version, DatasetVersion.row_count, func.count(Observation.id))
            .outerjoin(Observation, Observation.version_id == DatasetVersion.id)
            .group_by(DatasetVersion.version, DatasetVersion.row_count)
            .order_by(DatasetVersion.version)
        ).all()
        assert [tuple(row) for row in per_version] == [(1, count, 0), (2, len(GOOD_ROWS), 4)]
        assert audit.verify(session).ok


def test_duplicates_in_different_batches_are_found(
    node_engine: Engine, ingest: Ingest, write_file: WriteFile
) -> None:
    text = many_rows(BATCH_ROWS + 5)
    text += text.splitlines()[4] + "\n"
    before = fingerprint(node_engine)
    with pytest.raises(IngestError) as refused:
        ingest(write_file(text))
    [problem] = refused.value.problems
    assert problem.row == BATCH_ROWS + 7 and f"rows 5, {BATCH_ROWS + 7} share" in problem.expected
    assert fingerprint(node_engine) == before


def excluding_reader(
    path: Path, options: IngestOptions, reference: Reference
) -> Iterator[RawCell | Excluded | Problem]:
    """Tidy rows, with every row whose sex is F left out as a national reader would."""
    for item in read_tidy(path, options, reference):
        if isinstance(item, RawCell) and item.fields.get("sex") == "F":
            reasons = (
                "label 'Girls' of column 'Sex' is not mapped",
                "column 'Caste' is not mapped",
            )
            yield Excluded(item.row, reasons)
        else:
            yield item


def test_excluded_rows_are_counted_by_reason(node_engine: Engine, write_file: WriteFile) -> None:
    path = write_file(tidy_text(*GOOD_ROWS))
    report = store(
        node_engine, path, META, TIDY, excluding_reader, load_reference(), loaded_by="data-team"
    )
    assert (report.rows_read, report.rows_stored, report.rows_excluded) == (4, 3, 1)
    assert report.exclusions == {
        "label 'Girls' of column 'Sex' is not mapped": 1,
        "column 'Caste' is not mapped": 1,
    }
    with Session(node_engine) as session:
        assert session.scalars(select(DatasetVersion.rows_excluded)).one() == 1


def test_a_file_whose_rows_are_all_excluded_is_refused(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(tidy_text(GOOD_ROWS[1]))
    with pytest.raises(IngestError, match="at least one row to store"):
        store(node_engine, path, META, TIDY, excluding_reader, load_reference(), loaded_by="x")
    with Session(node_engine) as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_a_missing_file_is_refused(ingest: Ingest, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="a readable file"):
        ingest(tmp_path / "nowhere.csv")


def test_the_version_keeps_the_file_s_sha256_whether_or_not_the_reader_read_it_all(
    node_engine: Engine, write_file: WriteFile
) -> None:
    path = write_file(b"\xef\xbb\xbf" + tidy_text(*GOOD_ROWS).replace("\n", "\r\n").encode())

    def first_row_only(
        path: Path, options: IngestOptions, reference: Reference
    ) -> Iterator[RawCell | Excluded | Problem]:
        yield next(
            item for item in read_tidy(path, options, reference) if isinstance(item, RawCell)
        )

    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    for reader in (read_tidy, first_row_only):
        store(node_engine, path, META, TIDY, reader, load_reference(), loaded_by="data-team")
    with Session(node_engine) as session:
        versions = session.scalars(select(DatasetVersion).order_by(DatasetVersion.version)).all()
        assert [(v.source_sha256, v.row_count) for v in versions] == [
            (expected, len(GOOD_ROWS)),
            (expected, 1),
        ]
