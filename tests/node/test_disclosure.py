"""Disclosure control: what a caller at each level may see of one table group, and why not."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.levels import Level
from service.node.disclosure import (
    COUNT_UNIT,
    DIMENSIONS,
    TOTAL,
    CellIn,
    Decision,
    DisclosurePolicy,
    LevelRule,
    Reason,
    decide_table,
)
from service.settings import Settings

DEFAULT_POLICY = DisclosurePolicy.from_settings(Settings())
PUBLIC = DEFAULT_POLICY.for_level(Level.PUBLIC)
COALITION = DEFAULT_POLICY.for_level(Level.COALITION)
OWNER = DEFAULT_POLICY.for_level(Level.OWNER)

# A few real SDMX codes per dimension; the totals are added by the strategy.
CODES: dict[str, tuple[str, ...]] = {
    "sex": ("F", "M"),
    "age": ("Y0T14", "Y15T64", "Y_GE65"),
    "disability_status": ("PD", "PWD"),
    "urbanisation": ("R", "U"),
    "income_wealth_quantile": ("Q1", "Q2", "Q3"),
    "group_code": ("DALIT", "REFUGEES_IDPS"),
}


def dims(**codes: str) -> tuple[str, ...]:
    return tuple(codes.get(name, TOTAL) for name in DIMENSIONS)


def count(id: int, value: float, n: int | None = None, **codes: str) -> CellIn:
    """A count of people; its base defaults to the count itself."""
    return CellIn(id, dims(**codes), value, COUNT_UNIT, int(value) if n is None else n)


def percent(id: int, value: float, n: int | None, **codes: str) -> CellIn:
    return CellIn(id, dims(**codes), value, "PERCENT", n)


def by_id(decisions: Sequence[Decision]) -> dict[int, Decision]:
    return {decision.id: decision for decision in decisions}


def reasons(decisions: Sequence[Decision]) -> dict[int, Reason | None]:
    return {decision.id: decision.reason for decision in decisions}


def tables(cells: Sequence[CellIn]) -> Iterator[tuple[CellIn, list[CellIn]]]:
    """Every (total, components) table of a group, found by brute force."""
    for d in range(len(DIMENSIONS)):
        for _, members in itertools.groupby(
            sorted(cells, key=lambda cell: cell.dims[:d] + cell.dims[d + 1 :]),
            key=lambda cell: cell.dims[:d] + cell.dims[d + 1 :],
        ):
            table = list(members)
            totals = [cell for cell in table if cell.dims[d] == TOTAL]
            parts = [cell for cell in table if cell.dims[d] != TOTAL]
            if totals and parts:
                yield totals[0], parts


# --- strategies ----------------------------------------------------------------------------


@st.composite
def groups(draw: st.DrawFn) -> list[CellIn]:
    """One table group over 2-3 dimensions with totals; small and unknown bases are common."""
    chosen = draw(st.lists(st.sampled_from(DIMENSIONS), min_size=2, max_size=3, unique=True))
    axes = [
        [TOTAL, *draw(st.lists(st.sampled_from(CODES[name]), min_size=1, unique=True))]
        for name in chosen
    ]
    grid = [dict(zip(chosen, combo, strict=True)) for combo in itertools.product(*axes)]
    # Some groups are ragged: a few cells missing, totals included.
    missing = draw(st.sets(st.integers(0, len(grid) - 1), max_size=len(grid) // 4))
    unit = draw(st.sampled_from([COUNT_UNIT, "PERCENT"]))
    small_or_large = st.one_of(st.integers(0, 15), st.integers(0, 3000))
    cells = []
    for position, codes in enumerate(grid):
        if position in missing:
            continue
        n = draw(st.one_of(st.none(), small_or_large))
        if unit == COUNT_UNIT:
            value = draw(st.one_of(small_or_large.map(float), st.just(12.5), st.none()))
        else:
            value = draw(st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))
        cells.append(CellIn(1000 + 7 * position, dims(**codes), value, unit, n))
    return cells


rules = st.one_of(
    st.sampled_from(list(DEFAULT_POLICY.rules.values())),
    st.builds(
        LevelRule,
        level=st.sampled_from(Level),
        threshold=st.integers(1, 20),
        rounding=st.integers(1, 10),
    ),
)

PROPERTY = settings(max_examples=60, deadline=None)


# --- properties ----------------------------------------------------------------------------


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans())
def test_no_released_cell_is_below_threshold(
    cells: list[CellIn], rule: LevelRule, published: bool
) -> None:
    decided = by_id(decide_table(cells, rule, published=published))
    for cell in cells:
        if decided[cell.id].suppressed:
            continue
        if cell.n is None:
            assert published or rule.level is Level.OWNER
            continue
        assert cell.n >= rule.threshold
        if cell.unit == COUNT_UNIT and cell.value is not None:
            assert cell.value >= rule.threshold


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans())
def test_no_suppressed_cell_is_recoverable_from_its_table(
    cells: list[CellIn], rule: LevelRule, published: bool
) -> None:
    decided = by_id(decide_table(cells, rule, published=published))
    for total, parts in tables(cells):
        hidden_parts = [part for part in parts if decided[part.id].suppressed]
        if decided[total.id].suppressed:
            # With every part released, the total is their sum.
            assert len(hidden_parts) >= 1, (total, parts)
        else:
            # A lone hidden part is the released total minus its released siblings.
            assert len(hidden_parts) != 1, (total, parts)


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans())
def test_reasons_say_why_and_suppressed_cells_carry_nothing(
    cells: list[CellIn], rule: LevelRule, published: bool
) -> None:
    decisions = decide_table(cells, rule, published=published)
    assert [decision.id for decision in decisions] == [cell.id for cell in cells]
    for cell, decision in zip(cells, decisions, strict=True):
        assert decision.suppressed == (decision.reason is not None)
        if decision.suppressed:
            assert decision.value is None
            assert decision.n is None
        small = cell.n is not None and (
            cell.n < rule.threshold
            or (cell.unit == COUNT_UNIT and cell.value is not None and cell.value < rule.threshold)
        )
        unknown = cell.n is None and not published and rule.level is not Level.OWNER
        assert (decision.reason is Reason.BELOW_THRESHOLD) == small
        assert (decision.reason is Reason.UNKNOWN_BASE) == unknown


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans())
def test_complementary_suppression_only_follows_a_primary_one(
    cells: list[CellIn], rule: LevelRule, published: bool
) -> None:
    found = reasons(decide_table(cells, rule, published=published))
    if Reason.COMPLEMENTARY in found.values():
        assert {Reason.BELOW_THRESHOLD, Reason.UNKNOWN_BASE} & set(found.values())


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans())
def test_released_counts_and_bases_are_rounded_half_up(
    cells: list[CellIn], rule: LevelRule, published: bool
) -> None:
    base = rule.rounding
    for cell, decision in zip(cells, decide_table(cells, rule, published=published), strict=True):
        if decision.suppressed:
            continue
        if cell.n is None:
            assert decision.n is None
        else:
            assert decision.n is not None
            assert decision.n % base == 0
            assert cell.n - base / 2 < decision.n <= cell.n + base / 2
        if cell.value is None:
            assert decision.value is None
        elif cell.unit == COUNT_UNIT and base > 1:
            assert decision.value is not None
            assert decision.value % base == 0
            assert cell.value - base / 2 < decision.value <= cell.value + base / 2
        else:
            assert decision.value == cell.value


@PROPERTY
@given(cells=groups(), rule=rules, published=st.booleans(), data=st.data())
def test_decisions_do_not_depend_on_input_order(
    cells: list[CellIn], rule: LevelRule, published: bool, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(cells))
    first = by_id(decide_table(cells, rule, published=published))
    second = decide_table(shuffled, rule, published=published)
    assert [decision.id for decision in second] == [cell.id for cell in shuffled]
    assert by_id(second) == first


@PROPERTY
@given(cells=groups(), level=st.sampled_from(Level))
def test_unknown_base_is_released_only_for_published_statistics_or_the_owner(
    cells: list[CellIn], level: Level
) -> None:
    rule = DEFAULT_POLICY.for_level(level)
    unpublished = by_id(decide_table(cells, rule, published=False))
    published = by_id(decide_table(cells, rule, published=True))
    for cell in cells:
        withheld = cell.n is None and level is not Level.OWNER
        assert (unpublished[cell.id].reason is Reason.UNKNOWN_BASE) == withheld
        assert published[cell.id].reason is not Reason.UNKNOWN_BASE


# --- examples with known answers -----------------------------------------------------------


def test_small_count_hides_its_sibling_and_the_total_is_rounded() -> None:
    cells = [count(1, 3, sex="F"), count(2, 40, sex="M"), count(3, 43)]
    assert decide_table(cells, PUBLIC, published=False) == [
        Decision(1, None, None, Reason.BELOW_THRESHOLD),
        Decision(2, None, None, Reason.COMPLEMENTARY),
        Decision(3, 45.0, 45, None),
    ]


def test_coalition_has_a_lower_threshold_and_no_rounding() -> None:
    cells = [count(1, 6, sex="F"), count(2, 40, sex="M"), count(3, 3, age="Y_GE65"), count(4, 46)]
    assert reasons(decide_table(cells, COALITION, published=False)) == {
        3: Reason.BELOW_THRESHOLD,
        # The age table is the total and one part: with the part hidden, the total equals it.
        4: Reason.COMPLEMENTARY,
        # The sex table then holds one hidden cell, the total: its smallest part goes too.
        1: Reason.COMPLEMENTARY,
        2: None,
    }
    assert decide_table(cells[:2], COALITION, published=False)[0] == Decision(1, 6.0, 6, None)


def test_owner_sees_small_counts_unrounded() -> None:
    cells = [count(1, 3, sex="F"), count(2, 40, sex="M"), count(3, 43)]
    assert decide_table(cells, OWNER, published=False) == [
        Decision(1, 3.0, 3, None),
        Decision(2, 40.0, 40, None),
        Decision(3, 43.0, 43, None),
    ]


def test_a_hidden_total_hides_its_smallest_part() -> None:
    cells = [
        percent(1, 41.5, None),
        percent(2, 40.0, 120, sex="F"),
        percent(3, 43.0, 80, sex="M"),
    ]
    assert decide_table(cells, PUBLIC, published=False) == [
        Decision(1, None, None, Reason.UNKNOWN_BASE),
        Decision(2, 40.0, 120, None),
        Decision(3, None, None, Reason.COMPLEMENTARY),
    ]


def test_complementary_suppression_cascades_across_dimensions() -> None:
    # sex x age, bases n:       _T   Y0T14  Y15T64  Y_GE65
    #                     _T   300     65     150      85
    #                     F    150      5*     80      65
    #                     M    150     60      70      20
    grid = {
        (TOTAL, TOTAL): 300,
        (TOTAL, "Y0T14"): 65,
        (TOTAL, "Y15T64"): 150,
        (TOTAL, "Y_GE65"): 85,
        ("F", TOTAL): 150,
        ("F", "Y0T14"): 5,
        ("F", "Y15T64"): 80,
        ("F", "Y_GE65"): 65,
        ("M", TOTAL): 150,
        ("M", "Y0T14"): 60,
        ("M", "Y15T64"): 70,
        ("M", "Y_GE65"): 20,
    }
    cells = [
        percent(id, 50.0, n, sex=sex, age=age) for id, ((sex, age), n) in enumerate(grid.items())
    ]
    found = {
        cells[id].dims[:2]: reason
        for id, reason in reasons(decide_table(cells, PUBLIC, published=False)).items()
        if reason is not None
    }
    assert found == {
        ("F", "Y0T14"): Reason.BELOW_THRESHOLD,
        # F's age table: the smallest other part (65 < 80).
        ("F", "Y_GE65"): Reason.COMPLEMENTARY,
        # Each age column now holds one hidden cell: the other sex goes too, and M's age
        # table then holds two.
        ("M", "Y0T14"): Reason.COMPLEMENTARY,
        ("M", "Y_GE65"): Reason.COMPLEMENTARY,
    }


def test_ties_are_broken_by_codes_whatever_the_input_order() -> None:
    cells = [
        count(1, 100),
        count(2, 4, 30, age="Y0T14"),
        count(3, 48, age="Y15T64"),
        count(4, 48, age="Y_GE65"),
    ]
    expected = {1: None, 2: Reason.BELOW_THRESHOLD, 3: Reason.COMPLEMENTARY, 4: None}
    for order in itertools.permutations(cells):
        assert reasons(decide_table(order, PUBLIC, published=False)) == expected


def test_a_large_base_does_not_release_a_small_count() -> None:
    [decision] = decide_table([count(1, 4, 500)], PUBLIC, published=True)
    assert decision.reason is Reason.BELOW_THRESHOLD


@pytest.mark.parametrize(
    ("level", "published", "expected"),
    [
        (Level.PUBLIC, False, Decision(1, None, None, Reason.UNKNOWN_BASE)),
        (Level.PUBLIC, True, Decision(1, 5.0, None, None)),
        (Level.GOVERNMENT, False, Decision(1, None, None, Reason.UNKNOWN_BASE)),
        (Level.GOVERNMENT, True, Decision(1, 5.0, None, None)),
        (Level.COALITION, False, Decision(1, None, None, Reason.UNKNOWN_BASE)),
        (Level.COALITION, True, Decision(1, 3.0, None, None)),
        (Level.OWNER, False, Decision(1, 3.0, None, None)),
        (Level.OWNER, True, Decision(1, 3.0, None, None)),
    ],
)
def test_a_count_without_base_by_level_and_publication(
    level: Level, published: bool, expected: Decision
) -> None:
    cell = CellIn(1, dims(), 3.0, COUNT_UNIT, None)
    rule = DEFAULT_POLICY.for_level(level)
    assert decide_table([cell], rule, published=published) == [expected]


def test_a_known_small_base_is_suppressed_even_in_published_statistics() -> None:
    [decision] = decide_table([percent(1, 12.0, 7)], PUBLIC, published=True)
    assert decision.reason is Reason.BELOW_THRESHOLD


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(10.0, 10.0), (12.0, 10.0), (12.5, 15.0), (13.0, 15.0), (47.5, 50.0), (1234.0, 1235.0)],
)
def test_counts_round_half_up_to_the_rounding_base(value: float, rounded: float) -> None:
    [decision] = decide_table([count(1, value, 40)], PUBLIC, published=False)
    assert decision.value == rounded
    assert decision.n == 40


def test_percentages_keep_their_value_and_round_their_base() -> None:
    [decision] = decide_table([percent(1, 12.34, 43)], PUBLIC, published=False)
    assert decision == Decision(1, 12.34, 45, None)


@pytest.mark.parametrize(
    ("level", "numerator"),
    [(Level.PUBLIC, 20.0), (Level.GOVERNMENT, 20.0), (Level.COALITION, 21.0), (Level.OWNER, 21.0)],
)
def test_numerators_are_rounded_like_counts(level: Level, numerator: float) -> None:
    """21 of 43 is 48.837…%: with an exact numerator beside it, the exact base 43 comes back
    (21 / 0.48837 = 43.0) although the base itself went out rounded to 45."""
    cell = CellIn(1, dims(), 21 / 43 * 100, "PERCENT", 43, numerator=21.0)
    [decision] = decide_table([cell], DEFAULT_POLICY.for_level(level), published=False)
    assert decision.numerator == numerator
    rounding = DEFAULT_POLICY.for_level(level).rounding
    assert decision.n == (45 if rounding == 5 else 43)


def test_a_suppressed_cell_releases_no_numerator() -> None:
    cell = CellIn(1, dims(), 50.0, "PERCENT", 4, numerator=2.0)
    [decision] = decide_table([cell], PUBLIC, published=False)
    assert (decision.reason, decision.numerator) == (Reason.BELOW_THRESHOLD, None)


def test_an_empty_group_has_no_decisions() -> None:
    assert decide_table([], PUBLIC, published=False) == []


def test_a_cell_with_the_wrong_number_of_codes_is_refused() -> None:
    with pytest.raises(ValueError, match="cell 7 has 2 dimension codes"):
        decide_table([CellIn(7, ("F", TOTAL), 10.0, COUNT_UNIT, 10)], PUBLIC, published=False)


# --- the policy ----------------------------------------------------------------------------


def test_default_policy_is_the_federation_minimum() -> None:
    assert DEFAULT_POLICY.describe() == [
        {"level": "public", "threshold": 10, "rounding": 5},
        {"level": "government", "threshold": 10, "rounding": 5},
        {"level": "coalition", "threshold": 5, "rounding": 1},
        {"level": "owner", "threshold": 1, "rounding": 1},
    ]


def test_policy_follows_stricter_settings() -> None:
    policy = DisclosurePolicy.from_settings(Settings(threshold_public=20, rounding_coalition=3))
    assert policy.for_level(Level.PUBLIC) == LevelRule(Level.PUBLIC, 20, 5)
    assert policy.for_level(Level.COALITION) == LevelRule(Level.COALITION, 5, 3)


def test_policy_needs_a_rule_for_every_level() -> None:
    with pytest.raises(ValueError, match="no rule for government, coalition, owner"):
        DisclosurePolicy({Level.PUBLIC: PUBLIC})
    with pytest.raises(ValueError, match="rule for owner is labelled public"):
        DisclosurePolicy({**DEFAULT_POLICY.rules, Level.OWNER: PUBLIC})


def test_policy_cannot_be_loosened_after_it_is_built() -> None:
    rules = dict(DEFAULT_POLICY.rules)
    policy = DisclosurePolicy(rules)
    rules[Level.PUBLIC] = LevelRule(Level.PUBLIC, 1, 1)
    assert policy.for_level(Level.PUBLIC) == PUBLIC
    with pytest.raises(TypeError):
        policy.rules[Level.PUBLIC] = LevelRule(Level.PUBLIC, 1, 1)  # type: ignore[index]


@pytest.mark.parametrize(("threshold", "rounding"), [(0, 5), (10, 0)])
def test_a_rule_needs_a_positive_threshold_and_rounding(threshold: int, rounding: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        LevelRule(Level.PUBLIC, threshold, rounding)
