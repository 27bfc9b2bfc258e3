"""Disclosure decisions kept between requests, per table and caller rule.

A table's decisions depend only on its cells, the caller level's rule and whether its dataset is
already-published statistics. The cells of a stored dataset version never change, so the
decisions of a (version, table, rule, published) are computed once and reused until the entry
is evicted. The version is identified by its id *and* the time and file digest it was stored
with: a database restored under a running node may reuse a version id for different cells, and
its decisions must then be computed again, never taken from the old ones.

The cache only remembers what `disclosure.decide_table` said; the rules stay there.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from service.node.disclosure import Decision, LevelRule

DEFAULT_MAX_CELLS = 200_000


class TableIdentity(NamedTuple):
    """One table of one stored dataset version, as a caller under one rule sees it."""

    version_id: int
    version_stored_at: dt.datetime
    version_sha256: str
    table_key: str
    rule: LevelRule
    published: bool


class DecisionCache:
    """Least-recently-used decisions of whole tables, bounded by the cells they hold.

    Safe to share between the threads that answer requests.
    """

    def __init__(self, max_cells: int = DEFAULT_MAX_CELLS) -> None:
        if max_cells < 0:
            raise ValueError(f"max_cells must not be negative, not {max_cells}")
        self.max_cells = max_cells
        self._tables: OrderedDict[TableIdentity, Mapping[int, Decision]] = OrderedDict()
        self._cells = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tables)

    @property
    def cells(self) -> int:
        return self._cells

    def get(self, tables: Iterable[TableIdentity]) -> dict[TableIdentity, Mapping[int, Decision]]:
        """The decisions held for those of `tables` that are cached."""
        found = {}
        with self._lock:
            for table in tables:
                decisions = self._tables.get(table)
                if decisions is not None:
                    self._tables.move_to_end(table)
                    found[table] = decisions
        return found

    def put(self, table: TableIdentity, decisions: Mapping[int, Decision]) -> None:
        """Remember a whole table's decisions, evicting the least recently used beyond the bound."""
        size = len(decisions)
        if size > self.max_cells:
            return
        with self._lock:
            previous = self._tables.pop(table, None)
            if previous is not None:
                self._cells -= len(previous)
            self._tables[table] = decisions
            self._cells += size
            while self._cells > self.max_cells:
                _, evicted = self._tables.popitem(last=False)
                self._cells -= len(evicted)
