"""GraphQL types of a node's public schema."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import NamedTuple, cast

import strawberry
from strawberry.scalars import JSON

from auth.levels import Level
from service.node.disclosure import Reason
from service.node.observations import ReleasedCell, encode_cursor


@strawberry.enum(description="Who may see something, lowest first.")
class AccessLevel(enum.Enum):
    PUBLIC = "public"
    GOVERNMENT = "government"
    COALITION = "coalition"
    OWNER = "owner"

    @classmethod
    def of(cls, level: Level) -> AccessLevel:
        return cls(level.label)

    def to_level(self) -> Level:
        return Level.parse(self.value)


# The domain's own reasons as the schema's `SuppressionReason`, so that a released cell's
# `suppression` is answered as it is.
strawberry.enum(Reason, name="SuppressionReason", description="Why a cell's value was withheld.")


@strawberry.type(description="The disclosure rule one caller level gets.")
class LevelPolicy:
    level: AccessLevel
    threshold: int = strawberry.field(description="Cells with a base n below this are suppressed.")
    rounding: int = strawberry.field(description="Counts are rounded to this base (1 = exact).")


@strawberry.type(description="The rules that shaped every answer of this node.")
class DisclosurePolicyType:
    levels: list[LevelPolicy]
    complementary_suppression: bool
    unknown_base: str
    suppression_scope: str


@strawberry.type(description="The caller as this node sees them.")
class CallerType:
    identity: str
    level: AccessLevel
    organisation: str | None


@strawberry.type(name="Node", description="This node's identity and policy.")
class NodeType:
    id: str
    name: str
    organisation: str
    schema_version: str
    data_version: str = strawberry.field(description="Changes whenever data or levels change.")
    public_key: JSON = strawberry.field(description="Ed25519 signing key as a JWK.")
    key_id: str
    disclosure_policy: DisclosurePolicyType
    caller: CallerType


@strawberry.type(name="Dataset")
class DatasetType:
    slug: str
    title: str
    organisation: str
    methodology: str | None
    collection_period: str | None
    licence: str | None
    contact: str | None
    release_level: AccessLevel
    discovery_level: AccessLevel
    published: bool = strawberry.field(
        description="Already-published statistics (cells may lack n)."
    )
    version: int | None
    cell_count: int
    updated_at: dt.datetime
    values_visible: bool = strawberry.field(description="Whether the caller may read its values.")


@strawberry.type(name="Goal")
class GoalType:
    code: str
    title: str


@strawberry.type(name="Target")
class TargetType:
    code: str
    goal: str
    title: str


@strawberry.type(name="Indicator")
class IndicatorType:
    code: str
    target: str
    goal: str
    title: str
    unsd_code: str


@strawberry.type(description="How a product code maps back to the SDMX SDG data structure.")
class SdmxMapping:
    dimension: str | None
    codes: list[str]
    note: str


@strawberry.type(name="Code")
class CodeType:
    code: str
    name: str
    parent: str | None = None
    description: str | None = None
    sdmx: SdmxMapping | None = None


@strawberry.type(name="Codelist")
class CodelistType:
    id: str
    name: str
    codes: list[CodeType]


@strawberry.type(name="Observation", description="One cell: a value, or suppressed with a reason.")
class ObservationType:
    """Answered straight from a `ReleasedCell`: each field reads the attribute it names."""

    id: strawberry.ID
    dataset: str
    organisation: str
    indicator: str
    series: str
    ref_area: str
    sub_area: str
    time_period: str
    sex: str
    age: str
    disability_status: str
    urbanisation: str
    income_wealth_quantile: str
    group: str
    unit: str
    value: float | None
    n: int | None
    numerator: float | None
    lower: float | None
    upper: float | None
    obs_status: str | None
    note: str | None
    suppressed: bool
    suppression: Reason | None = strawberry.field(name="suppressionReason")


@strawberry.type
class ObservationEdge:
    """Answered from a `CellEdge`."""

    cursor: str
    node: ObservationType


class CellEdge(NamedTuple):
    """One released cell as an edge of a page; its cursor is encoded only if asked for."""

    node: ReleasedCell

    @property
    def cursor(self) -> str:
        return encode_cursor(self.node.id)


def cell_edges(cells: Sequence[ReleasedCell]) -> list[ObservationEdge]:
    """A page's cells as edges, without copying a cell into an `ObservationType`.

    graphql-core and strawberry read an object type's plain fields with `getattr` and check no
    class (these types have no `is_type_of`), so a `ReleasedCell` is a valid `Observation` and
    a `CellEdge` a valid `ObservationEdge`; tests/schema/test_node_types.py keeps it so.
    """
    return cast(list[ObservationEdge], list(map(CellEdge, cells)))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ObservationConnection:
    edges: list[ObservationEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Cells matching the filter, on every page.")
    suppressed_count: int = strawberry.field(description="Suppressed cells on this page.")


@strawberry.type(name="CoverageCell", description="What a dataset holds; never values.")
class CoverageCellType:
    dataset: str
    organisation: str
    indicator: str
    ref_area: str
    sub_area: str
    group: str
    breakdown: list[str] = strawberry.field(description="Dimensions broken down; [] = totals.")
    cell_count: int
    first_year: int
    latest_year: int
    values_visible: bool


@strawberry.type(
    name="CoverageValues",
    description="Each dimension's distinct values in a coverage table, each listed once.",
)
class CoverageValuesType:
    organisations: list[str]
    datasets: list[str]
    indicators: list[str]
    ref_areas: list[str]
    sub_areas: list[str]
    groups: list[str]
    breakdowns: list[list[str]] = strawberry.field(
        description="Each distinct list of dimensions broken down; [] = totals."
    )


@strawberry.type(
    name="CoverageColumns",
    description="A coverage table's cells, a list per field: the i-th cell is the i-th item of "
    "every list. A dimension's items are positions in its list of values (`organisation` in "
    "`values.organisations`, `breakdown` in `values.breakdowns`).",
)
class CoverageColumnsType:
    organisation: list[int]
    dataset: list[int]
    indicator: list[int]
    ref_area: list[int]
    sub_area: list[int]
    group: list[int]
    breakdown: list[int]
    cell_count: list[int]
    first_year: list[int]
    latest_year: list[int]
    values_visible: list[bool]


@strawberry.type(
    name="CoverageTable",
    description="The rows of `coverage`, in the same order, as a table keyed by position (as "
    "SDMX-JSON keys observations): every name and code once, then a list per field. A tenth "
    "of the bytes of the same rows as objects, for a coordinator asking many nodes.",
)
class CoverageTableType:
    size: int = strawberry.field(description="How many cells: the length of every column.")
    values: CoverageValuesType
    columns: CoverageColumnsType


@strawberry.type(
    name="OrganisationCoverage",
    description="What one organisation holds here, summed over its coverage cells; never values.",
)
class OrganisationCoverageType:
    organisation: str
    datasets: list[str]
    indicators: list[str]
    countries: list[str] = strawberry.field(description="Areas (refArea codes).")
    groups: list[str]
    cell_count: int
    first_year: int
    latest_year: int


@strawberry.input
class DatasetFilter:
    slugs: list[str] | None = None


@strawberry.input
class IndicatorFilter:
    goals: list[str] | None = None
    targets: list[str] | None = None
    codes: list[str] | None = None
    search: str | None = strawberry.field(default=None, description="Words in the title.")


@strawberry.input(description="Narrows cells; each list means any of these codes.")
class ObservationFilter:
    datasets: list[str] | None = None
    goals: list[str] | None = None
    targets: list[str] | None = None
    indicators: list[str] | None = None
    series: list[str] | None = None
    ref_areas: list[str] | None = None
    sub_areas: list[str] | None = None
    period_from: int | None = strawberry.field(default=None, description="Earliest year.")
    period_to: int | None = strawberry.field(default=None, description="Latest year.")
    sex: list[str] | None = None
    age: list[str] | None = None
    disability_status: list[str] | None = None
    urbanisation: list[str] | None = None
    income_wealth_quantile: list[str] | None = None
    groups: list[str] | None = None
    units: list[str] | None = None
