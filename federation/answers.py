"""What nodes answer the coordinator: the questions it asks, and reading their answers.

Every answer is checked field by field: a node that sends something malformed gives an `ERROR`
source naming the field (`NodeBadAnswer`), never a wrong cell in the combined answer.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec.structs import force_setattr

from federation.registry import RegisteredNode
from federation.transport import NodeBadAnswer
from service.node.coverage import organisation_coverage

NODE_HEADER = "node { id schemaVersion dataVersion }"
DATA_VERSION_QUERY = f"query DataVersion {{ {NODE_HEADER} }}"
COVERAGE_FIELDS = """coverage(filter: $filter) {
    dataset organisation indicator refArea subArea group breakdown
    cellCount firstYear latestYear valuesVisible
  }"""
SUMMARY_FIELDS = """coverageSummary(filter: $filter) {
    organisation datasets indicators countries groups cellCount firstYear latestYear
  }"""
COVERAGE_QUERY = f"""query Coverage($filter: ObservationFilter) {{
  {NODE_HEADER}
  {COVERAGE_FIELDS}
}}"""
# Nodes of schema 1.1 and later sum their coverage per organisation (`summarises`).
COVERAGE_SUMMARY_QUERY = f"""query CoverageSummary($filter: ObservationFilter) {{
  {NODE_HEADER}
  {SUMMARY_FIELDS}
}}"""
# A stocktake's entries need every coverage cell; its totals per organisation come from the
# node's own sums, asked in the same question (the node reads its coverage once for both).
STOCKTAKE_QUERY = f"""query Stocktake($filter: ObservationFilter) {{
  {NODE_HEADER}
  {COVERAGE_FIELDS}
  {SUMMARY_FIELDS}
}}"""
# Nodes of schema 1.2 and later send their coverage as a table (`tabulates`): each name and
# code once per answer, not once per cell.
TABLE_FIELDS = """coverageTable(filter: $filter) {
    size
    values { organisations datasets indicators refAreas subAreas groups breakdowns }
    columns {
      organisation dataset indicator refArea subArea group breakdown
      cellCount firstYear latestYear valuesVisible
    }
  }"""
COVERAGE_TABLE_QUERY = f"""query CoverageTable($filter: ObservationFilter) {{
  {NODE_HEADER}
  {TABLE_FIELDS}
}}"""
STOCKTAKE_TABLE_QUERY = f"""query StocktakeTable($filter: ObservationFilter) {{
  {NODE_HEADER}
  {TABLE_FIELDS}
  {SUMMARY_FIELDS}
}}"""
TABLES_SINCE = (1, 2)
SUMMARY_SINCE = (1, 1)
OBSERVATIONS_QUERY = f"""query Observations(
  $filter: ObservationFilter, $first: Int!, $after: String
) {{
  {NODE_HEADER}
  observations(filter: $filter, first: $first, after: $after) {{
    edges {{ node {{
      dataset organisation indicator series refArea subArea timePeriod sex age
      disabilityStatus urbanisation incomeWealthQuantile group unit value n
      suppressed suppressionReason
    }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}"""


class FederatedCoverage(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """One node's coverage cell, tagged with the node it came from (`node_id`).

    Read straight from the node's answer by msgspec, every field's type checked as it is decoded
    (a stocktake over fifty nodes reads thousands of cells); immutable, as cells are cached and
    shared between answers. `node_id` is not the node's to say: the fan-out sets it on each
    cell of the answer it received (`tag_cells`)."""

    organisation: str
    dataset: str
    indicator: str
    ref_area: str
    sub_area: str
    group: str
    breakdown: tuple[str, ...]
    cell_count: int
    first_year: int
    latest_year: int
    values_visible: bool
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class FederatedCell:
    """One node's observation, as the node released it to the caller."""

    node_id: str
    organisation: str
    dataset: str
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
    suppressed: bool
    suppression_reason: str | None


class NodeHeader(msgspec.Struct, frozen=True, rename="camel"):
    """Who answered and which schema and data version it answered from."""

    node_id: str = msgspec.field(name="id")
    schema_version: str
    data_version: str


class FederatedOrganisationCoverage(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """What one organisation holds at one node, summed (a node's `coverageSummary` row, or its
    coverage summed here for a node too old to sum it), tagged with the node (`tag_cells`)."""

    organisation: str
    datasets: tuple[str, ...]
    indicators: tuple[str, ...]
    countries: tuple[str, ...]
    groups: tuple[str, ...]
    cell_count: int
    first_year: int
    latest_year: int
    node_id: str = ""


class CoverageSummaryAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """The `data` of a node's answer to `COVERAGE_SUMMARY_QUERY`."""

    node: NodeHeader
    coverage_summary: list[FederatedOrganisationCoverage]


def summarises(schema_version: str) -> bool:
    """Whether a node of `schema_version` answers `coverageSummary`."""
    return _at_least(schema_version, SUMMARY_SINCE)


def tabulates(schema_version: str) -> bool:
    """Whether a node of `schema_version` answers `coverageTable`."""
    return _at_least(schema_version, TABLES_SINCE)


def _at_least(schema_version: str, since: tuple[int, int]) -> bool:
    try:
        major, minor = (int(part) for part in schema_version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= since


def summed_here(
    node_id: str, cells: Iterable[FederatedCoverage]
) -> list[FederatedOrganisationCoverage]:
    """A node's coverage summed per organisation as a node of schema 1.1 would sum it."""
    return [
        FederatedOrganisationCoverage(**dataclasses.asdict(o), node_id=node_id)
        for o in organisation_coverage(cells)
    ]


class CoverageAnswer(msgspec.Struct, frozen=True):
    """The `data` of a node's answer to `COVERAGE_QUERY`."""

    node: NodeHeader
    coverage: list[FederatedCoverage]


class StocktakeAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """The `data` of a node's answer to `STOCKTAKE_QUERY`."""

    node: NodeHeader
    coverage: list[FederatedCoverage]
    coverage_summary: list[FederatedOrganisationCoverage]


class CoverageValues(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """Each dimension's distinct values in a node's coverage table."""

    organisations: list[str]
    datasets: list[str]
    indicators: list[str]
    ref_areas: list[str]
    sub_areas: list[str]
    groups: list[str]
    breakdowns: list[tuple[str, ...]]


# A position in a list of values: never negative (Python would count it from the end).
Position = Annotated[int, msgspec.Meta(ge=0)]


class CoverageColumns(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """A node's coverage cells, a list per field; dimensions as positions in their values."""

    organisation: list[Position]
    dataset: list[Position]
    indicator: list[Position]
    ref_area: list[Position]
    sub_area: list[Position]
    group: list[Position]
    breakdown: list[Position]
    cell_count: list[int]
    first_year: list[int]
    latest_year: list[int]
    values_visible: list[bool]


class CoverageTable(msgspec.Struct, frozen=True, gc=False):
    """A node's `coverageTable`: its coverage cells keyed by position (`table_cells`)."""

    size: int
    values: CoverageValues
    columns: CoverageColumns


class CoverageTableAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """The `data` of a node's answer to `COVERAGE_TABLE_QUERY`."""

    node: NodeHeader
    coverage_table: CoverageTable


class StocktakeTableAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """The `data` of a node's answer to `STOCKTAKE_TABLE_QUERY`."""

    node: NodeHeader
    coverage_table: CoverageTable
    coverage_summary: list[FederatedOrganisationCoverage]


def table_cells(node_id: str, table: CoverageTable) -> list[FederatedCoverage]:
    """The cells of a node's coverage table, tagged with the node, as `coverage` would list
    them. Built a column at a time, in C: each name and code is one object shared by every
    cell that has it. `NodeBadAnswer` if a column's length is not the table's size or a
    position names no value."""
    columns, values, size = table.columns, table.values, table.size
    # Each dimension's column, as the schema names it, with the values it refers to.
    dimensions: tuple[tuple[str, list[int], str, Sequence[object]], ...] = (
        ("organisation", columns.organisation, "organisations", values.organisations),
        ("dataset", columns.dataset, "datasets", values.datasets),
        ("indicator", columns.indicator, "indicators", values.indicators),
        ("refArea", columns.ref_area, "refAreas", values.ref_areas),
        ("subArea", columns.sub_area, "subAreas", values.sub_areas),
        ("group", columns.group, "groups", values.groups),
        ("breakdown", columns.breakdown, "breakdowns", values.breakdowns),
    )
    counts: tuple[tuple[str, Sequence[object]], ...] = (
        ("cellCount", columns.cell_count),
        ("firstYear", columns.first_year),
        ("latestYear", columns.latest_year),
        ("valuesVisible", columns.values_visible),
    )
    for field, column in (*((field, column) for field, column, _, _ in dimensions), *counts):
        if len(column) != size:
            raise NodeBadAnswer(
                f"malformed answer: coverageTable.columns.{field} has {len(column)} items "
                f"for a table of {size}"
            )
    try:
        return list(
            map(
                FederatedCoverage,
                map(values.organisations.__getitem__, columns.organisation),
                map(values.datasets.__getitem__, columns.dataset),
                map(values.indicators.__getitem__, columns.indicator),
                map(values.ref_areas.__getitem__, columns.ref_area),
                map(values.sub_areas.__getitem__, columns.sub_area),
                map(values.groups.__getitem__, columns.group),
                map(values.breakdowns.__getitem__, columns.breakdown),
                columns.cell_count,
                columns.first_year,
                columns.latest_year,
                columns.values_visible,
                itertools.repeat(node_id, size),
            )
        )
    except IndexError:  # positions are never negative (`Position`): one is beyond its values
        for field, positions, named, known in dimensions:
            if max(positions, default=0) >= len(known):
                raise NodeBadAnswer(
                    f"malformed answer: coverageTable.columns.{field} holds a position outside "
                    f"values.{named} ({len(known)} values)"
                ) from None
        raise


@dataclass(frozen=True, slots=True)
class NodeStocktake:
    """What one node gave a stocktake: its coverage cells, and the same summed per
    organisation (by the node, or here for a node too old to sum), each tagged with the node."""

    cells: list[FederatedCoverage]
    sums: list[FederatedOrganisationCoverage]


Tagged = TypeVar("Tagged", FederatedCoverage, FederatedOrganisationCoverage)


def tag_cells(node_id: str, cells: list[Tagged]) -> list[Tagged]:
    """`cells`, each tagged with the node that sent them (in place, before anyone else sees
    them: `force_setattr` sets a field of a frozen struct)."""
    for cell in cells:
        force_setattr(cell, "node_id", node_id)
    return cells


def read_text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise NodeBadAnswer(f"malformed answer: {key!r} is not text")
    return value


def read_whole(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise NodeBadAnswer(f"malformed answer: {key!r} is not a whole number")
    return value


def read_flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise NodeBadAnswer(f"malformed answer: {key!r} is not true or false")
    return value


def read_list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise NodeBadAnswer(f"malformed answer: {key!r} is not a list")
    return value


def observation_cell(node: RegisteredNode, raw: object) -> FederatedCell:
    """One observation of a node's answer, checked field by field."""
    if not isinstance(raw, dict):
        raise NodeBadAnswer("malformed observation")
    value = raw.get("value")
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise NodeBadAnswer("malformed answer: 'value' is not a number")
    n = raw.get("n")
    reason = raw.get("suppressionReason")
    return FederatedCell(
        node_id=node.node_id,
        organisation=read_text(raw, "organisation"),
        dataset=read_text(raw, "dataset"),
        indicator=read_text(raw, "indicator"),
        series=read_text(raw, "series"),
        ref_area=read_text(raw, "refArea"),
        sub_area=read_text(raw, "subArea"),
        time_period=read_text(raw, "timePeriod"),
        sex=read_text(raw, "sex"),
        age=read_text(raw, "age"),
        disability_status=read_text(raw, "disabilityStatus"),
        urbanisation=read_text(raw, "urbanisation"),
        income_wealth_quantile=read_text(raw, "incomeWealthQuantile"),
        group=read_text(raw, "group"),
        unit=read_text(raw, "unit"),
        value=None if value is None else float(value),
        n=None if n is None else read_whole(raw, "n"),
        suppressed=read_flag(raw, "suppressed"),
        suppression_reason=None if reason is None else read_text(raw, "suppressionReason"),
    )
