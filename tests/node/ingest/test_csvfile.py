from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.errors import Problem
from service.node.ingest.csvfile import hashing, read_csv_rows, reporting_progress
from tests.node.ingest.conftest import WriteFile


def read(path: Path, max_field_bytes: int = 1_000_000) -> list[tuple[int, list[str]] | Problem]:
    return list(read_csv_rows(path, max_field_bytes=max_field_bytes))


def test_rows_come_with_the_line_they_start_on(write_file: WriteFile) -> None:
    path = write_file('a,b\n1,"two\nlines"\n\n3,4\r\n')
    assert read(path) == [(1, ["a", "b"]), (2, ["1", "two\nlines"]), (5, ["3", "4"])]


def test_a_byte_order_mark_is_not_part_of_the_first_column(write_file: WriteFile) -> None:
    path = write_file(b"\xef\xbb\xbfindicator,value\n3.8.1,1\n")
    assert read(path)[0] == (1, ["indicator", "value"])


def test_rows_of_empty_cells_are_skipped(write_file: WriteFile) -> None:
    path = write_file("a,b\n,\n 1,2\n,,\n")
    assert read(path) == [(1, ["a", "b"]), (3, [" 1", "2"])]


def test_a_line_that_is_not_utf8_is_reported_and_reading_goes_on(write_file: WriteFile) -> None:
    path = write_file(b"name,note\nok,fine\n" + "Ren\xe9e,caf\xe9\nnext,row\n".encode("latin-1"))
    items = read(path)
    assert items[:2] == [(1, ["name", "note"]), (2, ["ok", "fine"])]
    assert items[2] == Problem(
        path.name, 3, "name", "Ren\\xe9e", "UTF-8 text (save the file as UTF-8)"
    )
    assert isinstance(items[3], Problem) and items[3].column == "note"
    assert items[4] == (4, ["next", "row"])


def test_an_empty_file_is_a_problem(write_file: WriteFile) -> None:
    path = write_file(b"")
    [problem] = read(path)
    assert isinstance(problem, Problem)
    assert "header" in problem.expected


def test_a_header_only_file_yields_the_header(write_file: WriteFile) -> None:
    assert read(write_file("a,b\n")) == [(1, ["a", "b"])]


def test_a_line_over_the_limit_names_its_column_and_is_skipped(write_file: WriteFile) -> None:
    path = write_file("a,b\n1," + "x" * 5000 + "\n2,3\n")
    items = read(path, max_field_bytes=1000)
    assert items[0] == (1, ["a", "b"])
    problem = items[1]
    assert isinstance(problem, Problem)
    assert (problem.row, problem.column) == (2, "b")
    assert "at most 1,000 bytes" in problem.expected
    assert items[2] == (3, ["2", "3"])


def test_an_unclosed_quote_stops_reading_at_the_limit(write_file: WriteFile) -> None:
    path = write_file('a,b\n1,"never closed\n' + "more,lines\n" * 500)
    items = read(path, max_field_bytes=1000)
    assert items[0] == (1, ["a", "b"])
    [problem] = items[1:]
    assert isinstance(problem, Problem)
    assert problem.row == 2 and "closing quote" in problem.expected


def test_malformed_quoting_is_reported_and_reading_goes_on(write_file: WriteFile) -> None:
    path = write_file('a,b\n1,"x"y\n2,3\n')
    items = read(path)
    problem = items[1]
    assert isinstance(problem, Problem) and problem.row == 2
    assert "well-formed CSV" in problem.expected
    assert items[2] == (3, ["2", "3"])


def test_progress_is_reported_up_to_the_whole_file(write_file: WriteFile) -> None:
    path = write_file("a\n" + "1\n" * 25_000)
    seen: list[tuple[int, int]] = []
    with reporting_progress(lambda done, total: seen.append((done, total))):
        assert sum(1 for _ in read_csv_rows(path)) == 25_001
    size = path.stat().st_size
    assert seen[-1] == (size, size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_line_just_within_the_limit_is_read(write_file: WriteFile) -> None:
    path = write_file("a\n" + "x" * 1000 + "\n")
    assert read(path, max_field_bytes=1000) == [(1, ["a"]), (2, ["x" * 1000])]


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\n1,2\n",
        b"\xef\xbb\xbfa,b\r\n1,2",  # a byte-order mark, CRLF, no newline at the end
        b"a,b\n" + b"\xff\xfe,x\n" + b"1," + b"y" * 5000 + b"\n" + b"3,4\n" * 50_000,
    ],
)
def test_the_digest_is_the_sha256_of_every_byte_read(write_file: WriteFile, content: bytes) -> None:
    path = write_file(content)
    with hashing(path) as digest:
        assert digest.sha256 is None
        read(path, max_field_bytes=1000)
    assert digest.sha256 == hashlib.sha256(content).hexdigest()


def test_only_a_reading_of_the_named_file_to_its_end_is_hashed(write_file: WriteFile) -> None:
    path, other = write_file("a\n1\n2\n"), write_file("b\n3\n")
    with hashing(path) as digest:
        read(other)
        next(read_csv_rows(path))  # a reading stopped before the end
        assert digest.sha256 is None
        read(path)
    assert digest.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_reading_stopped_by_an_unclosed_quote_leaves_no_digest(write_file: WriteFile) -> None:
    path = write_file('a,b\n1,"never closed\n' + "more,lines\n" * 500)
    with hashing(path) as digest:
        read(path, max_field_bytes=1000)
    assert digest.sha256 is None
