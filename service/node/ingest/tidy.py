"""The product's own format: one row per observation, one column per tidy field (docs/ingest.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from service.errors import Problem
from service.node.ingest.csvfile import read_csv_rows
from service.node.ingest.records import (
    REQUIRED_COLUMNS,
    TIDY_COLUMNS,
    Excluded,
    IngestOptions,
    RawCell,
)

if TYPE_CHECKING:
    from service.reference import Reference


def read_tidy(
    path: Path, options: IngestOptions, reference: Reference
) -> Iterator[RawCell | Excluded | Problem]:
    """Read a tidy CSV: a header of tidy column names (any order, any case), then one row per cell.

    Unknown or repeated columns are problems; so is a missing required column, after which the
    rows are not read (each would repeat the same complaint).
    """
    file = path.name
    rows = read_csv_rows(path)
    columns: list[str | None] | None = None
    names: list[str] = []  # the columns read, when every column of the header is one
    source: dict[str, str] = {}
    ref_area = options.ref_area
    for item in rows:
        if isinstance(item, Problem):
            yield item
            continue
        line, cells = item
        if columns is None:
            columns, source, problems = _header(file, line, cells, options)
            yield from problems
            if _missing_required(source, options):
                return
            if None not in columns:
                names = [column for column in columns if column]
            continue
        if len(cells) != len(columns):
            yield Problem(
                file,
                line,
                None,
                None,
                f"{len(columns)} cells as in the header, found {len(cells)}",
            )
            continue
        if names:
            fields = dict(zip(names, cells, strict=True))
        else:
            fields = {column: cell for column, cell in zip(columns, cells, strict=True) if column}
        if ref_area and not fields.get("ref_area", "").strip():
            fields["ref_area"] = ref_area
        yield RawCell(line, fields, source)


def _header(
    file: str, line: int, cells: list[str], options: IngestOptions
) -> tuple[list[str | None], dict[str, str], list[Problem]]:
    columns: list[str | None] = []
    source: dict[str, str] = {}
    problems: list[Problem] = []
    for cell in cells:
        name = cell.strip().lower()
        if name not in TIDY_COLUMNS:
            problems.append(
                Problem(file, line, cell, cell, "a tidy column name: " + ", ".join(TIDY_COLUMNS))
            )
            columns.append(None)
        elif name in source:
            problems.append(Problem(file, line, cell, cell, "each column named once"))
            columns.append(None)
        else:
            source[name] = cell
            columns.append(name)
    for name in _missing_required(source, options):
        problems.append(
            Problem(file, line, name, None, f"a column named {name!r} (it is required)")
        )
    return columns, source, problems


def _missing_required(source: dict[str, str], options: IngestOptions) -> list[str]:
    # A national file may leave out ref_area when the country is given on the command line.
    return [
        name
        for name in REQUIRED_COLUMNS
        if name not in source and not (name == "ref_area" and options.ref_area)
    ]
