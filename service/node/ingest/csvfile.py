"""Streaming CSV reading that says exactly where a file goes wrong, and never holds the whole file.

Lines are read as bytes and decoded one at a time, so a line that is not UTF-8 is reported with its
line number (and column) instead of ending the read with a bare `UnicodeDecodeError`. A line longer
than the field limit is skipped after being reported, without ever holding more than the limit.
Within `hashing(path)`, the file's SHA-256 is taken from the same bytes as they are read.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from service.errors import Problem

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BOM = b"\xef\xbb\xbf"
ProgressCallback = Callable[[int, int], None]
_UTF8 = "UTF-8 text (save the file as UTF-8)"

# Readers open their files themselves; ingest learns how far they have got through this variable.
_progress: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "csv_progress", default=None
)
_PROGRESS_EVERY_LINES = 10_000
_READ_BYTES = 1 << 16


class FileDigest:
    """The SHA-256 of one file, taken by the first reading of it that reaches its end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256: str | None = None  # hex; None until a reading has seen every byte


_digest: contextvars.ContextVar[FileDigest | None] = contextvars.ContextVar(
    "csv_digest", default=None
)


@contextlib.contextmanager
def reporting_progress(callback: ProgressCallback | None) -> Iterator[None]:
    """Within the block, `read_csv_rows` calls `callback(bytes_read, total_bytes)` as it reads."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


@contextlib.contextmanager
def hashing(path: Path) -> Iterator[FileDigest]:
    """Within the block, `read_csv_rows` hashes `path` as it reads it, into the digest yielded.

    A reading that stops before the end (a bad header, a quote never closed) leaves it unset.
    """
    digest = FileDigest(path)
    token = _digest.set(digest)
    try:
        yield digest
    finally:
        _digest.reset(token)


class _HashingFile(io.RawIOBase):
    """A file that feeds every byte read from it to a hash: one update per block, not per line."""

    def __init__(self, file: io.FileIO, hasher: hashlib._Hash) -> None:
        self.file = file
        self.hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        count = self.file.readinto(buffer)
        if count:
            with memoryview(buffer) as view:
                self.hasher.update(view[:count])
        return count

    def close(self) -> None:
        self.file.close()
        super().close()


def _open(path: Path, hasher: hashlib._Hash | None) -> BinaryIO:
    if hasher is None:
        return path.open("rb")
    hashed = _HashingFile(io.FileIO(path, "rb"), hasher)
    return io.BufferedReader(hashed, buffer_size=_READ_BYTES)


class _LineTooLong(Exception):
    def __init__(self, line: int, prefix: bytes) -> None:
        self.line = line
        self.prefix = prefix


class _RecordTooLong(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Lines:
    """Decoded physical lines for `csv.reader`, remembering which lines were not UTF-8.

    An iterator class rather than a generator: raising from a generator would end it, and reading
    goes on after a line that is too long.
    """

    def __init__(self, stream: BinaryIO, limit: int, total: int) -> None:
        self.stream = stream
        self.limit = limit
        self.total = total
        self.line = 0  # number of the last line handed out
        self.bytes_read = 0
        self.record_bytes = 0  # bytes handed out since the current record began
        self.undecodable: set[int] = set()  # lines of the current record that were not UTF-8
        self.progress = _progress.get()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(self.limit + 1)
        size = len(raw)
        if not size:
            raise StopIteration
        self.line += 1
        self.bytes_read += size
        if self.line == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
            size -= len(BOM)
        if size > self.limit and not raw.endswith(b"\n"):
            self._skip_rest_of_line()
            raise _LineTooLong(self.line, raw[:200])
        self.record_bytes += size
        if self.record_bytes > self.limit and self.record_bytes > size:
            # Only a quoted field running over many lines gets here, usually a quote never closed.
            raise _RecordTooLong(self.line)
        if self.progress is not None and self.line % _PROGRESS_EVERY_LINES == 0:
            self.progress(self.bytes_read, self.total)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable.add(self.line)
            # Keep the bad bytes recoverable so the problem can show them as \xNN.
            return raw.decode("utf-8", errors="surrogateescape")

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self.stream.readline(1 << 20)
            self.bytes_read += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return

    def start_record(self) -> int:
        self.record_bytes = 0
        if self.undecodable:
            self.undecodable = set()
        return self.line + 1


def _shown(cell: str) -> str:
    return cell.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _column_name(header: list[str] | None, index: int) -> str | None:
    if header is None:
        return None
    return header[index] if index < len(header) else f"column {index + 1}"


def read_csv_rows(
    path: Path, *, max_field_bytes: int = 1_000_000, delimiter: str = ","
) -> Iterator[tuple[int, list[str]] | Problem]:
    """Yield `(line_number, cells)` per record, header first, or a `Problem` where a record is bad.

    The file must be UTF-8 (a byte-order mark is allowed). Blank records are skipped. A record that
    is not UTF-8, holds a field longer than `max_field_bytes`, or is not well-formed CSV yields a
    Problem and reading goes on; an empty file, a bad header or an unclosed quote stop the reading.
    """
    file = path.name
    # The csv module's own limit is process-wide and lower than ours by default; ours is enforced
    # per line above, so the module's only has to be at least as large.
    if csv.field_size_limit() < max_field_bytes:
        csv.field_size_limit(max_field_bytes)
    total = path.stat().st_size
    header: list[str] | None = None
    digest = _digest.get()
    if digest is not None and (digest.sha256 is not None or digest.path != path):
        digest = None
    hasher = None if digest is None else hashlib.sha256()
    with _open(path, hasher) as stream:
        lines = _Lines(stream, max_field_bytes, total)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        while True:
            start = lines.start_record()
            try:
                cells = next(reader)
            except StopIteration:
                break
            except _LineTooLong as exc:
                yield _too_long(file, exc, header, max_field_bytes, delimiter)
                if header is None:
                    return
                continue
            except _RecordTooLong:
                yield Problem(
                    file,
                    start,
                    None,
                    None,
                    f"a closing quote within {max_field_bytes:,} bytes "
                    "(a quoted field was never closed)",
                )
                return
            except csv.Error as exc:
                yield Problem(file, start, None, None, f"well-formed CSV ({exc})")
                if header is None:
                    return
                continue
            if not "".join(cells).strip():  # every cell blank
                continue
            # No cell can be over the limit: the record as a whole was held to it.
            if lines.undecodable:
                yield from _undecodable(file, start, cells, header)
                if header is None:
                    return
                continue
            if header is None:
                header = cells
            yield start, cells
        if digest is not None and hasher is not None:
            digest.sha256 = hasher.hexdigest()
        if header is None:
            yield Problem(file, None, None, None, "a header line naming the columns (none found)")
        if lines.progress is not None:
            lines.progress(lines.bytes_read, total)


def _undecodable(file: str, row: int, cells: list[str], header: list[str] | None) -> list[Problem]:
    problems = [
        Problem(file, row, _column_name(header, index), _shown(cell), _UTF8)
        for index, cell in enumerate(cells)
        if any("\udc80" <= char <= "\udcff" for char in cell)
    ]
    # Bad bytes in a delimiter or quote position belong to no one cell.
    return problems or [Problem(file, row, None, None, _UTF8)]


def _too_long(
    file: str, exc: _LineTooLong, header: list[str] | None, limit: int, delimiter: str
) -> Problem:
    # The field that ran over the limit is the last one begun within the part that was read.
    prefix = exc.prefix.decode("utf-8", errors="replace")
    try:
        begun = next(csv.reader([prefix], delimiter=delimiter))
    except (csv.Error, StopIteration):
        begun = [prefix]
    column = _column_name(header, max(len(begun) - 1, 0))
    value = begun[-1] if begun else prefix
    return Problem(file, exc.line, column, value, f"a line of at most {limit:,} bytes")
