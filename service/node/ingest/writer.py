"""Store a file as a dataset's new version, all at once or not at all.

One transaction writes the new version's observations, checks them for duplicate keys in the
database where a screen kept while reading cannot rule them out (so no set of keys grows with the
file; see `duplicates`), switches the dataset to the new version, drops the old version's cells
and appends the audit entry. Readers keep seeing the old version until it commits. Rows go on
being stored after a problem is found, so that one run reports every problem (duplicates
included); the transaction is then rolled back.

Imports of official data (Open SDG, SDMX-CSV) may give one key two different values: the source
is ambiguous there, so all of those rows are left out and counted, unless --strict. The node's
own data (tidy) must not hold such rows: there they are problems.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from auth.levels import Level
from service.db import utcnow
from service.errors import IngestError, Problem
from service.node import audit
from service.node.ingest.csvfile import ProgressCallback, hashing, reporting_progress
from service.node.ingest.duplicates import DuplicateScreen
from service.node.ingest.records import (
    KEY_COLUMNS,
    OBSERVATION_COLUMNS,
    Excluded,
    IngestOptions,
    Reader,
)
from service.node.ingest.validation import StoredRow, Validator
from service.node.models import Dataset, DatasetVersion, NodeIdentity, Observation

if TYPE_CHECKING:
    from service.reference import Reference

logger = logging.getLogger(__name__)

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_PROBLEMS = 100
BATCH_ROWS = 5000
DELETE_ROWS = 50_000
_INSERT_COLUMNS = ("version_id", *OBSERVATION_COLUMNS)
_ROWS_SHOWN_PER_DUPLICATE = 10
AMBIGUOUS = "rows share one key with different values (ambiguous in the source)"
# Formats that import official statistics as published, and may carry their ambiguities.
OFFICIAL_FORMATS = frozenset({"open-sdg", "sdmx-csv"})
# The dataset table's column sizes.
_META_LENGTHS = {
    "title": 300,
    "organisation": 200,
    "methodology": 200,
    "collection_period": 100,
    "licence": 200,
    "contact": 200,
}

Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    """A dataset's metadata; None keeps what the dataset has (or the default for a new one)."""

    slug: str
    title: str | None = None
    organisation: str | None = None  # default: the node's organisation
    methodology: str | None = None
    collection_period: str | None = None
    licence: str | None = None
    contact: str | None = None
    release_level: Level | None = None  # new dataset default: OWNER
    discovery_level: Level | None = None  # default: the release level; never stricter than it
    published: bool | None = None


@dataclass(frozen=True, slots=True)
class IngestReport:
    dataset: str
    version: int
    rows_read: int
    rows_stored: int
    rows_excluded: int
    # reason -> rows, e.g. "column 'Ethnicity' is not mapped": 120; a row may have several
    # reasons. Reasons ending "(attribute left blank)" count rows stored without that attribute.
    exclusions: Mapping[str, int]
    seconds: float


class _Problems:
    """The first `MAX_PROBLEMS` problems and a count of all of them."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(problem)

    @property
    def room(self) -> int:
        return MAX_PROBLEMS - len(self.kept)


def store(
    engine: Engine,
    path: Path,
    meta: DatasetMeta,
    options: IngestOptions,
    reader: Reader,
    reference: Reference,
    *,
    loaded_by: str,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Read `path` with `reader` and store it as the dataset's next version.

    Raises IngestError with the first problems and their total, and then nothing has changed.
    """
    started = time.perf_counter()
    file = path.name
    refused = _meta_problems(meta, file)
    if refused:
        raise IngestError(refused)
    if not path.is_file():
        raise IngestError([Problem(file, None, None, str(path), "a readable file")])
    problems = _Problems()
    exclusions: Counter[str] = Counter()
    rows_read = rows_stored = rows_excluded = 0
    validator = Validator(reference, file)
    screen = DuplicateScreen()

    with Session(engine) as session, session.begin():
        dataset = _dataset_for(session, meta, file)
        number = 1 + (
            session.scalar(
                select(func.max(DatasetVersion.version)).where(
                    DatasetVersion.dataset_id == dataset.id
                )
            )
            or 0
        )
        version = DatasetVersion(
            dataset_id=dataset.id,
            version=number,
            source_file=file[:500],
            source_format=options.format,
            source_sha256="",  # known once the file has been read
            row_count=0,
            rows_excluded=0,
            loaded_by=loaded_by,
        )
        session.add(version)
        session.flush()
        connection = session.connection()

        with (
            reporting_progress(progress),
            hashing(path) as digest,
            _observation_sink(connection, version.id) as add_row,
        ):
            for item in reader(path, options, reference):
                if isinstance(item, Problem):
                    problems.add(item)
                elif isinstance(item, Excluded):
                    # The reader has applied --strict: what it still excludes is not an error.
                    rows_read += 1
                    rows_excluded += 1
                    exclusions.update(item.reasons)
                else:
                    rows_read += 1
                    if item.notes:
                        exclusions.update(item.notes)
                    stored, row_problems = validator.validate(item)
                    if stored is not None:
                        add_row(stored)
                        screen.add(stored)
                        rows_stored += 1
                    else:
                        for problem in row_problems:
                            problems.add(problem)

        # Both look for keys held more than once, which the screen has mostly ruled out.
        if screen.maybe and options.format in OFFICIAL_FORMATS and not options.strict:
            ambiguous = _drop_ambiguous(connection, version.id)
            if ambiguous:
                rows_stored -= ambiguous
                rows_excluded += ambiguous
                exclusions[AMBIGUOUS] += ambiguous
        if screen.maybe:
            _report_duplicates(connection, version.id, file, problems)
        if rows_stored == 0 and problems.total == 0:
            problems.add(
                Problem(
                    file,
                    None,
                    None,
                    None,
                    f"at least one row to store ({rows_read} rows read, {rows_excluded} excluded)",
                )
            )
        if problems.total:
            logger.info("refused %s: %d problems", file, problems.total)
            raise IngestError(problems.kept, problems.total)

        # A reader that stops short of the file's end (none of ours, on a file they accept)
        # leaves the digest unset; then the file is hashed in a pass of its own.
        sha256 = digest.sha256 or _sha256(path)
        version.source_sha256 = sha256
        version.row_count = rows_stored
        version.rows_excluded = rows_excluded
        dataset.current_version_id = version.id
        dataset.updated_at = utcnow()
        _delete_cells_of_older_versions(connection, dataset.id, version.id)
        audit.append(
            session,
            audit.AuditRecord(
                caller=loaded_by,
                level="owner",
                action="ingest",
                operation=f"ingest {meta.slug}",
                detail={
                    "file": file,
                    "format": options.format,
                    "sha256": sha256,
                    "version": number,
                    "rows_read": rows_read,
                    "rows_stored": rows_stored,
                    "rows_excluded": rows_excluded,
                },
            ),
        )

    if engine.dialect.name == "sqlite":
        # SQLite plans with statistics only ANALYZE gathers; without them the page query walks
        # every cell in id order instead of using the indicator and area index (~2 ms here).
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            connection.exec_driver_sql("ANALYZE")
    seconds = time.perf_counter() - started
    logger.info(
        "stored %s as %s v%d: %d rows in %.1fs", file, meta.slug, number, rows_stored, seconds
    )
    return IngestReport(
        dataset=meta.slug,
        version=number,
        rows_read=rows_read,
        rows_stored=rows_stored,
        rows_excluded=rows_excluded,
        exclusions=dict(exclusions),
        seconds=seconds,
    )


def _meta_problems(meta: DatasetMeta, file: str) -> list[Problem]:
    problems = []
    if not SLUG.fullmatch(meta.slug) or len(meta.slug) > 100:
        problems.append(
            Problem(
                file,
                None,
                "dataset",
                meta.slug,
                "a dataset slug of lowercase letters, digits and single hyphens "
                "(at most 100 characters), such as 'community-survey-2024'",
            )
        )
    for name, limit in _META_LENGTHS.items():
        value = getattr(meta, name)
        if value is not None and len(value) > limit:
            problems.append(Problem(file, None, name, value, f"at most {limit} characters"))
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _dataset_for(session: Session, meta: DatasetMeta, file: str) -> Dataset:
    """The dataset, locked against concurrent ingests, created if new, with `meta` applied."""
    dataset = session.scalars(
        select(Dataset).where(Dataset.slug == meta.slug).with_for_update()
    ).one_or_none()
    if dataset is None:
        release = meta.release_level if meta.release_level is not None else Level.OWNER
        organisation = meta.organisation or session.scalar(
            select(NodeIdentity.organisation).order_by(NodeIdentity.id).limit(1)
        )
        if not organisation:
            raise IngestError(
                [
                    Problem(
                        file,
                        None,
                        None,
                        None,
                        "an organisation for the new dataset (give one, or initialise the node)",
                    )
                ]
            )
        dataset = Dataset(
            slug=meta.slug,
            title=meta.title or meta.slug,
            organisation=organisation,
            release_level=int(release),
            discovery_level=int(
                meta.discovery_level if meta.discovery_level is not None else release
            ),
            published=bool(meta.published),
        )
        session.add(dataset)
    for name in ("title", "organisation", "methodology", "collection_period", "licence", "contact"):
        value = getattr(meta, name)
        if value is not None:
            setattr(dataset, name, value)
    if meta.release_level is not None:
        dataset.release_level = int(meta.release_level)
    if meta.discovery_level is not None:
        dataset.discovery_level = int(meta.discovery_level)
    if meta.published is not None:
        dataset.published = meta.published
    if dataset.discovery_level > dataset.release_level:
        discovery, release = Level(dataset.discovery_level), Level(dataset.release_level)
        raise IngestError(
            [
                Problem(
                    file,
                    None,
                    None,
                    f"discovery level {discovery.label}",
                    f"a discovery level no stricter than the release level {release.label}: "
                    "anyone who may read the values may know the data exists",
                )
            ]
        )
    session.flush()
    return dataset


@contextlib.contextmanager
def _observation_sink(
    connection: Connection, version_id: int
) -> Iterator[Callable[[StoredRow], None]]:
    """A function that stores one validated row; the last rows are written when the block ends."""
    if connection.dialect.name == "postgresql":
        driver: Any = connection.connection.driver_connection
        sql = f"COPY observation ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            write_row = copy.write_row  # psycopg buffers rows and sends them in large chunks

            def copy_row(stored: StoredRow) -> None:
                write_row((version_id, *stored))

            yield copy_row
        return

    marks = ", ".join("?" for _ in _INSERT_COLUMNS)
    sql = f"INSERT INTO observation ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks})"
    batch: list[Row] = []

    def insert_row(stored: StoredRow) -> None:
        batch.append((version_id, *stored))
        if len(batch) >= BATCH_ROWS:
            connection.exec_driver_sql(sql, batch)
            batch.clear()

    yield insert_row
    if batch:
        connection.exec_driver_sql(sql, batch)


def _delete_cells_of_older_versions(connection: Connection, dataset_id: int, keep: int) -> None:
    """Older versions stay as history rows; only their cells go."""
    older = select(DatasetVersion.id).where(
        DatasetVersion.dataset_id == dataset_id, DatasetVersion.id != keep
    )
    # Through the connection, not the session: an ORM delete would fetch every deleted id to keep
    # the session in step. In chunks, because SQLite gathers a DELETE's row ids in memory first.
    chunk = (
        select(Observation.id)
        .where(Observation.version_id.in_(older))
        .limit(DELETE_ROWS)
        .scalar_subquery()
    )
    while connection.execute(delete(Observation).where(Observation.id.in_(chunk))).rowcount:
        pass


def _drop_ambiguous(connection: Connection, version_id: int) -> int:
    """Delete the new version's rows whose key another row gives a different value; how many."""
    table = Observation.__table__
    key = [table.c[name] for name in KEY_COLUMNS]
    value = table.c.value
    rows, values = func.count(), func.count(value)
    ambiguous_keys = (
        select(*key)
        .where(table.c.version_id == version_id)
        .group_by(*key)
        .having(
            rows > 1,
            or_(func.count(value.distinct()) > 1, and_(values > 0, values < rows)),
        )
    )
    dropped = connection.execute(
        delete(Observation).where(
            table.c.version_id == version_id, tuple_(*key).in_(ambiguous_keys)
        )
    )
    return dropped.rowcount


def _report_duplicates(
    connection: Connection, version_id: int, file: str, problems: _Problems
) -> None:
    """Add a problem per key that the new version's rows hold more than once."""
    table = Observation.__table__
    key = [table.c[name] for name in KEY_COLUMNS]
    first_row = func.min(table.c.source_row)
    groups = (
        select(*key, first_row)
        .where(table.c.version_id == version_id)
        .group_by(*key)
        .having(func.count() > 1)
        .order_by(first_row)
        .execution_options(yield_per=1000)
    )
    shown: list[Sequence[object]] = []
    for group in connection.execute(groups):
        if len(shown) < problems.room:
            shown.append(tuple(group)[: len(key)])
        else:
            problems.total += 1
    for values in shown:
        rows = connection.scalars(
            select(table.c.source_row)
            .where(table.c.version_id == version_id)
            .where(*(column == value for column, value in zip(key, values, strict=True)))
            .order_by(table.c.source_row)
            .limit(_ROWS_SHOWN_PER_DUPLICATE + 1)
        ).all()
        listed = ", ".join(str(row) for row in rows[:_ROWS_SHOWN_PER_DUPLICATE])
        if len(rows) > _ROWS_SHOWN_PER_DUPLICATE:
            listed += ", …"
        described = ", ".join(
            f"{name}={value}"
            for name, value in zip(KEY_COLUMNS, values, strict=True)
            if value not in ("", "_T")
        )
        problems.add(
            Problem(
                file,
                rows[1],
                None,
                described,
                f"one row per key (indicator, series, areas, period, dimensions, unit); "
                f"rows {listed} share this one",
            )
        )
