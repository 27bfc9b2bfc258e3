"""A short-lived per-node cache of coverage, valid only while the node's data version holds."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from federation.transport import Provenance

T = TypeVar("T")

CacheKey = tuple[str, str, str, str]


def cache_key(
    node_id: str, url: str, variables: Mapping[str, object], authorization: str | None
) -> CacheKey:
    """Coverage depends on the caller's level, so the caller's credential is part of the key
    (as a digest: tokens are not kept in memory longer than the request needs them)."""
    question = json.dumps(variables, sort_keys=True, default=str)
    caller = hashlib.sha256((authorization or "").encode("utf-8")).hexdigest()
    return (node_id, url, question, caller)


@dataclass(frozen=True, slots=True)
class CacheEntry(Generic[T]):
    data_version: str
    stored_at: float
    items: tuple[T, ...]
    # The node's signature of the answer the items came from, given with them when reused.
    signature: Provenance | None = None


class CoverageCache(Generic[T]):
    """Entries expire after `seconds` (0 turns the cache off); the oldest go first when full."""

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, CacheEntry[T]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def get(self, key: CacheKey) -> CacheEntry[T] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.stored_at > self.seconds:
            del self._entries[key]
            return None
        return entry

    def put(
        self,
        key: CacheKey,
        data_version: str,
        items: Sequence[T],
        signature: Provenance | None = None,
    ) -> None:
        if self.seconds <= 0:
            return
        self._entries[key] = CacheEntry(data_version, self._clock(), tuple(items), signature)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, key: CacheKey) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
