"""Ingest: read a file in one of the supported formats and store it as a dataset's new version.

`ingest_file` is the entry point the CLI and tests call. Readers turn each format's rows into
`RawCell`s; `validation.Validator` checks them; `writer.store` keeps them, atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from service.node.ingest.records import (
    REQUIRED_COLUMNS,
    TIDY_COLUMNS,
    Excluded,
    IngestOptions,
    RawCell,
    Reader,
)
from service.node.ingest.validation import Validator
from service.node.ingest.writer import MAX_PROBLEMS, DatasetMeta, IngestReport, store
from service.reference import load_reference

# isort: split
# The readers import the names above from this package, so they load after them.
from service.node.ingest.opensdg import read_open_sdg
from service.node.ingest.sdmxcsv import read_sdmx_csv
from service.node.ingest.tidy import read_tidy

__all__ = [
    "MAX_PROBLEMS",
    "READERS",
    "REQUIRED_COLUMNS",
    "TIDY_COLUMNS",
    "DatasetMeta",
    "Excluded",
    "IngestOptions",
    "IngestReport",
    "RawCell",
    "Reader",
    "Validator",
    "ingest_file",
]

READERS: dict[str, Reader] = {
    "tidy": read_tidy,
    "open-sdg": read_open_sdg,
    "sdmx-csv": read_sdmx_csv,
}


def ingest_file(
    engine: Engine,
    path: Path,
    meta: DatasetMeta,
    options: IngestOptions,
    *,
    loaded_by: str,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Store `path` as the next version of dataset `meta.slug`, replacing the current one.

    `progress(bytes_read, total_bytes)` is called as the file is read. Raises IngestError with
    the first `MAX_PROBLEMS` problems and their total; then nothing in the database has changed.
    """
    return store(
        engine,
        path,
        meta,
        options,
        READERS[options.format],
        load_reference(),
        loaded_by=loaded_by,
        progress=progress,
    )
