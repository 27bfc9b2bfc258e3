"""The coordinator's schema: thin resolvers over the registry, the fan-out and the stocktake."""

from __future__ import annotations

import anyio.to_thread
import strawberry
from strawberry.types.nodes import SelectedField

from federation import registry
from federation.registry import RegisteredNode
from federation.stocktake import (
    StocktakeQuery,
    StocktakeSummary,
    take_stock,
    take_stock_summary,
)
from schema.coordinator_analysis import AnalysisQuery
from schema.coordinator_context import CoordinatorContext, CoordinatorInfo
from schema.coordinator_types import (
    OrganisationStocktakeType,
    RegisteredNodeType,
    SourceStateType,
    StocktakeFilter,
    StocktakeType,
    source_types,
)
from schema.execution import fast_schema


def registered_node_type(node: RegisteredNode) -> RegisteredNodeType:
    return RegisteredNodeType(
        id=node.node_id,
        name=node.name,
        organisation=node.organisation,
        url=node.url,
        key_id=node.key_id,
        key_fingerprint=node.fingerprint,
        schema_version=node.schema_version,
        added_at=node.added_at,
        last_status=SourceStateType(node.last_status) if node.last_status else None,
        last_latency_ms=node.last_latency_ms,
        last_message=node.last_message,
        last_checked_at=node.last_checked_at,
    )


def stocktake_query(filter: StocktakeFilter | None) -> StocktakeQuery:
    if filter is None:
        return StocktakeQuery()
    return StocktakeQuery(
        goals=tuple(filter.goals or ()),
        targets=tuple(filter.targets or ()),
        indicators=tuple(filter.indicators or ()),
        countries=tuple(filter.countries or ()),
        groups=tuple(filter.groups or ()),
        organisations=tuple(filter.organisations or ()),
        period_from=filter.period_from,
        period_to=filter.period_to,
    )


def asks_for_entries(info: CoordinatorInfo) -> bool:
    """Whether the stocktake's selection may reach `entries` (any fragment counts as yes)."""
    for field in info.selected_fields:
        for selection in field.selections:
            if not isinstance(selection, SelectedField) or selection.name == "entries":
                return True
    return False


def _registered_nodes(ctx: CoordinatorContext) -> list[RegisteredNode]:
    with ctx.sessions() as session:
        return registry.list_nodes(session)


@strawberry.type
class Query(AnalysisQuery):
    """The coordinator's schema: registry, stocktake, and (inherited) gap analysis and compare."""

    @strawberry.field(
        description="Registered nodes and how each last answered; `check: true` asks them now."
    )
    async def nodes(self, info: CoordinatorInfo, check: bool = False) -> list[RegisteredNodeType]:
        ctx = info.context
        if check:
            await ctx.federation.check(authorization=ctx.authorization)
        # Statuses are recorded after each answer: read them once the last ones are written.
        await ctx.federation.statuses_recorded()
        nodes = await anyio.to_thread.run_sync(_registered_nodes, ctx)
        return [registered_node_type(node) for node in nodes]

    @strawberry.field(
        description="What data exists across every node, merged by organisation (no values)."
    )
    async def stocktake(
        self, info: CoordinatorInfo, filter: StocktakeFilter | None = None
    ) -> StocktakeType:
        ctx = info.context
        query = stocktake_query(filter)
        result: StocktakeSummary
        if asks_for_entries(info):
            result = await take_stock(
                ctx.federation, query, ctx.reference, authorization=ctx.authorization
            )
        else:  # who holds what: each node sends its sums, not every coverage cell
            result = await take_stock_summary(
                ctx.federation, query, authorization=ctx.authorization
            )
        return StocktakeType(
            organisations=[
                OrganisationStocktakeType(
                    organisation=o.organisation,
                    nodes=list(o.nodes),
                    datasets=o.datasets,
                    indicators=o.indicators,
                    countries=o.countries,
                    groups=list(o.groups),
                    cell_count=o.cell_count,
                    first_year=o.first_year,
                    latest_year=o.latest_year,
                )
                for o in result.organisations
            ],
            sources=source_types(result.sources),
            answer=result,
        )


def build_coordinator_schema() -> strawberry.Schema:
    return fast_schema(Query)
