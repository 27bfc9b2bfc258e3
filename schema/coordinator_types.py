"""GraphQL types of the coordinator's schema that every federated answer shares."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry

from federation.fanout import SourceStatus


@strawberry.enum(name="SourceState", description="How a node answered a federated question.")
class SourceStateType(enum.Enum):
    OK = "OK"
    TIMEOUT = "TIMEOUT"
    UNREACHABLE = "UNREACHABLE"
    ERROR = "ERROR"
    UNTRUSTED = "UNTRUSTED"


@strawberry.type(name="SourceStatus", description="One node's part in a federated answer.")
class SourceStatusType:
    node_id: str
    organisation: str
    url: str
    status: SourceStateType
    latency_ms: float
    message: str | None


def source_types(sources: list[SourceStatus]) -> list[SourceStatusType]:
    return [
        SourceStatusType(
            node_id=source.node_id,
            organisation=source.organisation,
            url=source.url,
            status=SourceStateType(source.status),
            latency_ms=source.latency_ms,
            message=source.message,
        )
        for source in sources
    ]


@strawberry.type(name="RegisteredNode", description="A node the coordinator asks.")
class RegisteredNodeType:
    id: str
    name: str
    organisation: str
    url: str
    key_id: str
    key_fingerprint: str
    schema_version: str
    added_at: dt.datetime
    last_status: SourceStateType | None = strawberry.field(
        description="How the node answered the last question it was asked."
    )
    last_latency_ms: float | None
    last_message: str | None
    last_checked_at: dt.datetime | None


@strawberry.input(description="Narrows the stocktake; each list means any of these codes.")
class StocktakeFilter:
    goals: list[str] | None = None
    targets: list[str] | None = None
    indicators: list[str] | None = None
    countries: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-3 codes."
    )
    groups: list[str] | None = None
    organisations: list[str] | None = None
    period_from: int | None = strawberry.field(default=None, description="Earliest year.")
    period_to: int | None = strawberry.field(default=None, description="Latest year.")


@strawberry.type(
    name="StocktakeEntry",
    description="What one organisation holds for one indicator, area and group (no values).",
)
class StocktakeEntryType:
    organisation: str
    dataset: str
    indicator: str
    target: str | None = strawberry.field(description="None for an indicator outside the SDGs.")
    goal: str | None
    country: str
    country_name: str | None
    sub_area: str
    group: str
    disaggregations: list[str] = strawberry.field(
        description="Dimensions broken down; [] = totals."
    )
    cell_count: int
    first_year: int
    latest_year: int
    values_visible: bool = strawberry.field(description="Whether the caller may read the values.")
    nodes: list[str] = strawberry.field(description="Nodes that reported it.")


@strawberry.type(name="OrganisationStocktake", description="One organisation's totals.")
class OrganisationStocktakeType:
    organisation: str
    nodes: list[str]
    datasets: int
    indicators: int
    countries: int
    groups: list[str]
    cell_count: int
    first_year: int
    latest_year: int


@strawberry.type(name="Stocktake", description="What data exists across every node.")
class StocktakeType:
    entries: list[StocktakeEntryType]
    organisations: list[OrganisationStocktakeType]
    sources: list[SourceStatusType]
