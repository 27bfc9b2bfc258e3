"""GraphQL types of the coordinator's schema that every federated answer shares."""

from __future__ import annotations

import datetime as dt
import enum
from typing import cast

import strawberry

from federation.fanout import Provenance, SourceStatus
from federation.stocktake import Stocktake, StocktakeSummary


@strawberry.enum(name="SourceState", description="How a node answered a federated question.")
class SourceStateType(enum.Enum):
    OK = "OK"
    TIMEOUT = "TIMEOUT"
    UNREACHABLE = "UNREACHABLE"
    ERROR = "ERROR"
    UNTRUSTED = "UNTRUSTED"


@strawberry.type(
    name="SourceSignature",
    description="The node's own signature (RFC 9421) of the answer a source's data came from: "
    "with the node's public key, a partner checks that the node said it, without trusting the "
    "coordinator.",
)
class SourceSignatureType:
    key_id: str = strawberry.field(description="RFC 7638 thumbprint of the node's signing key.")
    created: dt.datetime = strawberry.field(description="When the node signed the answer.")
    signature: str = strawberry.field(description="The `Signature` header, as received.")
    signature_input: str = strawberry.field(description="The `Signature-Input` header.")
    content_digest: str = strawberry.field(description="The `Content-Digest` header.")
    content_type: str = strawberry.field(description="The `Content-Type` header (signed).")
    http_status: int = strawberry.field(description="The HTTP status of the answer (signed).")

    @classmethod
    def of(cls, provenance: Provenance) -> SourceSignatureType:
        signed = provenance.signature
        return cls(
            key_id=signed.key_id,
            created=dt.datetime.fromtimestamp(signed.created, dt.UTC),
            signature=signed.signature,
            signature_input=signed.signature_input,
            content_digest=signed.content_digest,
            content_type=provenance.content_type,
            http_status=provenance.http_status,
        )


@strawberry.type(name="SourceStatus", description="One node's part in a federated answer.")
class SourceStatusType:
    node_id: str
    organisation: str
    url: str
    status: SourceStateType
    latency_ms: float
    message: str | None
    signature: SourceSignatureType | None = strawberry.field(
        default=None,
        description="The node's signature of its answer (only when the status is OK).",
    )


def source_types(sources: list[SourceStatus]) -> list[SourceStatusType]:
    return [
        SourceStatusType(
            node_id=source.node_id,
            organisation=source.organisation,
            url=source.url,
            status=SourceStateType(source.status),
            latency_ms=source.latency_ms,
            message=source.message,
            signature=SourceSignatureType.of(source.signature) if source.signature else None,
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
    organisations: list[OrganisationStocktakeType]
    sources: list[SourceStatusType]
    # Only the totals (a `StocktakeSummary`, not a `Stocktake`) when the question did not
    # select `entries`.
    answer: strawberry.Private[StocktakeSummary]

    @strawberry.field(
        description="One line per organisation, dataset, indicator, area, group and breakdown."
    )
    def entries(self) -> list[StocktakeEntryType]:
        # Merged only when the question asks for them: a summary skips thousands. They are
        # answered as they are, not copied: a `StocktakeEntry` has every field of
        # `StocktakeEntryType` under the same name, and each of those fields reads its name.
        if not isinstance(self.answer, Stocktake):
            raise RuntimeError("a stocktake asked for its entries was answered from sums")
        return cast(list[StocktakeEntryType], self.answer.entries)
