"""A page's released cells are answered as they are: every `Observation` field names one of a
`ReleasedCell`'s attributes, and no type on the way checks the class of what it is given."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest
from graphql import GraphQLEnumType
from strawberry.types.base import get_object_definition

from schema.node import build_node_schema
from schema.node_types import CellEdge, ObservationEdge, ObservationType, cell_edges
from service.node.disclosure import Reason
from service.node.observations import ReleasedCell, decode_cursor, encode_cursor


def cell(**changes: Any) -> ReleasedCell:
    base = ReleasedCell(
        id=41, dataset="survey", organisation="Org", indicator="1.1.1", series="SI_POV",
        ref_area="KEN", sub_area="_T", time_period="2024", sex="F", age="_T",
        disability_status="_T", urbanisation="_T", income_wealth_quantile="_T", group="_T",
        unit="PERCENT", value=None, n=None, numerator=None, lower=None, upper=None,
        obs_status="A", note=None, suppression=Reason.BELOW_THRESHOLD,
    )  # fmt: skip
    return base._replace(**changes)


@pytest.mark.parametrize("strawberry_type", [ObservationType, ObservationEdge])
def test_every_field_reads_an_attribute_of_what_the_resolver_hands_over(
    strawberry_type: type,
) -> None:
    source = cell() if strawberry_type is ObservationType else CellEdge(cell())
    definition = get_object_definition(strawberry_type, strict=True)
    for field in definition.fields:
        assert field.base_resolver is None, field.python_name
        assert hasattr(source, field.python_name), field.python_name


def test_observation_fields_are_the_released_cell_less_nothing() -> None:
    definition = get_object_definition(ObservationType, strict=True)
    fields = {field.python_name for field in definition.fields}
    assert fields == {*ReleasedCell._fields, "suppressed"}
    assert not dataclasses.is_dataclass(ReleasedCell)


@pytest.mark.parametrize("name", ["Observation", "ObservationEdge", "ObservationConnection"])
def test_no_type_on_the_way_checks_the_class_of_its_object(name: str) -> None:
    graphql_type = build_node_schema()._schema.type_map[name]
    assert getattr(graphql_type, "is_type_of", None) is None


def test_an_edge_encodes_its_cursor_from_its_cell() -> None:
    edges = cell_edges([cell(id=7), cell(id=12_345)])
    assert [edge.cursor for edge in edges] == [encode_cursor(7), encode_cursor(12_345)]
    assert [decode_cursor(edge.cursor) for edge in edges] == [7, 12_345]
    assert [cast(object, edge.node) for edge in edges] == [cell(id=7), cell(id=12_345)]


def test_every_reason_is_a_schema_enum_value() -> None:
    schema = build_node_schema()._schema
    reason_type = cast(GraphQLEnumType, schema.type_map["SuppressionReason"])
    assert list(reason_type.values) == [reason.name for reason in Reason]
    for reason in Reason:
        assert reason_type.serialize(reason) == reason.name
