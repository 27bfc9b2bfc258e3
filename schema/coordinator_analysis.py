"""The coordinator's analysis fields: gap analysis and compare/pool, thin over `federation/`."""

from __future__ import annotations

import enum
from typing import Annotated

import anyio.to_thread
import strawberry

from federation import analysis, gaps
from federation import compare as pooling
from federation.fanout import FederatedAnswer, FederatedCell, FederatedCoverage
from schema.coordinator_context import CoordinatorInfo
from schema.coordinator_types import SourceStatusType, source_types


@strawberry.enum(name="FrameLevel", description="What a row of the gap-analysis frame is.")
class FrameLevelType(enum.Enum):
    INDICATOR = "INDICATOR"
    TARGET = "TARGET"


@strawberry.enum(
    name="GapStatus",
    description=(
        "NO_DATA: no organisation holds data; STALE: every organisation's latest period is "
        "older than staleAfterYears; SINGLE_SOURCE: one organisation holds current data; "
        "COVERED: two or more do. Suppressed or restricted data counts as data."
    ),
)
class GapStatusType(enum.Enum):
    NO_DATA = "NO_DATA"
    STALE = "STALE"
    SINGLE_SOURCE = "SINGLE_SOURCE"
    COVERED = "COVERED"


@strawberry.type(name="GapSource", description="What one organisation holds for a frame cell.")
class GapSourceType:
    organisation: str
    nodes: list[str]
    datasets: list[str]
    indicators: list[str]
    breakdowns: list[str] = strawberry.field(description='"" = totals; "AGE+SEX" = by both.')
    cell_count: int
    first_year: int
    latest_year: int
    stale: bool
    values_visible: bool = strawberry.field(
        description="False: the caller may know the data exists but not read its values."
    )
    sub_national_only: bool


@strawberry.type(name="OfficialCoverage", description="Official coverage beside a frame cell.")
class OfficialCoverageType:
    reported: bool | None = strawberry.field(
        description="Whether the loaded table reports it for this group; null: no table loaded."
    )
    reported_dimensions: list[str]
    sources: list[str]
    latest_year: int | None
    expected: bool = strawberry.field(
        description="Whether the global SDG content constraints expect it for this group."
    )
    expected_dimensions: list[str]
    note: str


@strawberry.type(name="IndicatorStatus")
class IndicatorStatusType:
    indicator: str
    status: GapStatusType


@strawberry.type(name="GapCell", description="One indicator (or target) × country × group.")
class GapCellType:
    row: str
    ref_area: str
    group: str
    status: GapStatusType
    latest_year: int | None
    organisations: list[str]
    sources: list[GapSourceType]
    official: OfficialCoverageType
    indicators: list[IndicatorStatusType] = strawberry.field(
        description="At target level, each indicator's own status."
    )


@strawberry.type(name="StatusCounts")
class StatusCountsType:
    key: str
    no_data: int
    stale: int
    single_source: int
    covered: int
    total: int


@strawberry.type(name="LargestGap", description="A country × group lacking the most rows.")
class LargestGapType:
    ref_area: str
    group: str
    no_data: int
    stale: int
    single_source: int
    covered: int
    rows_without_data: list[str]


@strawberry.type(name="GapAnalysis")
class GapAnalysisType:
    level: FrameLevelType
    as_of_year: int
    stale_after_years: int
    official_table_loaded: bool
    rows: list[str]
    countries: list[str]
    groups: list[str]
    cells: list[GapCellType]
    by_country: list[StatusCountsType]
    by_group: list[StatusCountsType]
    largest_gaps: list[LargestGapType] = strawberry.field(
        description=(
            "Country × group pairs, most NO_DATA rows first, then most STALE, then most "
            "SINGLE_SOURCE; pairs with neither NO_DATA nor STALE rows are left out."
        )
    )
    sources: list[SourceStatusType]


@strawberry.type(name="Contribution", description="One organisation's cell, as released.")
class ContributionType:
    organisation: str
    node_id: str
    dataset: str
    series: str
    time_period: str
    unit: str
    value: float | None
    n: int | None
    suppressed: bool
    suppression_reason: str | None


@strawberry.type(
    name="PooledFigure",
    description="Exact (value), a range (low..high; high null = unbounded), or suppressed.",
)
class PooledFigureType:
    time_period: str
    unit: str
    series: str
    method: str
    organisations: list[str]
    contributions: int
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    suppressed: bool
    suppression_reason: str | None
    threshold: int
    notes: list[str]


@strawberry.type(name="NotPooled", description="A period with no pooled figure, and why.")
class NotPooledType:
    time_period: str
    reason: str


@strawberry.type(name="Comparison")
class ComparisonType:
    indicator: str
    ref_area: str
    breakdown: list[str]
    period: str | None
    threshold: int = strawberry.field(description="What a pooled cell's base must reach.")
    cells: list[ContributionType]
    pooled: list[PooledFigureType]
    not_pooled: list[NotPooledType]
    warnings: list[str]
    sources: list[SourceStatusType]


@strawberry.type
class AnalysisQuery:
    @strawberry.field(
        description=(
            "Which indicator (or target) × country × group combinations have no data, stale "
            "data or one source only, with official coverage beside each. Without countries, "
            "the countries any node or the official table speaks of."
        )
    )
    async def gap_analysis(
        self,
        info: CoordinatorInfo,
        goals: list[str] | None = None,
        targets: list[str] | None = None,
        indicators: list[str] | None = None,
        countries: list[str] | None = None,
        groups: list[str] | None = None,
        level: FrameLevelType = FrameLevelType.INDICATOR,
        stale_after_years: int = gaps.DEFAULT_STALE_AFTER_YEARS,
        as_of_year: int | None = None,
        statuses: Annotated[
            list[GapStatusType] | None,
            strawberry.argument(
                description="Return only cells of these statuses (summaries: all)."
            ),
        ] = None,
        largest_gaps_limit: int = gaps.DEFAULT_LARGEST_GAPS,
    ) -> GapAnalysisType:
        ctx = info.context
        question = analysis.GapQuestion(
            goals=goals,
            targets=targets,
            indicators=indicators,
            countries=countries,
            groups=groups,
            level="TARGET" if level is FrameLevelType.TARGET else "INDICATOR",
            stale_after_years=stale_after_years,
            as_of_year=as_of_year,
            largest=largest_gaps_limit,
        )
        answer = await analysis.analyse(
            ctx.federation,
            ctx.reference,
            ctx.sessions,
            question,
            authorization=ctx.authorization,
        )
        # Tens of thousands of cells: mapped off the event loop.
        return await anyio.to_thread.run_sync(
            gap_analysis_type, answer.analysis, answer.coverage, statuses
        )

    @strawberry.field(
        description=(
            "Each organisation's figure for one indicator, country, breakdown (DIMENSION=CODE, "
            "e.g. SEX=F, GROUP=PWD; unnamed dimensions are totals) and period, side by side; "
            "pooled where units and definitions agree."
        )
    )
    async def compare(
        self,
        info: CoordinatorInfo,
        indicator: str,
        ref_area: str,
        breakdown: list[str] | None = None,
        period: str | None = None,
    ) -> ComparisonType:
        ctx = info.context
        answer = await analysis.compare(
            ctx.federation,
            ctx.reference,
            indicator=indicator,
            ref_area=ref_area,
            breakdown=breakdown or [],
            period=period,
            authorization=ctx.authorization,
        )
        return comparison_type(answer.comparison, answer.observed)


def gap_analysis_type(
    analysis: gaps.GapAnalysis,
    answer: FederatedAnswer[FederatedCoverage],
    statuses: list[GapStatusType] | None = None,
) -> GapAnalysisType:
    wanted = None if statuses is None else {status.value for status in statuses}
    return GapAnalysisType(
        level=FrameLevelType(analysis.frame.level),
        as_of_year=analysis.as_of_year,
        stale_after_years=analysis.stale_after_years,
        official_table_loaded=analysis.official_table_loaded,
        rows=[row.code for row in analysis.frame.rows],
        countries=list(analysis.frame.countries),
        groups=list(analysis.frame.groups),
        cells=[
            _cell_type(cell)
            for cell in analysis.cells
            if wanted is None or cell.status.value in wanted
        ],
        by_country=[_counts_type(counts) for counts in analysis.by_country],
        by_group=[_counts_type(counts) for counts in analysis.by_group],
        largest_gaps=[
            LargestGapType(
                ref_area=gap.ref_area,
                group=gap.group,
                no_data=gap.counts.no_data,
                stale=gap.counts.stale,
                single_source=gap.counts.single_source,
                covered=gap.counts.covered,
                rows_without_data=list(gap.rows),
            )
            for gap in analysis.largest_gaps
        ],
        sources=source_types(answer.sources),
    )


def _cell_type(cell: gaps.GapCell) -> GapCellType:
    official = cell.official
    return GapCellType(
        row=cell.row,
        ref_area=cell.ref_area,
        group=cell.group,
        status=GapStatusType(cell.status.value),
        latest_year=cell.latest_year,
        organisations=list(cell.organisations),
        sources=[
            GapSourceType(
                organisation=s.organisation,
                nodes=list(s.node_ids),
                datasets=list(s.datasets),
                indicators=list(s.indicators),
                breakdowns=list(s.breakdowns),
                cell_count=s.cell_count,
                first_year=s.first_year,
                latest_year=s.latest_year,
                stale=s.stale,
                values_visible=s.values_visible,
                sub_national_only=s.sub_national_only,
            )
            for s in cell.sources
        ],
        official=OfficialCoverageType(
            reported=official.reported,
            reported_dimensions=list(official.reported_dimensions),
            sources=list(official.sources),
            latest_year=official.latest_year,
            expected=official.expected,
            expected_dimensions=list(official.expected_dimensions),
            note=official.note,
        ),
        indicators=[
            IndicatorStatusType(indicator=code, status=GapStatusType(status.value))
            for code, status in cell.indicators
        ],
    )


def _counts_type(counts: gaps.StatusCounts) -> StatusCountsType:
    return StatusCountsType(
        key=counts.key,
        no_data=counts.no_data,
        stale=counts.stale,
        single_source=counts.single_source,
        covered=counts.covered,
        total=counts.total,
    )


def comparison_type(
    result: pooling.Comparison, observed: FederatedAnswer[FederatedCell]
) -> ComparisonType:
    return ComparisonType(
        indicator=result.indicator,
        ref_area=result.ref_area,
        breakdown=[f"{dimension}={code}" for dimension, code in result.breakdown],
        period=result.period,
        threshold=result.threshold,
        cells=[
            ContributionType(
                organisation=c.organisation,
                node_id=c.node_id,
                dataset=c.dataset,
                series=c.series,
                time_period=c.time_period,
                unit=c.unit,
                value=c.value,
                n=c.n,
                suppressed=c.suppressed,
                suppression_reason=c.suppression_reason,
            )
            for c in result.contributions
        ],
        pooled=[
            PooledFigureType(
                time_period=p.time_period,
                unit=p.unit,
                series=p.series,
                method=p.method,
                organisations=list(p.organisations),
                contributions=p.contributions,
                value=p.value,
                low=p.low,
                high=p.high,
                n=p.n,
                suppressed=p.suppressed,
                suppression_reason=p.suppression_reason,
                threshold=p.threshold,
                notes=list(p.notes),
            )
            for p in result.pooled
        ],
        not_pooled=[
            NotPooledType(time_period=x.time_period, reason=x.reason) for x in result.not_pooled
        ],
        warnings=list(result.warnings),
        sources=source_types(observed.sources),
    )
