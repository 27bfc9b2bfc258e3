"""A screen for repeated keys as rows are stored, so the database's check runs only when needed.

The database finds a version's repeated keys by grouping all its rows, which costs as much as a
sort of the whole file. Files keep a table's rows together, so most can be cleared while they are
read: within a run of rows of one table (one `table_key`) the screen holds the run's dimension
codes, and it remembers the tables of earlier runs in a Bloom filter of fixed size. Its "no" is
certain; its "maybe" (a run's codes repeated, a table met again, or by chance) leaves the answer
to the database. Memory stays bounded whatever the file.
"""

from __future__ import annotations

from service.node.ingest.records import OBSERVATION_COLUMNS
from service.node.ingest.validation import StoredRow

FILTER_BITS = 1 << 23  # 1 MiB; for 10,000 tables a false "maybe" has odds below 1 in 10^9
MAX_RUN_CODES = 100_000  # a table with more distinct cells than this is left to the database
_TABLE_KEY = OBSERVATION_COLUMNS.index("table_key")
_CODES = slice(OBSERVATION_COLUMNS.index("sex"), OBSERVATION_COLUMNS.index("group_code") + 1)
_HASHES = 4  # bit positions per table, each from 32 bits of the (hex) table key


class DuplicateScreen:
    """Tells whether the rows added so far may hold a key more than once."""

    def __init__(self, filter_bits: int = FILTER_BITS) -> None:
        self.maybe = False
        self._bits = filter_bits
        self._filter = bytearray((filter_bits + 7) // 8)
        self._table: object = None
        self._run: set[StoredRow] = set()

    def add(self, stored: StoredRow) -> None:
        """Screen a validated row (`OBSERVATION_COLUMNS`)."""
        if self.maybe:
            return
        table = stored[_TABLE_KEY]
        if table != self._table:
            self._start_run(str(table))
        run = self._run
        size = len(run)
        run.add(stored[_CODES])
        if len(run) == size or size >= MAX_RUN_CODES:
            self.maybe = True

    def _start_run(self, table: str) -> None:
        self._table = table
        self._run = set()
        seen = True
        for part in range(_HASHES):
            bit = int(table[part * 8 : part * 8 + 8], 16) % self._bits
            byte, mask = bit >> 3, 1 << (bit & 7)
            if not self._filter[byte] & mask:
                seen = False
                self._filter[byte] |= mask
        if seen:
            self.maybe = True
