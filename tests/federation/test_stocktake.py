"""The stocktake: coverage from every node merged by organisation, filtered, and as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from federation.fanout import COVERAGE_QUERY, FederatedCoverage
from federation.stocktake import (
    CSV_COLUMNS,
    StocktakeEntry,
    StocktakeQuery,
    csv_lines,
    merge_coverage,
    take_stock,
)
from service.errors import BadRequest
from service.reference import Reference, load_reference
from tests.federation.conftest import (
    RunningNode,
    federation_over,
    register_identity,
    register_url,
    standin_identity,
    summarise,
    unused_port_url,
)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def cell(
    node: str, organisation: str, indicator: str, *, dataset: str = "survey", area: str = "KEN",
    group: str = "_T", breakdown: tuple[str, ...] = (), cells: int = 4,
    years: tuple[int, int] = (2020, 2022), visible: bool = True,
) -> FederatedCoverage:  # fmt: skip
    return FederatedCoverage(
        node_id=node, organisation=organisation, dataset=dataset, indicator=indicator,
        ref_area=area, sub_area="", group=group, breakdown=breakdown, cell_count=cells,
        first_year=years[0], latest_year=years[1], values_visible=visible,
    )  # fmt: skip


def test_coverage_is_merged_by_organisation(reference: Reference) -> None:
    cells = [
        cell("north", "Alpha", "10.3.1", cells=3),
        cell("north", "Alpha", "3.8.1"),
        # The same organisation's dataset on a second node is counted with the first.
        cell("south", "Alpha", "10.3.1", cells=5, years=(2018, 2021), visible=False),
        cell("south", "beta", "3.8.1", area="BGD", group="PWD", breakdown=("SEX", "AGE")),
        cell("south", "Gamma", "ICSO-42", area="NPL"),
    ]
    entries = merge_coverage(cells, reference)

    assert [(e.organisation, e.indicator) for e in entries] == [
        ("Alpha", "3.8.1"), ("Alpha", "10.3.1"), ("beta", "3.8.1"), ("Gamma", "ICSO-42"),
    ]  # fmt: skip
    merged = entries[1]
    assert (merged.cell_count, merged.first_year, merged.latest_year) == (8, 2018, 2022)
    assert merged.nodes == ("north", "south")
    assert merged.values_visible is False
    assert (merged.target, merged.goal, merged.country_name) == ("10.3", "10", "Kenya")
    beta = entries[2]
    assert beta.disaggregations == ("SEX", "AGE")
    assert (beta.target, beta.goal) == ("3.8", "3")
    assert (entries[3].target, entries[3].goal) == (None, None)

    summary = {s.organisation: s for s in summarise(entries)}
    assert summary["Alpha"].nodes == ("north", "south")
    assert (summary["Alpha"].indicators, summary["Alpha"].cell_count) == (2, 12)
    assert summary["beta"].groups == ("PWD",)

    only = merge_coverage(cells, reference, organisations=["ALPHA", "gamma"])
    assert {e.organisation for e in only} == {"Alpha", "Gamma"}


def merged_as_stated(cells: list[FederatedCoverage], reference: Reference) -> list[StocktakeEntry]:
    """The merge as its rule states it, one cell at a time: one entry per organisation, dataset,
    indicator, area, sub-area, group and breakdown; cells added up; ordered by organisation
    (case-blind), indicator (1.2.10 after 1.2.9), area, sub-area, group, dataset, breakdown,
    and otherwise as first reported."""
    parts: dict[tuple[object, ...], list[FederatedCoverage]] = {}
    for c in cells:
        key = (c.organisation, c.dataset, c.indicator, c.ref_area, c.sub_area, c.group, c.breakdown)
        parts.setdefault(key, []).append(c)

    def natural(code: str) -> list[tuple[int, str]]:
        return [(int(part), "") if part.isdigit() else (0, part) for part in code.split(".")]

    def order(item: tuple[tuple[object, ...], list[FederatedCoverage]]) -> tuple[object, ...]:
        first = item[1][0]
        return (
            first.organisation.casefold(), natural(first.indicator), first.ref_area,
            first.sub_area, first.group, first.dataset, first.breakdown,
        )  # fmt: skip

    entries = []
    for _key, group in sorted(parts.items(), key=order):
        first = group[0]
        known = reference.indicator(first.indicator)
        entries.append(
            StocktakeEntry(
                organisation=first.organisation, dataset=first.dataset,
                indicator=first.indicator, target=known.target if known else None,
                goal=known.goal if known else None, country=first.ref_area,
                country_name=reference.country_name(first.ref_area), sub_area=first.sub_area,
                group=first.group, disaggregations=first.breakdown,
                cell_count=sum(c.cell_count for c in group),
                first_year=min(c.first_year for c in group),
                latest_year=max(c.latest_year for c in group),
                values_visible=all(c.values_visible for c in group),
                nodes=tuple(sorted({c.node_id for c in group})),
            )
        )  # fmt: skip
    return entries


# Few distinct values, so that entries are often reported twice and organisations differ only
# in case; codes that sort differently as text and naturally, and one no framework knows.
generated_cells = st.builds(
    FederatedCoverage,
    organisation=st.sampled_from(
        ["Alpha", "alpha", "ALPHA", "Beta", "Straße", "STRASSE", "Strasse"]
    ),
    dataset=st.sampled_from(["survey", "panel"]),
    indicator=st.sampled_from(["1.2.9", "1.2.10", "1.02.9", "10.3.1", "3.8.1", "ICSO-42"]),
    ref_area=st.sampled_from(["KEN", "BGD", "XXX"]),
    sub_area=st.sampled_from(["", "KE-01"]),
    group=st.sampled_from(["_T", "PWD"]),
    breakdown=st.sampled_from([(), ("SEX",), ("SEX", "AGE"), ("AGE", "SEX")]),
    cell_count=st.integers(0, 1000),
    first_year=st.integers(1990, 2000),
    latest_year=st.integers(2000, 2030),
    values_visible=st.booleans(),
    node_id=st.sampled_from(["north", "south", "east"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(generated_cells, max_size=60))
def test_the_merge_is_its_rule(cells: list[FederatedCoverage]) -> None:
    reference = load_reference()
    assert merge_coverage(cells, reference) == merged_as_stated(cells, reference)


def test_the_csv_has_one_line_per_entry_and_never_starts_a_formula(reference: Reference) -> None:
    entries = merge_coverage(
        [cell("n", "=HYPERLINK(\"x\")", "1.1.1", breakdown=("SEX", "AGE")),
         cell("n", "Plain, with comma", "1.1.1")],
        reference,
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO("".join(csv_lines(entries)))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    by_org = {row[0]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert '\'=HYPERLINK("x")' in by_org
    assert by_org["Plain, with comma"]["cell_count"] == "4"
    assert by_org['\'=HYPERLINK("x")']["disaggregations"] == "SEX+AGE"


def test_url_parameters_make_the_same_question_as_the_graphql_filter() -> None:
    params = {
        "goal": ["1"], "indicator": ["3.8.1,1.2.1"], "country": ["bgd", "NPL"],
        "group": ["PWD"], "from": ["2018"], "to": ["2024"],
    }  # fmt: skip
    query = StocktakeQuery.from_params(lambda name: params.get(name, []))
    assert query == StocktakeQuery(
        goals=("1",), indicators=("3.8.1", "1.2.1"), countries=("bgd", "NPL"),
        groups=("PWD",), period_from=2018, period_to=2024,
    )  # fmt: skip
    assert query.node_filter() == {
        "goals": ["1"], "indicators": ["3.8.1", "1.2.1"], "refAreas": ["BGD", "NPL"],
        "groups": ["PWD"], "periodFrom": 2018, "periodTo": 2024,
    }  # fmt: skip
    assert StocktakeQuery().node_filter() == {}
    with pytest.raises(BadRequest, match="`from` must be a year"):
        StocktakeQuery.from_params(lambda name: ["last year"] if name == "from" else [])


def direct_entries(node: RunningNode, node_filter: dict[str, object]) -> set[tuple[object, ...]]:
    data = node.ask(COVERAGE_QUERY, {"filter": node_filter or None})
    return {
        (c["organisation"], c["dataset"], c["indicator"], c["refArea"], c["subArea"],
         c["group"], tuple(c["breakdown"]), c["cellCount"], c["firstYear"], c["latestYear"],
         c["valuesVisible"], (node.node_id,))
        for c in data["coverage"]
    }  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        StocktakeQuery(),
        StocktakeQuery(countries=("BGD",)),
        StocktakeQuery(goals=("1",), period_from=2020),
        StocktakeQuery(groups=("PWD", "_T"), countries=("KEN", "NPL")),
        StocktakeQuery(indicators=("16.1.3",)),
    ],
    ids=["everything", "country", "goal-and-period", "groups-and-countries", "indicator"],
)
async def test_the_stocktake_is_the_union_of_what_each_node_says(
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    reference: Reference,
    query: StocktakeQuery,
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    register_identity(sessions, unused_port_url(), standin_identity("gone"))
    async with federation_over(sessions) as federation:
        result = await take_stock(federation, query, reference, authorization=None)

    expected = set().union(*(direct_entries(n, query.node_filter()) for n in demo_nodes))
    got = {
        (e.organisation, e.dataset, e.indicator, e.country, e.sub_area, e.group,
         e.disaggregations, e.cell_count, e.first_year, e.latest_year, e.values_visible,
         e.nodes)
        for e in result.entries
    }  # fmt: skip
    assert got == expected
    assert len(result.entries) == len(expected)
    assert {s.node_id: s.status for s in result.sources} == {
        "riverbend": "OK", "lantern": "OK", "gone": "UNREACHABLE",
    }  # fmt: skip
    assert sum(o.cell_count for o in result.organisations) == sum(
        e.cell_count for e in result.entries
    )
