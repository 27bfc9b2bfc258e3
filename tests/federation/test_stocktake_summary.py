"""A node sums its coverage per organisation at the caller's level (`coverageSummary`)."""

from __future__ import annotations

from typing import Any

import pytest

from federation.answers import COVERAGE_QUERY, COVERAGE_SUMMARY_QUERY, summarises
from schema.node import NODE_SCHEMA_VERSION
from service.node.coverage import organisation_coverage
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
)


class Row:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.organisation, self.dataset, self.indicator = (
            raw["organisation"], raw["dataset"], raw["indicator"],
        )  # fmt: skip
        self.ref_area, self.group, self.cell_count = raw["refArea"], raw["group"], raw["cellCount"]
        self.first_year, self.latest_year = raw["firstYear"], raw["latestYear"]


def summed(o: Any) -> dict[str, Any]:
    return {
        "organisation": o.organisation,
        "datasets": list(o.datasets),
        "indicators": list(o.indicators),
        "countries": list(o.countries),
        "groups": list(o.groups),
        "cellCount": o.cell_count,
        "firstYear": o.first_year,
        "latestYear": o.latest_year,
    }


@pytest.mark.parametrize("authorization", [None, OWNER_TOKEN], ids=["public", "owner"])
def test_a_nodes_sums_are_its_coverage_summed_at_the_callers_level(
    demo_nodes: list[RunningNode], authorization: str | None
) -> None:
    for node in demo_nodes:
        for variables in ({}, {"filter": {"refAreas": ["BGD"]}}):
            cells = node.ask(COVERAGE_QUERY, variables, authorization)["coverage"]
            sums = node.ask(COVERAGE_SUMMARY_QUERY, variables, authorization)["coverageSummary"]
            expected = [summed(o) for o in organisation_coverage(Row(cell) for cell in cells)]
            assert sums == expected
            assert cells  # something to sum at every level


def test_nodes_of_this_version_sum_their_coverage() -> None:
    assert summarises(NODE_SCHEMA_VERSION)
    assert not summarises("1.0") and not summarises("0.9") and not summarises("garbled")
    assert summarises("1.12") and summarises("2.0")
