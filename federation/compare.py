"""Compare and pool: each organisation's figure for one cell side by side, and a pooled figure
where units and definitions agree.

The cell is one indicator, one country (national figures; sub-national cells are left out),
one breakdown (`SEX=F`, `GROUP=PWD`, ...; a dimension not named is `_T`) and, optionally, one
period. Contributions of one period are pooled only when they all share the unit and the
definition: the same series (or all without one). Then

- counts (`NUMBER`) are summed;
- percentages (`PERCENT`) are averaged weighted by each contribution's base `n`, which every
  contribution must give;
- other units (rates, means, scores) are not pooled: their bases are not comparable.

A suppressed contribution makes the pooled figure a range, never a guess. For a count:

- low = sum of released values, with 0 for each suppressed contribution (a suppressed count
  may be 0);
- high = sum of released values, plus, for each suppressed contribution, the largest value it
  can have: k-1 for `BELOW_THRESHOLD`, where k is the threshold that node applied to this
  caller (a count of people or households is no larger than its base, so a count suppressed
  below k is at most k-1); for `COMPLEMENTARY` and `UNKNOWN_BASE` nothing is known, so the high
  end is unbounded (`None`) unless the node released the total of the suppressed cell's table
  (the same cell with one broken-down dimension at `_T`): a part is no larger than its whole,
  so the total plus half the node's rounding base bounds it. Any bound also needs the node's
  published rule; without it the high end is unbounded.

For a percentage, a `BELOW_THRESHOLD` contribution has a base of at most k-1 and a value
between 0 and 100, which bounds the weighted mean; a contribution suppressed for any other
reason hides a base of any size, so no pooled percentage is given.

The pooled cell passes the threshold again: the strictest threshold any node applies to this
caller, and never less than the federation minimum for the lowest level a node gave the
caller (`pooling_threshold`). A pooled percentage whose known base, or a pooled count whose
low end or known base, is below it is suppressed. Released figures are pooled as the nodes
rounded them. Every comparison warns that organisations may count the same people.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auth.levels import Level
from federation.fanout import FederatedAnswer, FederatedCell, Federation, NodeResult
from federation.frames import indicator_key
from federation.registry import RegisteredNode
from federation.transport import NodeBadAnswer
from service.errors import BadRequest
from service.reference import Reference
from service.settings import FEDERATION_MIN_THRESHOLD

TOTAL = "_T"
_YEAR = re.compile(r"[0-9]{4}")
COUNT = "NUMBER"
PERCENT = "PERCENT"
# Breakdown dimension (as coverage names it) -> FederatedCell field.
DIMENSIONS: dict[str, str] = {
    "SEX": "sex",
    "AGE": "age",
    "DISABILITY_STATUS": "disability_status",
    "URBANISATION": "urbanisation",
    "INCOME_WEALTH_QUANTILE": "income_wealth_quantile",
    "GROUP": "group",
}
RULES_QUERY = """query DisclosureRule {
  node { id schemaVersion dataVersion caller { level }
         disclosurePolicy { levels { level threshold rounding } } }
}"""
SAME_PEOPLE_WARNING = (
    "organisations may count the same people: a pooled count can exceed the people reached, "
    "and a pooled percentage gives people reached by several organisations more weight"
)


@dataclass(frozen=True, slots=True)
class NodeRule:
    """The disclosure rule a node applied to this caller, as its `disclosurePolicy` publishes."""

    node_id: str
    level: Level
    threshold: int
    rounding: int


@dataclass(frozen=True, slots=True)
class Contribution:
    """One organisation's cell, as its node released it."""

    organisation: str
    node_id: str
    dataset: str
    series: str
    time_period: str
    unit: str
    value: float | None
    n: int | None
    suppressed: bool
    suppression_reason: str | None


@dataclass(frozen=True, slots=True)
class PooledFigure:
    """Pooled figure for one period: exact (`value`), a range (`low`..`high`), or suppressed."""

    time_period: str
    unit: str
    series: str
    method: str
    organisations: tuple[str, ...]
    contributions: int
    value: float | None  # exact, when no contribution is suppressed
    low: float | None
    high: float | None  # None beside a `low`: no upper bound is known
    n: int | None  # pooled base, when every contribution's base is known
    suppressed: bool
    suppression_reason: str | None
    threshold: int
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NotPooled:
    time_period: str
    reason: str


@dataclass(frozen=True, slots=True)
class Comparison:
    indicator: str
    ref_area: str
    breakdown: tuple[tuple[str, str], ...]  # (dimension, code) named in the question
    period: str | None
    threshold: int
    contributions: tuple[Contribution, ...]
    pooled: tuple[PooledFigure, ...]
    not_pooled: tuple[NotPooled, ...]
    warnings: tuple[str, ...]


def parse_breakdown(breakdown: Sequence[str]) -> dict[str, str]:
    """`["SEX=F", "GROUP=PWD"]` -> the code of every dimension, `_T` where none is named."""
    codes = dict.fromkeys(DIMENSIONS, TOTAL)
    for item in breakdown:
        dimension, sep, code = item.partition("=")
        dimension, code = dimension.strip().upper(), code.strip()
        if not sep or not code or dimension not in DIMENSIONS:
            raise BadRequest(
                f"breakdown {item!r}: expected DIMENSION=CODE with a dimension of "
                f"{', '.join(DIMENSIONS)} (for example SEX=F or GROUP=PWD)"
            )
        codes[dimension] = code
    return codes


async def fetch_rules(
    federation: Federation, *, authorization: str | None
) -> FederatedAnswer[NodeRule]:
    """Ask every node which rule it applies to this caller (its level's threshold and rounding)."""

    async def ask(node: RegisteredNode) -> NodeResult[NodeRule]:
        data = await federation.transport.execute(node, RULES_QUERY, {}, authorization)
        federation.read_header(node, data)
        return NodeResult([_rule_of(node.node_id, data)])

    return await federation.fan_out(ask)


def _rule_of(node_id: str, data: Mapping[str, Any]) -> NodeRule:
    try:
        node = data["node"]
        level = Level.parse(str(node["caller"]["level"]))
        rules = {
            Level.parse(str(entry["level"])): (int(entry["threshold"]), int(entry["rounding"]))
            for entry in node["disclosurePolicy"]["levels"]
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeBadAnswer(f"malformed disclosure policy ({exc!r})") from None
    if level not in rules:
        raise NodeBadAnswer(
            f"the disclosure policy has no rule for the caller's level {level.label}"
        )
    threshold, rounding = rules[level]
    return NodeRule(node_id, level, threshold, rounding)


def observation_filter(
    reference: Reference, *, indicator: str, ref_area: str, period: str | None
) -> dict[str, object]:
    """The node `ObservationFilter` (camelCase) a comparison needs: every cell of the indicator
    (under each number sharing its UNSD code) in the country, in the period's years."""
    key = indicator_key(reference, indicator)
    if key is None:
        raise BadRequest(f"unknown indicator {indicator!r}: expected a number such as 3.8.1")
    if not reference.is_country(ref_area):
        raise BadRequest(f"unknown country {ref_area!r}: expected ISO 3166-1 alpha-3 (KEN)")
    wanted: dict[str, object] = {
        "indicators": [
            item.code for item in reference.indicators if indicator_key(reference, item.code) == key
        ],
        "refAreas": [ref_area],
    }
    # Periods are written 2021, 2021-Q3 or 2019/2021: the years they span narrow the fetch.
    years = [int(year) for year in _YEAR.findall(period or "")]
    if years:
        wanted["periodFrom"], wanted["periodTo"] = min(years), max(years)
    return wanted


def pooling_threshold(rules: Iterable[NodeRule]) -> int:
    """The threshold a pooled cell must pass: the strictest any node applies to this caller,
    and at least the federation minimum of the lowest level a node gave the caller (public
    when no node published its rule)."""
    found = list(rules)
    lowest = min((rule.level for rule in found), default=Level.PUBLIC)
    return max([FEDERATION_MIN_THRESHOLD[lowest], *(rule.threshold for rule in found)])


def compare(
    cells: Sequence[FederatedCell],
    reference: Reference,
    *,
    indicator: str,
    ref_area: str,
    breakdown: Sequence[str] = (),
    period: str | None = None,
    rules: Mapping[str, NodeRule] | None = None,
    threshold: int | None = None,
) -> Comparison:
    """Compare every organisation's cell for the question, and pool where possible.

    `cells` are what the nodes released (their other cells of the indicator and area may come
    too: they bound complementary suppressions). `rules` are the nodes' rules for this caller,
    by node id; `threshold` defaults to `pooling_threshold(rules)`.
    """
    key = indicator_key(reference, indicator)
    if key is None:
        raise BadRequest(f"unknown indicator {indicator!r}: expected a number such as 3.8.1")
    codes = parse_breakdown(breakdown)
    rules = rules or {}
    pool_threshold = pooling_threshold(rules.values()) if threshold is None else threshold
    warnings = [SAME_PEOPLE_WARNING]

    keys: dict[str, str | None] = {}
    for code in {cell.indicator for cell in cells}:
        keys[code] = indicator_key(reference, code)
    in_area = [cell for cell in cells if cell.ref_area == ref_area and keys[cell.indicator] == key]
    wanted = [
        cell
        for cell in in_area
        if all(getattr(cell, field) == code for field, code in _fields(codes))
        and (period is None or cell.time_period == period)
    ]
    sub_national = sum(1 for cell in wanted if cell.sub_area)
    if sub_national:
        warnings.append(f"{sub_national} sub-national cells are left out: only national figures")
    national = sorted(
        (cell for cell in wanted if not cell.sub_area),
        key=lambda c: (c.time_period, c.organisation, c.dataset, c.series, c.unit),
    )
    pooled: list[PooledFigure] = []
    not_pooled: list[NotPooled] = []
    for time_period in sorted({cell.time_period for cell in national}):
        group = [cell for cell in national if cell.time_period == time_period]
        result = _pool(time_period, group, in_area, rules, pool_threshold)
        if isinstance(result, PooledFigure):
            pooled.append(result)
        else:
            not_pooled.append(result)
    if not national:
        warnings.append("no organisation released or reported a national cell for this question")
    return Comparison(
        indicator=indicator,
        ref_area=ref_area,
        breakdown=tuple((d, c) for d, c in codes.items() if c != TOTAL),
        period=period,
        threshold=pool_threshold,
        contributions=tuple(_contribution(cell) for cell in national),
        pooled=tuple(pooled),
        not_pooled=tuple(not_pooled),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True, slots=True)
class _Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    known_base: float  # what the threshold is checked against
    notes: tuple[str, ...]


def _pool(
    time_period: str,
    cells: list[FederatedCell],
    context: list[FederatedCell],
    rules: Mapping[str, NodeRule],
    threshold: int,
) -> PooledFigure | NotPooled:
    if len(cells) < 2:
        return NotPooled(time_period, "only one contribution: nothing to pool")
    units = sorted({cell.unit for cell in cells})
    if len(units) > 1:
        return NotPooled(time_period, f"units differ ({_by_organisation(cells, 'unit')})")
    series = sorted({cell.series for cell in cells})
    if len(series) > 1:
        return NotPooled(
            time_period, f"definitions differ: series {_by_organisation(cells, 'series')}"
        )
    empty = [c.organisation for c in cells if not c.suppressed and c.value is None]
    if empty:
        return NotPooled(time_period, f"no value given by {', '.join(sorted(set(empty)))}")
    unit = units[0]
    estimate: _Estimate | str
    if unit == COUNT:
        method, estimate = "sum of counts", _sum_counts(cells, context, rules)
    elif unit == PERCENT:
        method, estimate = "n-weighted mean of percentages", _weighted_mean(cells, rules)
    else:
        return NotPooled(
            time_period,
            f"{unit} values are not pooled: only counts (summed) and percentages (n-weighted mean)",
        )
    if isinstance(estimate, str):
        return NotPooled(time_period, estimate)
    figure = PooledFigure(
        time_period=time_period,
        unit=unit,
        series=series[0],
        method=method,
        organisations=tuple(sorted({cell.organisation for cell in cells})),
        contributions=len(cells),
        value=estimate.value,
        low=estimate.low,
        high=estimate.high,
        n=estimate.n,
        suppressed=False,
        suppression_reason=None,
        threshold=threshold,
        notes=estimate.notes,
    )
    if estimate.known_base >= threshold:
        return figure
    note = f"the pooled cell's known base is below the threshold {threshold}"
    return dataclasses.replace(
        figure,
        value=None,
        low=None,
        high=None,
        n=None,
        suppressed=True,
        suppression_reason="BELOW_THRESHOLD",
        notes=(note,),
    )


def _sum_counts(
    cells: list[FederatedCell], context: list[FederatedCell], rules: Mapping[str, NodeRule]
) -> _Estimate:
    low = 0.0
    high: float | None = 0.0
    notes: list[str] = []
    for cell in cells:
        if not cell.suppressed and cell.value is not None:
            low += cell.value
            high = None if high is None else high + cell.value
            continue
        most = _largest_count(cell, context, rules.get(cell.node_id))
        high = None if high is None or most is None else high + most
        reason = f"{cell.organisation}'s cell is suppressed ({cell.suppression_reason})"
        notes.append(
            f"{reason} and its size is unknown: no upper bound"
            if most is None
            else f"{reason}: counted as 0 to {_shown(most)}"
        )
    bases = [cell.n for cell in cells]
    n = None if None in bases else sum(b for b in bases if b is not None)
    roundings = {rules[c.node_id].rounding for c in cells if c.node_id in rules}
    if max(roundings, default=1) > 1:
        notes.append(f"released counts were rounded by the nodes (base up to {max(roundings)})")
    exact = not any(cell.suppressed for cell in cells)
    known = low if n is None else min(low, n)
    return _Estimate(low if exact else None, low, high, n, known, tuple(notes))


def _weighted_mean(cells: list[FederatedCell], rules: Mapping[str, NodeRule]) -> _Estimate | str:
    """The pooled percentage, or why there is none."""
    released = [cell for cell in cells if not cell.suppressed]
    no_base = sorted({cell.organisation for cell in released if cell.n is None})
    if no_base:
        return (
            "an n-weighted mean needs the base n of every contribution; "
            f"{', '.join(no_base)} give none"
        )
    base = sum(cell.n or 0 for cell in released)
    weighted = sum((cell.value or 0.0) * (cell.n or 0) for cell in released)
    hidden_base = 0  # the largest base the suppressed contributions can have
    notes: list[str] = []
    for cell in cells:
        if not cell.suppressed:
            continue
        rule = rules.get(cell.node_id)
        if cell.suppression_reason != "BELOW_THRESHOLD" or rule is None:
            why = "its rule is unknown" if rule is None else "its base may be of any size"
            return (
                f"{cell.organisation}'s percentage is suppressed ({cell.suppression_reason}) and "
                f"{why}: the pooled percentage could be anything from 0 to 100"
            )
        hidden_base += rule.threshold - 1
        notes.append(
            f"{cell.organisation}'s percentage is suppressed (BELOW_THRESHOLD): base at most "
            f"{rule.threshold - 1}, value 0 to 100"
        )
    if base + hidden_base == 0:
        return _Estimate(None, None, None, None, 0, tuple(notes))
    low = weighted / (base + hidden_base)
    high = (weighted + 100.0 * hidden_base) / (base + hidden_base)
    exact = len(released) == len(cells)
    return _Estimate(low if exact else None, low, high, base if exact else None, base, tuple(notes))


def _largest_count(
    cell: FederatedCell, context: list[FederatedCell], rule: NodeRule | None
) -> float | None:
    """The largest value a suppressed count can hold, or None when nothing bounds it."""
    if rule is None:
        return None
    bounds: list[float] = []
    if cell.suppression_reason == "BELOW_THRESHOLD":
        bounds.append(rule.threshold - 1)
    bounds.extend(total + rule.rounding / 2 for total in _released_totals(cell, context))
    return min(bounds, default=None)


def _released_totals(cell: FederatedCell, context: list[FederatedCell]) -> list[float]:
    """Released values of the totals of the tables `cell` is a part of (one dimension at _T)."""
    totals: list[float] = []
    for field in DIMENSIONS.values():
        if getattr(cell, field) == TOTAL:
            continue
        for other in context:
            if (
                not other.suppressed
                and other.value is not None
                and other.node_id == cell.node_id
                and other.dataset == cell.dataset
                and other.series == cell.series
                and other.sub_area == cell.sub_area
                and other.time_period == cell.time_period
                and other.unit == cell.unit
                and getattr(other, field) == TOTAL
                and all(
                    getattr(other, f) == getattr(cell, f) for f in DIMENSIONS.values() if f != field
                )
            ):
                totals.append(other.value)
    return totals


def _fields(codes: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(DIMENSIONS[dimension], code) for dimension, code in codes.items()]


def _contribution(cell: FederatedCell) -> Contribution:
    return Contribution(
        organisation=cell.organisation,
        node_id=cell.node_id,
        dataset=cell.dataset,
        series=cell.series,
        time_period=cell.time_period,
        unit=cell.unit,
        value=cell.value,
        n=cell.n,
        suppressed=cell.suppressed,
        suppression_reason=cell.suppression_reason,
    )


def _by_organisation(cells: list[FederatedCell], field: str) -> str:
    return ", ".join(
        f"{cell.organisation}: {getattr(cell, field) or '(none)'}"
        for cell in sorted(cells, key=lambda c: c.organisation)
    )


def _shown(value: float) -> str:
    return str(int(value)) if math.isclose(value, round(value)) else f"{value:g}"
