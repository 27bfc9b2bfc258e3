"""Ask every registered node the same question at once; combine what comes back in time.

One slow, dead or misbehaving node never fails the answer: each node's outcome is a
`SourceStatus` in the answer's `sources`, beside whatever the other nodes returned. A source that
answered carries the node's signature of the answer its data came from (`Provenance`), so a
partner can check what the node said without trusting the coordinator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from federation.answers import (
    COVERAGE_QUERY,
    COVERAGE_SUMMARY_QUERY,
    COVERAGE_TABLE_QUERY,
    DATA_VERSION_QUERY,
    OBSERVATIONS_QUERY,
    STOCKTAKE_QUERY,
    STOCKTAKE_TABLE_QUERY,
    CoverageAnswer,
    CoverageSummaryAnswer,
    CoverageTableAnswer,
    FederatedCell,
    FederatedCoverage,
    FederatedOrganisationCoverage,
    NodeHeader,
    NodeStocktake,
    StocktakeAnswer,
    StocktakeTableAnswer,
    observation_cell,
    read_list,
    read_text,
    summarises,
    summed_here,
    table_cells,
    tabulates,
    tag_cells,
)
from federation.cache import CoverageCache, cache_key
from federation.registry import RegisteredNode
from federation.statuses import AnswerListener, StatusLog
from federation.transport import (
    NodeBadAnswer,
    NodeCallError,
    NodeTransport,
    Provenance,
    SourceState,
    collect_signatures,
)
from schema.node import NODE_SCHEMA_VERSION
from service.metrics import record_fanout
from service.settings import Settings

__all__ = [
    "COVERAGE_QUERY",
    "DATA_VERSION_QUERY",
    "FederatedAnswer",
    "FederatedCell",
    "FederatedCoverage",
    "Federation",
    "NodeHeader",
    "NodeResult",
    "Provenance",
    "SourceState",
    "SourceStatus",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Within every node's default page limit (LNOB_MAX_PAGE_SIZE = 1000).
PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How one node answered (or did not) one federated question; `signature` is the node's
    signature of the answer its data came from (the last page, for a paged question)."""

    node_id: str
    organisation: str
    url: str
    status: SourceState
    latency_ms: float
    message: str | None = None
    signature: Provenance | None = None


@dataclass(frozen=True, slots=True)
class FederatedAnswer(Generic[T]):
    items: list[T]
    sources: list[SourceStatus]


@dataclass(frozen=True, slots=True)
class NodeResult(Generic[T]):
    """What one node gave; `message` qualifies an OK answer (for example, truncated).

    `signature` names the answer the items came from when it is not the node's last answer
    (coverage reused from the cache); by default the last verified answer's is used."""

    items: list[T] = field(default_factory=list)
    message: str | None = None
    signature: Provenance | None = None


NodeLister = Callable[[], Awaitable[Sequence[RegisteredNode]]]


def major(version: str) -> str:
    return version.split(".", 1)[0].strip()


class Federation:
    """The coordinator's fan-out over the registered nodes, through one `NodeTransport`."""

    def __init__(
        self,
        nodes: NodeLister,
        transport: NodeTransport,
        *,
        concurrency: int = 64,
        deadline: float = 15.0,
        cache_seconds: float = 30.0,
        schema_version: str = NODE_SCHEMA_VERSION,
        on_answer: AnswerListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nodes = nodes
        self.transport = transport
        self.deadline = deadline
        self.schema_version = schema_version
        # Answers' statuses go to `on_answer` after the answer, in the background, gathered for up
        # to a second into one write (`StatusLog`).
        self._statuses = StatusLog(on_answer) if on_answer is not None else None
        self._clock = clock
        # Shared by every question in flight: bounds the requests this process sends at once.
        self._slots = asyncio.Semaphore(concurrency)
        # Each node's answers to the coverage questions, with their signatures (`_cached`).
        self.coverage_cache: CoverageCache[FederatedCoverage] = CoverageCache(
            cache_seconds, clock=clock
        )
        self.summary_cache: CoverageCache[FederatedOrganisationCoverage] = CoverageCache(
            cache_seconds, clock=clock
        )
        self.stocktake_cache: CoverageCache[NodeStocktake] = CoverageCache(
            cache_seconds, clock=clock
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        nodes: NodeLister,
        transport: NodeTransport,
        *,
        on_answer: AnswerListener | None = None,
    ) -> Federation:
        return cls(
            nodes,
            transport,
            concurrency=settings.fanout_concurrency,
            deadline=settings.fanout_deadline,
            cache_seconds=settings.coverage_cache_seconds,
            on_answer=on_answer,
        )

    async def fan_out(
        self, ask: Callable[[RegisteredNode], Awaitable[NodeResult[T]]]
    ) -> FederatedAnswer[T]:
        """Run `ask` on every registered node at once; give what arrived within the deadline."""
        nodes = list(await self._nodes())
        started = self._clock()
        tasks = [asyncio.create_task(self._ask_one(node, ask)) for node in nodes]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self.deadline)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        items: list[T] = []
        sources: list[SourceStatus] = []
        for node, task in zip(nodes, tasks, strict=True):
            if task.cancelled():
                waited = (self._clock() - started) * 1000
                sources.append(
                    self._status(
                        node, "TIMEOUT", waited,
                        f"no answer within the whole answer's deadline of {self.deadline:g} s",
                    )
                )  # fmt: skip
                continue
            result, status = task.result()
            items.extend(result.items)
            sources.append(status)
        if self._statuses is not None:
            self._statuses.submit(sources)
        return FederatedAnswer(items=items, sources=sources)

    async def statuses_recorded(self) -> None:
        """Wait until the statuses of every answer given so far are with `on_answer`."""
        if self._statuses is not None:
            await self._statuses.settled()

    async def aclose(self) -> None:
        """At shutdown: record the statuses still pending; accept no more."""
        if self._statuses is not None:
            await self._statuses.aclose()

    async def _ask_one(
        self, node: RegisteredNode, ask: Callable[[RegisteredNode], Awaitable[NodeResult[T]]]
    ) -> tuple[NodeResult[T], SourceStatus]:
        async with self._slots:
            started = self._clock()
            try:
                with collect_signatures() as verified:
                    result = await ask(node)
            except NodeCallError as exc:
                elapsed = (self._clock() - started) * 1000
                logger.warning("node %s: %s: %s", node.node_id, exc.status, exc)
                return NodeResult(), self._status(node, exc.status, elapsed, str(exc))
            except Exception as exc:  # a node's answer must never fail the federation's answer
                logger.exception("node %s: unexpected failure", node.node_id)
                elapsed = (self._clock() - started) * 1000
                message = f"unexpected failure reading the answer ({type(exc).__name__})"
                return NodeResult(), self._status(node, "ERROR", elapsed, message)
            elapsed = (self._clock() - started) * 1000
            signature = result.signature or (verified[-1] if verified else None)
            return result, self._status(node, "OK", elapsed, result.message, signature)

    @staticmethod
    def _status(
        node: RegisteredNode,
        status: SourceState,
        latency_ms: float,
        message: str | None,
        signature: Provenance | None = None,
    ) -> SourceStatus:
        # Every node's outcome passes here, so /metrics sees each node as soon as it answers.
        record_fanout(node.node_id, status, latency_ms / 1000)
        return SourceStatus(
            node_id=node.node_id,
            organisation=node.organisation,
            url=node.url,
            status=status,
            latency_ms=round(latency_ms, 1),
            message=message,
            signature=signature,
        )

    def read_header(self, node: RegisteredNode, data: Mapping[str, Any]) -> NodeHeader:
        """The `node` part of an answer; a node of another major schema version is refused."""
        raw = data.get("node")
        if not isinstance(raw, dict):
            raise NodeBadAnswer("the answer has no `node` object")
        header = NodeHeader(
            node_id=read_text(raw, "id"),
            schema_version=read_text(raw, "schemaVersion"),
            data_version=read_text(raw, "dataVersion"),
        )
        return self.check_header(node, header)

    def check_header(self, node: RegisteredNode, header: NodeHeader) -> NodeHeader:
        """`header` if it is of `node` and of this coordinator's major schema version."""
        if major(header.schema_version) != major(self.schema_version):
            raise NodeBadAnswer(
                f"the node speaks schema version {header.schema_version}; this coordinator "
                f"reads {major(self.schema_version)}.x"
            )
        if header.node_id != node.node_id:
            raise NodeBadAnswer(
                f"the node at {node.url} now says it is {header.node_id!r}, "
                f"not {node.node_id!r}: check the registry"
            )
        return header

    async def check(self, *, authorization: str | None = None) -> FederatedAnswer[NodeHeader]:
        """Ask every node who it is: reachability, schema version and latency."""

        async def ask(node: RegisteredNode) -> NodeResult[NodeHeader]:
            data = await self.transport.execute(node, DATA_VERSION_QUERY, {}, authorization)
            return NodeResult([self.read_header(node, data)])

        return await self.fan_out(ask)

    async def coverage(
        self, filter: Mapping[str, object], *, authorization: str | None
    ) -> FederatedAnswer[FederatedCoverage]:
        """Every node's coverage for `filter` (the node's ObservationFilter, in camelCase).

        A node's coverage is reused for a short time while its `dataVersion` stays the same.
        """
        variables = {"filter": dict(filter) or None}

        async def ask(node: RegisteredNode) -> NodeResult[FederatedCoverage]:
            return await self._coverage_of(node, variables, authorization)

        return await self.fan_out(ask)

    async def coverage_summary(
        self, filter: Mapping[str, object], *, authorization: str | None
    ) -> FederatedAnswer[FederatedOrganisationCoverage]:
        """Every node's coverage for `filter` summed per organisation: summed by the node
        (`coverageSummary`, schema 1.1 on), or here from its coverage for an older node."""
        variables = {"filter": dict(filter) or None}

        async def ask(node: RegisteredNode) -> NodeResult[FederatedOrganisationCoverage]:
            if not summarises(node.schema_version):
                cells = await self._coverage_of(node, variables, authorization)
                return NodeResult(
                    summed_here(node.node_id, cells.items),
                    cells.message,
                    cells.signature,
                )
            return await self._cached(
                node,
                {"coverageSummary": variables},
                authorization,
                self.summary_cache,
                lambda: self._read_summary(node, variables, authorization),
            )

        return await self.fan_out(ask)

    async def stocktake(
        self, filter: Mapping[str, object], *, authorization: str | None
    ) -> FederatedAnswer[NodeStocktake]:
        """Every node's coverage for `filter` with the same summed per organisation, one
        `NodeStocktake` per node that answered: from one question to a node of schema 1.1 on,
        summed here for an older node."""
        variables = {"filter": dict(filter) or None}

        async def ask(node: RegisteredNode) -> NodeResult[NodeStocktake]:
            if not summarises(node.schema_version):
                cells = await self._coverage_of(node, variables, authorization)
                summed = summed_here(node.node_id, cells.items)
                return NodeResult(
                    [NodeStocktake(cells.items, summed)], cells.message, cells.signature
                )
            return await self._cached(
                node,
                {"stocktake": variables},
                authorization,
                self.stocktake_cache,
                lambda: self._read_stocktake(node, variables, authorization),
            )

        return await self.fan_out(ask)

    async def _coverage_of(
        self, node: RegisteredNode, variables: Mapping[str, object], authorization: str | None
    ) -> NodeResult[FederatedCoverage]:
        return await self._cached(
            node,
            variables,
            authorization,
            self.coverage_cache,
            lambda: self._read_coverage(node, variables, authorization),
        )

    async def _read_coverage(
        self, node: RegisteredNode, variables: Mapping[str, object], authorization: str | None
    ) -> tuple[NodeHeader, list[FederatedCoverage]]:
        if tabulates(node.schema_version):
            table = await self.transport.execute_as(
                node, COVERAGE_TABLE_QUERY, variables, authorization, CoverageTableAnswer
            )
            header = self.check_header(node, table.node)
            return header, table_cells(node.node_id, table.coverage_table)
        answer = await self.transport.execute_as(
            node, COVERAGE_QUERY, variables, authorization, CoverageAnswer
        )
        return self.check_header(node, answer.node), tag_cells(node.node_id, answer.coverage)

    async def _read_summary(
        self, node: RegisteredNode, variables: Mapping[str, object], authorization: str | None
    ) -> tuple[NodeHeader, list[FederatedOrganisationCoverage]]:
        answer = await self.transport.execute_as(
            node, COVERAGE_SUMMARY_QUERY, variables, authorization, CoverageSummaryAnswer
        )
        header = self.check_header(node, answer.node)
        return header, tag_cells(node.node_id, answer.coverage_summary)

    async def _read_stocktake(
        self, node: RegisteredNode, variables: Mapping[str, object], authorization: str | None
    ) -> tuple[NodeHeader, list[NodeStocktake]]:
        if tabulates(node.schema_version):
            table = await self.transport.execute_as(
                node, STOCKTAKE_TABLE_QUERY, variables, authorization, StocktakeTableAnswer
            )
            header = self.check_header(node, table.node)
            cells = table_cells(node.node_id, table.coverage_table)
            sums = table.coverage_summary
        else:
            answer = await self.transport.execute_as(
                node, STOCKTAKE_QUERY, variables, authorization, StocktakeAnswer
            )
            header = self.check_header(node, answer.node)
            cells, sums = tag_cells(node.node_id, answer.coverage), answer.coverage_summary
        return header, [NodeStocktake(cells, tag_cells(node.node_id, sums))]

    async def _cached(
        self,
        node: RegisteredNode,
        question: Mapping[str, object],
        authorization: str | None,
        cache: CoverageCache[T],
        read: Callable[[], Awaitable[tuple[NodeHeader, list[T]]]],
    ) -> NodeResult[T]:
        """A node's answer to `question`, reused while its `dataVersion` stays the same (with
        the cache off, read every time, with no key to build)."""
        key = cache_key(node.node_id, node.url, question, authorization) if cache.enabled else None
        if key is not None and (cached := cache.get(key)) is not None:
            data = await self.transport.execute(node, DATA_VERSION_QUERY, {}, authorization)
            if self.read_header(node, data).data_version == cached.data_version:
                return NodeResult(list(cached.items), signature=cached.signature)
            cache.drop(key)
        with collect_signatures() as verified:
            header, items = await read()
        signature = verified[-1] if verified else None
        if key is not None:
            cache.put(key, header.data_version, items, signature)
        return NodeResult(items, signature=signature)

    async def observations(
        self,
        filter: Mapping[str, object],
        *,
        authorization: str | None,
        max_cells: int = 20_000,
    ) -> FederatedAnswer[FederatedCell]:
        """Every node's cells for `filter`, paged through, at most `max_cells` per node."""

        async def ask(node: RegisteredNode) -> NodeResult[FederatedCell]:
            cells: list[FederatedCell] = []
            after: str | None = None
            total: object = None
            while len(cells) < max_cells:
                variables = {
                    "filter": dict(filter) or None,
                    "first": min(PAGE_SIZE, max_cells - len(cells)),
                    "after": after,
                }
                data = await self.transport.execute(
                    node, OBSERVATIONS_QUERY, variables, authorization
                )
                self.read_header(node, data)
                connection = data.get("observations")
                if not isinstance(connection, dict):
                    raise NodeBadAnswer("the answer has no `observations` object")
                for edge in read_list(connection, "edges"):
                    if not isinstance(edge, dict):
                        raise NodeBadAnswer("malformed observation edge")
                    cells.append(observation_cell(node, edge.get("node")))
                total = connection.get("totalCount")
                page = connection.get("pageInfo")
                if not isinstance(page, dict) or not page.get("hasNextPage"):
                    return NodeResult(cells)
                after = read_text(page, "endCursor")
            return NodeResult(
                cells[:max_cells],
                f"the first {max_cells} cells of {total}: the coordinator's limit per node",
            )

        return await self.fan_out(ask)
