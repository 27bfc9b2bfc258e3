"""A stocktake's answer: totals counted from the coverage equal totals of the merged entries,
and the entries are merged only when asked for."""

from __future__ import annotations

import orjson
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple
from sqlalchemy.orm import Session, sessionmaker

from federation.answers import FederatedCoverage
from federation.stocktake import (
    Stocktake,
    StocktakeEntry,
    StocktakeQuery,
    merge_coverage,
    take_stock,
)
from schema.coordinator import Query, build_coordinator_schema
from schema.coordinator_context import CoordinatorContext
from schema.coordinator_types import StocktakeEntryType, StocktakeType
from schema.execution import answered_as_json
from service.http_errors import JsonText, encode_json
from service.reference import load_reference
from tests.federation.conftest import (
    RunningNode,
    coordinator_settings,
    federation_over,
    register_url,
    summarise,
)

REFERENCE = load_reference()

CELLS = st.builds(
    FederatedCoverage,
    node_id=st.sampled_from(["north", "south", "east"]),
    organisation=st.sampled_from(["Alpha", "alpha", "Beta", "Gamma"]),
    dataset=st.sampled_from(["survey", "scorecard"]),
    indicator=st.sampled_from(["1.2.1", "1.2.10", "1.2.9", "3.8.1", "10.3.1", "ICSO-42"]),
    ref_area=st.sampled_from(["BGD", "KEN", "NPL"]),
    sub_area=st.sampled_from(["", "BD-10"]),
    group=st.sampled_from(["_T", "PWD", "YOUTH"]),
    breakdown=st.sampled_from([(), ("SEX",), ("SEX", "AGE")]),
    cell_count=st.integers(1, 500),
    first_year=st.integers(2000, 2010),
    latest_year=st.integers(2010, 2025),
    values_visible=st.booleans(),
)
WANTED = st.lists(st.sampled_from(["ALPHA", "beta", "Delta"]), max_size=2)


@settings(max_examples=200)
@given(st.lists(CELLS, max_size=40), WANTED)
def test_totals_from_the_coverage_equal_totals_of_the_entries(
    cells: list[FederatedCoverage], wanted: list[str]
) -> None:
    answer = Stocktake(cells, REFERENCE, organisations=wanted)
    entries = merge_coverage(cells, REFERENCE, organisations=wanted)
    assert answer.organisations == summarise(entries)
    assert answer.entries == entries
    assert sum(e.cell_count for e in entries) == sum(
        c.cell_count
        for c in cells
        if not wanted or c.organisation.casefold() in {w.casefold() for w in wanted}
    )


def test_entries_follow_the_natural_order_of_indicator_codes() -> None:
    codes = ["1.2.10", "10.3.1", "1.2.9", "1.2.1", "3.8.1"]
    cells = [
        FederatedCoverage("Alpha", "survey", code, "KEN", "", "_T", (), 1, 2020, 2021, True, "n")
        for code in codes
    ]
    assert [e.indicator for e in merge_coverage(cells, REFERENCE)] == [
        "1.2.1", "1.2.9", "1.2.10", "3.8.1", "10.3.1",
    ]  # fmt: skip


def test_an_entry_has_every_field_of_its_graphql_type_under_the_same_name() -> None:
    definition = StocktakeEntryType.__strawberry_definition__  # type: ignore[attr-defined]
    names = {field.python_name for field in definition.fields}
    assert names == set(StocktakeEntry.__struct_fields__)
    assert all(field.base_resolver is None for field in definition.fields)


def test_a_summary_never_merges_the_entries() -> None:
    key = ("Alpha", "survey", "3.8.1", "KEN", "", "_T", ())
    cells = [
        FederatedCoverage(*key, cell_count=4, first_year=2020, latest_year=2022,
                          values_visible=True, node_id="n"),
        FederatedCoverage(*key, cell_count=6, first_year=2018, latest_year=2021,
                          values_visible=True, node_id="s"),
    ]  # fmt: skip
    answer = Stocktake(cells, REFERENCE)
    assert [o.cell_count for o in answer.organisations] == [10]
    assert "entries" not in vars(answer)  # not merged for the totals
    entries = StocktakeType(organisations=[], sources=[], answer=answer).entries()
    assert [astuple(entry) for entry in entries] == [
        ("Alpha", "survey", "3.8.1", "3.8", "3", "KEN", "Kenya", "", "_T", (), 10, 2018, 2022,
         True, ("n", "s")),
    ]  # fmt: skip
    assert "entries" in vars(answer)


STOCKTAKE = """query($filter: StocktakeFilter) { stocktake(filter: $filter) {
  entries { organisation dataset indicator target goal country countryName subArea group
            disaggregations cellCount firstYear latestYear valuesVisible nodes }
  organisations { organisation cellCount }
  sources { nodeId status } } }"""


async def test_both_execution_paths_answer_the_entries_alike(
    database_url: str, sessions: sessionmaker[Session], demo_nodes: list[RunningNode]
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    answers = []
    async with federation_over(sessions) as federation:
        context = CoordinatorContext(
            federation=federation,
            authorization=None,
            settings=coordinator_settings(database_url),
            sessions=sessions,
            reference=REFERENCE,
        )
        direct = await take_stock(
            federation, StocktakeQuery(countries=("BGD",)), REFERENCE, authorization=None
        )
        for schema in (strawberry.Schema(query=Query), build_coordinator_schema()):
            result = await schema.execute(
                STOCKTAKE, variable_values={"filter": {"countries": ["BGD"]}}, context_value=context
            )
            assert result.errors is None
            assert result.data is not None
            answers.append(result.data["stocktake"])
        with answered_as_json():  # as the HTTP endpoint executes it: entries as JSON text
            result = await build_coordinator_schema().execute(
                STOCKTAKE, variable_values={"filter": {"countries": ["BGD"]}}, context_value=context
            )
        assert result.data is not None
        assert isinstance(result.data["stocktake"]["entries"], JsonText)
        answers.append(orjson.loads(encode_json(result.data))["stocktake"])
    stock, fast, as_json = answers
    assert fast == stock
    assert as_json == stock
    assert [
        (e["organisation"], e["dataset"], e["indicator"], e["target"], e["goal"], e["country"],
         e["countryName"], e["subArea"], e["group"], tuple(e["disaggregations"]), e["cellCount"],
         e["firstYear"], e["latestYear"], e["valuesVisible"], tuple(e["nodes"]))
        for e in stock["entries"]
    ] == [astuple(entry) for entry in direct.entries]  # fmt: skip
    assert len(stock["entries"]) > 10
    assert sum(o["cellCount"] for o in stock["organisations"]) == sum(
        e.cell_count for e in direct.entries
    )
