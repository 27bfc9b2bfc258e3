"""What nodes answer the coordinator: the questions it asks, and reading their answers.

Every answer is checked field by field: a node that sends something malformed gives an `ERROR`
source naming the field (`NodeBadAnswer`), never a wrong cell in the combined answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from federation.registry import RegisteredNode
from federation.transport import NodeBadAnswer

NODE_HEADER = "node { id schemaVersion dataVersion }"
DATA_VERSION_QUERY = f"query DataVersion {{ {NODE_HEADER} }}"
COVERAGE_QUERY = f"""query Coverage($filter: ObservationFilter) {{
  {NODE_HEADER}
  coverage(filter: $filter) {{
    dataset organisation indicator refArea subArea group breakdown
    cellCount firstYear latestYear valuesVisible
  }}
}}"""
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


class FederatedCoverage(NamedTuple):
    """One node's coverage cell, tagged with the node it came from.

    A named tuple rather than a frozen dataclass: as immutable (cells are cached and shared
    between answers), and several times cheaper to build, for thousands of cells per answer."""

    node_id: str
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


@dataclass(frozen=True, slots=True)
class NodeHeader:
    """Who answered and which schema and data version it answered from."""

    node_id: str
    schema_version: str
    data_version: str


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


_COVERAGE_TEXTS = ("organisation", "dataset", "indicator", "refArea", "subArea", "group")
_COVERAGE_WHOLES = ("cellCount", "firstYear", "latestYear")


def coverage_cell(node: RegisteredNode, raw: object) -> FederatedCoverage:
    """One coverage cell of a node's answer, every field checked.

    A stocktake over many nodes reads thousands of cells: a well-formed cell is checked in
    one expression, and only a malformed one is taken field by field to say what is wrong.
    """
    if type(raw) is dict:
        get = raw.get
        organisation, dataset, indicator = get("organisation"), get("dataset"), get("indicator")
        ref_area, sub_area, group = get("refArea"), get("subArea"), get("group")
        cell_count, first_year = get("cellCount"), get("firstYear")
        latest_year, visible, breakdown = get("latestYear"), get("valuesVisible"), get("breakdown")
        # JSON gives exact types: `type(...) is int` also refuses true and false.
        if (
            type(organisation) is str and type(dataset) is str and type(indicator) is str
            and type(ref_area) is str and type(sub_area) is str and type(group) is str
            and type(cell_count) is int and type(first_year) is int
            and type(latest_year) is int and type(visible) is bool
            and type(breakdown) is list and all(type(part) is str for part in breakdown)
        ):  # fmt: skip
            return FederatedCoverage(
                node.node_id, organisation, dataset, indicator, ref_area, sub_area, group,
                tuple(breakdown), cell_count, first_year, latest_year, visible,
            )  # fmt: skip
    raise _coverage_problem(raw)


def _coverage_problem(raw: object) -> NodeBadAnswer:
    if not isinstance(raw, dict):
        return NodeBadAnswer("malformed coverage cell")
    try:
        for key in _COVERAGE_TEXTS:
            read_text(raw, key)
        for key in _COVERAGE_WHOLES:
            read_whole(raw, key)
        read_flag(raw, "valuesVisible")
        breakdown = read_list(raw, "breakdown")
    except NodeBadAnswer as exc:
        return exc
    if not all(isinstance(part, str) for part in breakdown):
        return NodeBadAnswer("malformed answer: 'breakdown' holds something other than text")
    return NodeBadAnswer("malformed coverage cell")


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
