"""A node's public schema: thin resolvers over the node's plain functions."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import cast

import strawberry
from strawberry.scalars import JSON

from auth.levels import Level
from schema.context import NodeContext, NodeInfo
from schema.execution import fast_schema
from schema.node_types import (
    AccessLevel,
    CallerType,
    CodelistType,
    CodeType,
    CoverageCellType,
    CoverageTableType,
    DatasetFilter,
    DatasetType,
    DisclosurePolicyType,
    GoalType,
    IndicatorFilter,
    IndicatorType,
    LevelPolicy,
    NodeType,
    ObservationConnection,
    ObservationFilter,
    OrganisationCoverageType,
    PageInfo,
    SdmxMapping,
    TargetType,
    cell_edges,
)
from service.errors import BadRequest, NotFound
from service.node import coverage as node_coverage
from service.node import datasets as node_datasets
from service.node.coverage import CoverageCell
from service.node.filters import CellFilter
from service.node.identity import get_identity
from service.node.observations import read_page

# 1.1: `coverageSummary`. 1.2: `coverageTable`.
NODE_SCHEMA_VERSION = "1.2"
CODELIST_IDS = (
    "GROUP",
    "SEX",
    "AGE",
    "DISABILITY_STATUS",
    "URBANISATION",
    "INCOME_WEALTH_QUANTILE",
    "UNIT",
    "OBS_STATUS",
)


def cell_filter_from(filter: ObservationFilter | None) -> CellFilter:
    if filter is None:
        return CellFilter()
    return CellFilter(
        **{
            f.name: getattr(filter, f.name)
            for f in dataclasses.fields(CellFilter)
            if hasattr(filter, f.name)
        }
    )


@strawberry.type
class Query:
    @strawberry.field(description="This node: identity, signing key and disclosure policy.")
    def node(self, info: NodeInfo) -> NodeType:
        ctx = info.context
        identity = get_identity(ctx.session)
        policy = ctx.policy
        return NodeType(
            id=identity.node_id,
            name=identity.name,
            organisation=identity.organisation,
            schema_version=NODE_SCHEMA_VERSION,
            data_version=node_datasets.data_version(ctx.session),
            public_key=cast(JSON, ctx.signing_key.public_jwk()),
            key_id=ctx.signing_key.key_id,
            disclosure_policy=DisclosurePolicyType(
                levels=[
                    LevelPolicy(
                        level=AccessLevel.of(level),
                        threshold=policy.for_level(level).threshold,
                        rounding=policy.for_level(level).rounding,
                    )
                    for level in Level
                ],
                complementary_suppression=True,
                unknown_base=(
                    "cells without a base n are released below owner level only when their "
                    "dataset is already-published statistics"
                ),
                suppression_scope=(
                    "decided per table (dataset version, indicator, series, area, period, unit), "
                    "whatever the filter or page"
                ),
            ),
            caller=CallerType(
                identity=ctx.caller.identity,
                level=AccessLevel.of(ctx.caller.level),
                organisation=ctx.caller.organisation,
            ),
        )

    @strawberry.field(description="Datasets the caller may know exist.")
    def datasets(self, info: NodeInfo, filter: DatasetFilter | None = None) -> list[DatasetType]:
        level = info.context.caller.level
        slugs = filter.slugs if filter else None
        return [
            DatasetType(
                slug=d.slug,
                title=d.title,
                organisation=d.organisation,
                methodology=d.methodology,
                collection_period=d.collection_period,
                licence=d.licence,
                contact=d.contact,
                release_level=AccessLevel.of(d.release_level),
                discovery_level=AccessLevel.of(d.discovery_level),
                published=d.published,
                version=d.version,
                cell_count=d.cell_count,
                updated_at=d.updated_at,
                values_visible=level >= d.release_level,
            )
            for d in node_datasets.list_datasets(info.context.session, level=level, slugs=slugs)
        ]

    @strawberry.field(description="SDG goals.")
    def goals(self, info: NodeInfo) -> list[GoalType]:
        return [GoalType(code=g.code, title=g.title) for g in info.context.reference.goals]

    @strawberry.field(description="SDG targets, optionally of some goals.")
    def targets(self, info: NodeInfo, goals: list[str] | None = None) -> list[TargetType]:
        return [
            TargetType(code=t.code, goal=t.goal, title=t.title)
            for t in info.context.reference.targets
            if goals is None or t.goal in goals
        ]

    @strawberry.field(description="SDG indicators (the framework shipped with the product).")
    def indicators(
        self, info: NodeInfo, filter: IndicatorFilter | None = None
    ) -> list[IndicatorType]:
        flt = filter or IndicatorFilter()
        words = (flt.search or "").lower().split()
        return [
            IndicatorType(
                code=i.code, target=i.target, goal=i.goal, title=i.title, unsd_code=i.unsd_code
            )
            for i in info.context.reference.indicators
            if (flt.goals is None or i.goal in flt.goals)
            and (flt.targets is None or i.target in flt.targets)
            and (flt.codes is None or i.code in flt.codes)
            and all(word in i.title.lower() for word in words)
        ]

    @strawberry.field(description="Codelists the data uses; GROUP carries its SDMX mapping.")
    def codelists(self, info: NodeInfo, ids: list[str] | None = None) -> list[CodelistType]:
        reference = info.context.reference
        wanted = ids if ids is not None else list(CODELIST_IDS)
        unknown = [i for i in wanted if i not in CODELIST_IDS]
        if unknown:
            raise NotFound(f"no codelist {unknown[0]!r}; known: {', '.join(CODELIST_IDS)}")
        groups = {g.code: g for g in reference.groups}
        result = []
        for codelist_id in wanted:
            codelist = reference.codelist(codelist_id)
            codes = []
            for code in codelist:
                group = groups.get(code.code) if codelist_id == "GROUP" else None
                codes.append(
                    CodeType(
                        code=code.code,
                        name=code.name,
                        parent=code.parent,
                        description=group.description if group else None,
                        sdmx=SdmxMapping(
                            dimension=group.sdmx_dimension,
                            codes=list(group.sdmx_codes),
                            note=group.mapping_note,
                        )
                        if group
                        else None,
                    )
                )
            result.append(CodelistType(id=codelist.id, name=codelist.name, codes=codes))
        return result

    @strawberry.field(description="Cells the caller may read, a page at a time.")
    def observations(
        self,
        info: NodeInfo,
        filter: ObservationFilter | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> ObservationConnection:
        ctx = info.context
        if first > ctx.settings.max_page_size:
            raise BadRequest(f"`first` may be at most {ctx.settings.max_page_size}")
        page = read_page(
            ctx.session,
            level=ctx.caller.level,
            policy=ctx.policy,
            cell_filter=cell_filter_from(filter),
            first=first,
            after=after,
            decision_cache=ctx.decision_cache,
        )
        ctx.tally.cells_returned += len(page.cells)
        ctx.tally.cells_suppressed += page.suppressed_count
        ctx.tally.datasets.update(cell.dataset for cell in page.cells)
        return ObservationConnection(
            edges=cell_edges(page.cells),
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            total_count=page.total_count,
            suppressed_count=page.suppressed_count,
        )

    @strawberry.field(description="What this node holds, without values (its stocktake).")
    def coverage(
        self, info: NodeInfo, filter: ObservationFilter | None = None
    ) -> list[CoverageCellType]:
        return [
            CoverageCellType(
                dataset=c.dataset,
                organisation=c.organisation,
                indicator=c.indicator,
                ref_area=c.ref_area,
                sub_area=c.sub_area,
                group=c.group,
                breakdown=c.breakdown.split("+") if c.breakdown else [],
                cell_count=c.cell_count,
                first_year=c.first_year,
                latest_year=c.latest_year,
                values_visible=c.values_visible,
            )
            for c in coverage_of(info.context, cell_filter_from(filter))
        ]

    @strawberry.field(
        description="The same stocktake as `coverage`, as a table: each name and code once, "
        "then a list per field (schema 1.2 on)."
    )
    def coverage_table(
        self, info: NodeInfo, filter: ObservationFilter | None = None
    ) -> CoverageTableType:
        # Answered as it is: a `CoverageTable` has every field of `CoverageTableType` (and of
        # its values and columns) under the same name, as tuples, which lists are read from.
        rows = coverage_of(info.context, cell_filter_from(filter))
        return cast(CoverageTableType, node_coverage.coverage_table(rows))

    @strawberry.field(
        description="The same stocktake summed per organisation: distinct datasets, "
        "indicators, areas and groups, cells and years (what a summary needs, in a fraction "
        "of the bytes)."
    )
    def coverage_summary(
        self, info: NodeInfo, filter: ObservationFilter | None = None
    ) -> list[OrganisationCoverageType]:
        # Answered as they are, as `coverage_table` is: an `OrganisationCoverage` has every
        # field of `OrganisationCoverageType` under the same name.
        rows = coverage_of(info.context, cell_filter_from(filter))
        return cast(list[OrganisationCoverageType], node_coverage.organisation_coverage(rows))


def coverage_of(ctx: NodeContext, cell_filter: CellFilter) -> Sequence[CoverageCell]:
    """The caller's coverage for `cell_filter`, read once per request: a coordinator's
    stocktake asks for the cells and their sums in one question."""
    level = ctx.caller.level
    for read_at, read_for, rows in ctx.coverage_read:
        if read_at == level and read_for == cell_filter:
            return rows
    rows = node_coverage.coverage(ctx.session, level=level, cell_filter=cell_filter)
    ctx.coverage_read.append((level, cell_filter, rows))
    return rows


def build_node_schema() -> strawberry.Schema:
    return fast_schema(Query)
