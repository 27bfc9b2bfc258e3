"""Compare and pool: figures side by side, pooled against hand-computed expectations."""

from __future__ import annotations

import pytest

from auth.levels import Level
from federation.compare import (
    SAME_PEOPLE_WARNING,
    Comparison,
    NodeRule,
    PooledFigure,
    compare,
    observation_filter,
    parse_breakdown,
    pooling_threshold,
)
from federation.fanout import FederatedCell
from service.errors import BadRequest
from service.reference import Reference, load_reference


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def cell(
    organisation: str,
    value: float | None,
    n: int | None = None,
    *,
    unit: str = "NUMBER",
    series: str = "",
    period: str = "2024",
    sex: str = "F",
    group: str = "_T",
    reason: str | None = None,
    indicator: str = "1.3.1",
    ref_area: str = "KEN",
    sub_area: str = "",
    dataset: str = "survey",
) -> FederatedCell:
    return FederatedCell(
        node_id=organisation.lower(),
        organisation=organisation,
        dataset=dataset,
        indicator=indicator,
        series=series,
        ref_area=ref_area,
        sub_area=sub_area,
        time_period=period,
        sex=sex,
        age="_T",
        disability_status="_T",
        urbanisation="_T",
        income_wealth_quantile="_T",
        group=group,
        unit=unit,
        value=None if reason else value,
        n=None if reason else n,
        suppressed=reason is not None,
        suppression_reason=reason,
    )


def rule(
    node: str, threshold: int = 10, rounding: int = 5, level: Level = Level.PUBLIC
) -> NodeRule:
    return NodeRule(node, level, threshold, rounding)


RULES = {name: rule(name) for name in ("alpha", "beta", "gamma")}


def run(reference: Reference, cells: list[FederatedCell], **options: object) -> Comparison:
    arguments: dict[str, object] = {"breakdown": ["SEX=F"], "period": "2024", "rules": RULES}
    arguments.update(options)
    return compare(cells, reference, indicator="1.3.1", ref_area="KEN", **arguments)  # type: ignore[arg-type]


def only_pool(comparison: Comparison) -> PooledFigure:
    assert not comparison.not_pooled, comparison.not_pooled
    (pooled,) = comparison.pooled
    return pooled


def test_counts_are_summed(reference: Reference) -> None:
    comparison = run(reference, [cell("Alpha", 120, 120), cell("Beta", 35, 35)])
    pooled = only_pool(comparison)
    assert (pooled.value, pooled.low, pooled.high, pooled.n) == (155, 155, 155, 155)
    assert pooled.method == "sum of counts"
    assert pooled.organisations == ("Alpha", "Beta")
    assert not pooled.suppressed
    assert [c.organisation for c in comparison.contributions] == ["Alpha", "Beta"]
    assert SAME_PEOPLE_WARNING in comparison.warnings


def test_percentages_are_weighted_by_their_bases(reference: Reference) -> None:
    cells = [
        cell("Alpha", 40.0, 200, unit="PERCENT"),
        cell("Beta", 10.0, 100, unit="PERCENT"),
        cell("Gamma", 25.0, 100, unit="PERCENT"),
    ]
    pooled = only_pool(run(reference, cells))
    # (40*200 + 10*100 + 25*100) / 400 = 11500 / 400
    assert pooled.value == pytest.approx(28.75)
    assert pooled.low == pooled.high == pooled.value
    assert pooled.n == 400
    assert pooled.method == "n-weighted mean of percentages"


def test_a_percentage_without_its_base_is_not_pooled(reference: Reference) -> None:
    cells = [cell("Alpha", 40.0, 200, unit="PERCENT"), cell("Beta", 10.0, None, unit="PERCENT")]
    comparison = run(reference, cells)
    assert comparison.pooled == ()
    assert (
        "needs the base n of every contribution; Beta give none" in comparison.not_pooled[0].reason
    )


def test_a_count_below_threshold_makes_a_bounded_range(reference: Reference) -> None:
    cells = [cell("Alpha", 100, 100), cell("Beta", None, reason="BELOW_THRESHOLD")]
    pooled = only_pool(run(reference, cells))
    # Beta's count is at most k-1 = 9 under its published threshold of 10.
    assert (pooled.value, pooled.low, pooled.high) == (None, 100, 109)
    assert pooled.n is None
    assert any(
        "Beta's cell is suppressed (BELOW_THRESHOLD): counted as 0 to 9" in note
        for note in pooled.notes
    )


def test_each_node_bounds_by_its_own_threshold(reference: Reference) -> None:
    cells = [
        cell("Alpha", 100, 100),
        cell("Beta", None, reason="BELOW_THRESHOLD"),
        cell("Gamma", None, reason="BELOW_THRESHOLD"),
    ]
    rules = {**RULES, "gamma": rule("gamma", threshold=20)}
    pooled = only_pool(run(reference, cells, rules=rules))
    assert (pooled.low, pooled.high) == (100, 100 + 9 + 19)
    assert pooled.threshold == 20  # the strictest node's threshold


def test_a_complementary_suppression_has_no_upper_bound(reference: Reference) -> None:
    cells = [cell("Alpha", 100, 100), cell("Beta", None, reason="COMPLEMENTARY")]
    pooled = only_pool(run(reference, cells))
    assert (pooled.value, pooled.low, pooled.high) == (None, 100, None)
    assert any("size is unknown: no upper bound" in note for note in pooled.notes)


def test_a_released_table_total_bounds_a_complementary_suppression(reference: Reference) -> None:
    cells = [
        cell("Alpha", 100, 100),
        cell("Beta", None, reason="COMPLEMENTARY"),
        cell("Beta", 40, 40, sex="_T"),  # Beta's total over sex: a part is no larger
        cell("Beta", None, sex="M", reason="BELOW_THRESHOLD"),
    ]
    pooled = only_pool(run(reference, cells))
    # 40 as rounded to base 5 may stand for up to 42.5.
    assert (pooled.low, pooled.high) == (100, 142.5)
    assert len(run(reference, cells).contributions) == 2  # the totals only bound


@pytest.mark.parametrize("reason", ["UNKNOWN_BASE", "BELOW_THRESHOLD", "COMPLEMENTARY"])
def test_a_node_without_a_published_rule_gives_no_bound(reference: Reference, reason: str) -> None:
    cells = [cell("Alpha", 100, 100), cell("Beta", None, reason=reason)]
    rules = {"alpha": RULES["alpha"]}
    pooled = only_pool(run(reference, cells, rules=rules))
    assert (pooled.low, pooled.high) == (100, None)


def test_unknown_base_count_has_no_upper_bound(reference: Reference) -> None:
    cells = [cell("Alpha", 100, 100), cell("Beta", None, reason="UNKNOWN_BASE")]
    assert only_pool(run(reference, cells)).high is None


def test_a_suppressed_percentage_below_threshold_bounds_the_mean(reference: Reference) -> None:
    cells = [
        cell("Alpha", 40.0, 200, unit="PERCENT"),
        cell("Beta", None, unit="PERCENT", reason="BELOW_THRESHOLD"),
    ]
    pooled = only_pool(run(reference, cells))
    # Beta: base at most 9, value 0..100. Low: 8000 / 209; high: (8000 + 900) / 209.
    assert pooled.value is None
    assert pooled.low == pytest.approx(8000 / 209)
    assert pooled.high == pytest.approx(8900 / 209)


def test_a_percentage_suppressed_otherwise_is_not_pooled(reference: Reference) -> None:
    cells = [
        cell("Alpha", 40.0, 200, unit="PERCENT"),
        cell("Beta", None, unit="PERCENT", reason="COMPLEMENTARY"),
    ]
    comparison = run(reference, cells)
    assert comparison.pooled == ()
    assert "could be anything from 0 to 100" in comparison.not_pooled[0].reason


def test_a_pooled_cell_below_the_threshold_is_suppressed(reference: Reference) -> None:
    # The caller owns both datasets (k=1) but is public at a third node (k=10): the pooled
    # cell must pass the strictest threshold.
    rules = {
        "alpha": rule("alpha", 1, 1, Level.OWNER),
        "beta": rule("beta", 1, 1, Level.OWNER),
        "gamma": rule("gamma", 10, 5, Level.PUBLIC),
    }
    cells = [cell("Alpha", 20.0, 3, unit="PERCENT"), cell("Beta", 50.0, 4, unit="PERCENT")]
    pooled = only_pool(run(reference, cells, rules=rules))
    assert pooled.threshold == 10
    assert pooled.suppressed and pooled.suppression_reason == "BELOW_THRESHOLD"
    assert (pooled.value, pooled.low, pooled.high, pooled.n) == (None, None, None, None)
    counts = [cell("Alpha", 3, 3), cell("Beta", 4, 4)]
    assert only_pool(run(reference, counts, rules=rules)).suppressed
    # Owner of both, asked by nobody else: the owner's threshold of 1 applies.
    owner = {name: rules[name] for name in ("alpha", "beta")}
    assert only_pool(run(reference, counts, rules=owner)).value == 7


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (
            [cell("Alpha", 40.0, 200, unit="PERCENT"), cell("Beta", 35, 35)],
            "units differ (Alpha: PERCENT, Beta: NUMBER)",
        ),
        (
            [
                cell("Alpha", 10, 10, series="SI_COV_SOCAST"),
                cell("Beta", 35, 35, series="SI_COV_DISAB"),
            ],
            "definitions differ: series Alpha: SI_COV_SOCAST, Beta: SI_COV_DISAB",
        ),
        (
            [cell("Alpha", 10, 10, series="SI_COV_SOCAST"), cell("Beta", 35, 35)],
            "definitions differ: series Alpha: SI_COV_SOCAST, Beta: (none)",
        ),
        (
            [cell("Alpha", 2.5, 100, unit="RATE"), cell("Beta", 3.1, 100, unit="RATE")],
            "RATE values are not pooled",
        ),
        ([cell("Alpha", 100, 100)], "only one contribution"),
    ],
)
def test_what_disagrees_is_not_pooled_and_says_why(
    reference: Reference, cells: list[FederatedCell], reason: str
) -> None:
    comparison = run(reference, cells)
    assert comparison.pooled == ()
    assert reason in comparison.not_pooled[0].reason
    assert len(comparison.contributions) == len(cells)  # still side by side
    assert SAME_PEOPLE_WARNING in comparison.warnings


def test_equal_series_pool(reference: Reference) -> None:
    cells = [
        cell("Alpha", 10, 10, series="SI_COV_SOCAST"),
        cell("Beta", 35, 35, series="SI_COV_SOCAST"),
    ]
    pooled = only_pool(run(reference, cells))
    assert (pooled.series, pooled.value) == ("SI_COV_SOCAST", 45)


def test_the_question_picks_the_cells(reference: Reference) -> None:
    cells = [
        cell("Alpha", 100, 100),
        cell("Alpha", 90, 90, sex="M"),  # another breakdown
        cell("Alpha", 80, 80, sex="_T", group="PWD"),  # another group
        cell("Beta", 50, 50, period="2023"),
        cell("Beta", 60, 60),
        cell("Beta", 5, 5, sub_area="KE-30"),  # sub-national
        cell("Beta", 70, 70, ref_area="UGA"),
        cell("Gamma", 15, 15, indicator="13.1.1"),  # another indicator
    ]
    comparison = run(reference, cells)
    assert [(c.organisation, c.value) for c in comparison.contributions] == [
        ("Alpha", 100),
        ("Beta", 60),
    ]
    assert only_pool(comparison).value == 160
    assert "1 sub-national cells are left out: only national figures" in comparison.warnings
    every_period = run(reference, cells, period=None)
    assert [p.time_period for p in every_period.pooled] == ["2024"]
    assert [(n.time_period, n.reason) for n in every_period.not_pooled] == [
        ("2023", "only one contribution: nothing to pool")
    ]
    pwd = run(reference, cells, breakdown=["group=PWD"])
    assert [(c.organisation, c.value) for c in pwd.contributions] == [("Alpha", 80)]
    assert pwd.breakdown == (("GROUP", "PWD"),)


def test_repeated_indicators_compare_together(reference: Reference) -> None:
    cells = [cell("Alpha", 10, 10, indicator="1.5.1"), cell("Beta", 20, 20, indicator="13.1.1")]
    comparison = compare(
        cells, reference, indicator="11.5.1", ref_area="KEN", breakdown=["SEX=F"], rules=RULES
    )
    assert only_pool(comparison).value == 30


def test_nothing_found_is_said(reference: Reference) -> None:
    comparison = run(reference, [])
    assert comparison.contributions == () and comparison.pooled == ()
    assert "no organisation released or reported a national cell" in comparison.warnings[-1]


@pytest.mark.parametrize("item", ["SEX", "SEX=", "ETHNICITY=X", "=F"])
def test_a_malformed_breakdown_is_refused(item: str) -> None:
    with pytest.raises(BadRequest, match="expected DIMENSION=CODE"):
        parse_breakdown([item])


def test_an_unknown_indicator_is_refused(reference: Reference) -> None:
    with pytest.raises(BadRequest, match="unknown indicator"):
        compare([], reference, indicator="1.3.9", ref_area="KEN")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], 10),  # nobody published a rule: the public minimum
        ([rule("a", 5, 1, Level.COALITION)], 5),
        ([rule("a", 5, 1, Level.COALITION), rule("b", 1, 1, Level.OWNER)], 5),
        ([rule("a", 1, 1, Level.OWNER)], 1),
        ([rule("a", 1, 1, Level.OWNER), rule("b", 12, 5, Level.GOVERNMENT)], 12),
        ([rule("a", 1, 1, Level.OWNER), rule("b", 10, 5, Level.PUBLIC)], 10),
    ],
)
def test_the_pooling_threshold(rules: list[NodeRule], expected: int) -> None:
    assert pooling_threshold(rules) == expected


def test_the_filter_a_comparison_fetches_with(reference: Reference) -> None:
    assert observation_filter(
        reference, indicator="13.1.1", ref_area="KEN", period="2019/2021"
    ) == {
        "indicators": ["1.5.1", "11.5.1", "13.1.1"],
        "refAreas": ["KEN"],
        "periodFrom": 2019,
        "periodTo": 2021,
    }
    assert observation_filter(reference, indicator="1.3.1", ref_area="BGD", period=None) == {
        "indicators": ["1.3.1"],
        "refAreas": ["BGD"],
    }
    with pytest.raises(BadRequest, match="unknown country 'Kenya'"):
        observation_filter(reference, indicator="1.3.1", ref_area="Kenya", period=None)
