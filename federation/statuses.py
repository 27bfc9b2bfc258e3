"""Remembering how each node answered, after the answer has gone to the caller.

Recording every node's status is a write to the registry: the caller should not wait for it.
`StatusLog` runs each answer's recording in a task of its own, one after another in the order
the answers were given (so the registry ends with the last answer's statuses), and `settled()`
waits for what is still being written: a reader of the registry's statuses (the `nodes` query)
and the coordinator's shutdown await it, so no status is read stale or lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from federation.fanout import SourceStatus

logger = logging.getLogger(__name__)

AnswerListener = Callable[[Sequence["SourceStatus"]], Awaitable[None]]


class StatusLog:
    """Hands each answer's statuses to `record` in the background, in order, one at a time."""

    def __init__(self, record: AnswerListener) -> None:
        self._record = record
        self._turn = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, sources: Sequence[SourceStatus]) -> None:
        """Record `sources` soon; returns at once."""
        if not sources:
            return
        if self._closed:
            logger.warning("node statuses not recorded: the coordinator is shutting down")
            return
        task = asyncio.create_task(self._write(list(sources)), name="lnob-record-statuses")
        # The event loop holds tasks weakly: keep each one until it is done.
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, sources: list[SourceStatus]) -> None:
        # asyncio.Lock wakes its waiters first come, first served: answers are written in order.
        async with self._turn:
            try:
                await self._record(sources)
            except Exception:  # remembering statuses is a courtesy; the answer stood without it
                logger.exception("could not record node statuses")

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def settled(self) -> None:
        """Wait until every status submitted so far is recorded (or has failed to be)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Accept no more statuses and wait for those still being recorded."""
        self._closed = True
        await self.settled()
