"""Remembering how each node answered, after the answer has gone to the caller.

Recording every node's status is a write to the registry: the caller should not wait for it,
and a coordinator answering many questions a second should not write fifty rows for each.
`StatusLog` gathers the statuses of the answers given within `every` seconds (a node's latest
status wins) and records them in one write, batches one after another in the order they were
gathered (so the registry ends with the last answer's statuses). `settled()` writes what is
gathered at once and waits for it: a reader of the registry's statuses (the `nodes` query) and
the coordinator's shutdown await it, so no status is read stale or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from federation.fanout import SourceStatus

logger = logging.getLogger(__name__)

AnswerListener = Callable[[Sequence["SourceStatus"]], Awaitable[None]]


class StatusLog:
    """Hands answers' statuses to `record` in the background: gathered for `every` seconds,
    then written in one batch; batches in order, one at a time."""

    def __init__(self, record: AnswerListener, *, every: float = 1.0) -> None:
        self._record = record
        self.every = every
        self._turn = asyncio.Lock()
        self._gathering: dict[str, SourceStatus] = {}
        self._due: asyncio.Event | None = None  # set: write the batch being gathered now
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, sources: Sequence[SourceStatus]) -> None:
        """Record `sources` soon; returns at once."""
        if not sources:
            return
        if self._closed:
            logger.warning("node statuses not recorded: the coordinator is shutting down")
            return
        for source in sources:
            self._gathering.pop(source.node_id, None)  # in the order of the latest answer
            self._gathering[source.node_id] = source
        if self._due is None:
            self._due = asyncio.Event()
            task = asyncio.create_task(self._write(self._due), name="lnob-record-statuses")
            # The event loop holds tasks weakly: keep each one until it is done.
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _write(self, due: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.every):
                await due.wait()
        # asyncio.Lock wakes its waiters first come, first served: batches are written in order.
        async with self._turn:
            batch, self._gathering, self._due = list(self._gathering.values()), {}, None
            try:
                await self._record(batch)
            except Exception:  # remembering statuses is a courtesy; the answer stood without it
                logger.exception("could not record node statuses")

    @property
    def pending(self) -> int:
        """Batches gathered or being written."""
        return len(self._pending)

    async def settled(self) -> None:
        """Write what is gathered now, and wait until every status submitted so far is
        recorded (or has failed to be)."""
        while self._pending:
            if self._due is not None:
                self._due.set()
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Accept no more statuses and record those gathered or being written."""
        self._closed = True
        await self.settled()
