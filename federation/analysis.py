"""The coordinator's analyses as plain functions: gap analysis, compare/pool and the datasets
behind them. The GraphQL resolvers and the dashboard's pages both call these, so a page and an
API answer to the same question can never differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from federation import compare as pooling
from federation import gaps
from federation.fanout import (
    FederatedAnswer,
    FederatedCell,
    FederatedCoverage,
    Federation,
    NodeResult,
    SourceStatus,
)
from federation.frames import (
    FrameLevel,
    build_frame,
    coverage_filter,
    frame_countries,
    frame_groups,
    frame_rows,
)
from federation.official import OfficialTable, read_official_table
from federation.registry import RegisteredNode
from federation.transport import NodeBadAnswer
from service.reference import Reference


@dataclass(frozen=True, slots=True)
class GapQuestion:
    """What a gap analysis is asked; None = all (countries: those any node or the official
    table speaks of)."""

    goals: Sequence[str] | None = None
    targets: Sequence[str] | None = None
    indicators: Sequence[str] | None = None
    countries: Sequence[str] | None = None
    groups: Sequence[str] | None = None
    level: FrameLevel = "INDICATOR"
    stale_after_years: int = gaps.DEFAULT_STALE_AFTER_YEARS
    as_of_year: int | None = None
    largest: int = gaps.DEFAULT_LARGEST_GAPS


@dataclass(frozen=True, slots=True)
class GapAnswer:
    analysis: gaps.GapAnalysis
    coverage: FederatedAnswer[FederatedCoverage]


async def analyse(
    federation: Federation,
    reference: Reference,
    sessions: sessionmaker[Session],
    question: GapQuestion,
    *,
    authorization: str | None,
) -> GapAnswer:
    """Every node's coverage for the question's frame, laid over it (`gaps.analyse_gaps`).

    Raises `BadRequest` for unknown codes or a frame too large.
    """
    q = question
    rows = frame_rows(
        reference, goals=q.goals, targets=q.targets, indicators=q.indicators, level=q.level
    )
    if q.countries is not None:
        frame_countries(reference, q.countries)
    checked_groups = frame_groups(reference, q.groups)
    answer, official = await asyncio.gather(
        federation.coverage(
            coverage_filter(reference, rows, countries=q.countries, groups=checked_groups),
            authorization=authorization,
        ),
        anyio.to_thread.run_sync(official_table, sessions),
    )
    countries = q.countries
    if countries is None:
        countries = spoken_of(reference, answer, official)
    frame = build_frame(
        reference,
        countries=countries,
        goals=q.goals,
        targets=q.targets,
        indicators=q.indicators,
        groups=checked_groups,
        level=q.level,
    )

    def lay_over() -> gaps.GapAnalysis:
        # Tens of thousands of cells: analysed off the event loop.
        return gaps.analyse_gaps(
            frame,
            answer.items,
            reference,
            official=official,
            stale_after_years=q.stale_after_years,
            as_of_year=q.as_of_year,
            largest=q.largest,
        )

    return GapAnswer(await anyio.to_thread.run_sync(lay_over), answer)


def official_table(sessions: sessionmaker[Session]) -> OfficialTable | None:
    """The loaded official coverage table; None when none is loaded."""
    with sessions() as session:
        table = read_official_table(session)
    return table if len(table) else None


def spoken_of(
    reference: Reference,
    answer: FederatedAnswer[FederatedCoverage],
    official: OfficialTable | None,
) -> list[str]:
    """The countries any node's coverage or the official table speaks of."""
    found = {item.ref_area for item in answer.items}
    if official is not None:
        found.update(official.countries())
    return sorted(code for code in found if reference.is_country(code))


@dataclass(frozen=True, slots=True)
class CompareAnswer:
    comparison: pooling.Comparison
    observed: FederatedAnswer[FederatedCell]


async def compare(
    federation: Federation,
    reference: Reference,
    *,
    indicator: str,
    ref_area: str,
    breakdown: Sequence[str] = (),
    period: str | None = None,
    authorization: str | None,
) -> CompareAnswer:
    """Each organisation's figure for one cell, pooled where it may be (`pooling.compare`)."""
    pooling.parse_breakdown(breakdown)
    wanted = pooling.observation_filter(
        reference, indicator=indicator, ref_area=ref_area, period=period
    )
    observed, rules = await asyncio.gather(
        federation.observations(wanted, authorization=authorization),
        pooling.fetch_rules(federation, authorization=authorization),
    )
    result = pooling.compare(
        observed.items,
        reference,
        indicator=indicator,
        ref_area=ref_area,
        breakdown=breakdown,
        period=period,
        rules={rule.node_id: rule for rule in rules.items},
    )
    return CompareAnswer(result, observed)


DATASETS_QUERY = """query Datasets {
  node { id schemaVersion dataVersion }
  datasets {
    slug title organisation methodology collectionPeriod releaseLevel discoveryLevel
    cellCount valuesVisible
  }
}"""


@dataclass(frozen=True, slots=True)
class FederatedDataset:
    """A dataset one node lets the caller know exists, with its metadata."""

    node_id: str
    slug: str
    title: str
    organisation: str
    methodology: str | None
    collection_period: str | None
    release_level: str
    discovery_level: str
    cell_count: int
    values_visible: bool


async def datasets(
    federation: Federation, *, authorization: str | None
) -> FederatedAnswer[FederatedDataset]:
    """Every node's datasets that the caller may know exist (each node applies its policy)."""

    async def ask(node: RegisteredNode) -> NodeResult[FederatedDataset]:
        data = await federation.transport.execute(node, DATASETS_QUERY, {}, authorization)
        federation.read_header(node, data)
        raw = data.get("datasets")
        if not isinstance(raw, list):
            raise NodeBadAnswer("the answer has no `datasets` list")
        return NodeResult([_dataset(node.node_id, item) for item in raw])

    return await federation.fan_out(ask)


def _dataset(node_id: str, raw: Mapping[str, Any]) -> FederatedDataset:
    try:
        return FederatedDataset(
            node_id=node_id,
            slug=str(raw["slug"]),
            title=str(raw["title"]),
            organisation=str(raw["organisation"]),
            methodology=None if raw.get("methodology") is None else str(raw["methodology"]),
            collection_period=(
                None if raw.get("collectionPeriod") is None else str(raw["collectionPeriod"])
            ),
            release_level=str(raw["releaseLevel"]),
            discovery_level=str(raw["discoveryLevel"]),
            cell_count=int(raw["cellCount"]),
            values_visible=bool(raw["valuesVisible"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeBadAnswer(f"malformed dataset ({exc!r})") from None


def merged_sources(*answers: FederatedAnswer[Any]) -> list[SourceStatus]:
    """One status per node over several answers: the worst one (a node that failed any part
    of a page failed the page)."""
    worst: dict[str, SourceStatus] = {}
    for answer in answers:
        for source in answer.sources:
            kept = worst.get(source.node_id)
            if kept is None or (kept.status == "OK" and source.status != "OK"):
                worst[source.node_id] = source
    return list(worst.values())
