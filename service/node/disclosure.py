"""Disclosure control: which cells of a table group a caller may see, and why the rest are hidden.

A pure module: no database, no HTTP. The store hands `decide_table` every cell of one table
group (same dataset version, indicator, series, area, period and unit; only the six
disaggregation dimensions vary) with the rule of the caller's level, and gets back one
`Decision` per cell. The rules are DESIGN.md's "Disclosure control":

1. primary suppression: a base `n` below the level's threshold k, a count of people below k,
   or an unknown base in a dataset that is not already-published statistics;
2. complementary suppression: no table (all dimensions fixed but one, with its `_T` total)
   may hold exactly one suppressed cell, or subtraction from the total would recover it;
3. rounding of released counts, bases and numerators to the level's rounding base: a numerator
   is a count of people too, and an exact one beside an exact percentage gives back the exact
   base that rounding hid.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from auth.levels import Level

if TYPE_CHECKING:
    from service.settings import Settings

DIMENSIONS: tuple[str, ...] = (
    "sex",
    "age",
    "disability_status",
    "urbanisation",
    "income_wealth_quantile",
    "group_code",
)
TOTAL = "_T"
COUNT_UNIT = "NUMBER"  # a value in this unit is a count of people


class Reason(enum.StrEnum):
    """Why a cell was withheld; read by the caller, the audit log and SDMX `CONF_STATUS`."""

    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    COMPLEMENTARY = "COMPLEMENTARY"
    UNKNOWN_BASE = "UNKNOWN_BASE"


@dataclass(frozen=True, slots=True)
class LevelRule:
    """What one caller level gets: threshold k (a base or count below k is withheld) and the
    base that released counts are rounded to (1 = no rounding)."""

    level: Level
    threshold: int
    rounding: int

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"threshold for {self.level.label} must be >= 1, not {self.threshold}")
        if self.rounding < 1:
            raise ValueError(f"rounding for {self.level.label} must be >= 1, not {self.rounding}")


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """A node's disclosure rules, one `LevelRule` per caller level."""

    rules: Mapping[Level, LevelRule] = field(hash=False)

    def __post_init__(self) -> None:
        missing = [level.label for level in Level if level not in self.rules]
        if missing:
            raise ValueError(f"disclosure policy has no rule for {', '.join(missing)}")
        for level, rule in self.rules.items():
            if rule.level is not level:
                raise ValueError(f"rule for {level.label} is labelled {rule.level.label}")
        # A policy is shared across requests; nobody may loosen it after it is built.
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    def for_level(self, level: Level) -> LevelRule:
        return self.rules[level]

    @classmethod
    def from_settings(cls, settings: Settings) -> DisclosurePolicy:
        """The policy configured by `LNOB_THRESHOLD_*` and `LNOB_ROUNDING_*`."""
        return cls(
            {
                level: LevelRule(level, settings.threshold_for(level), settings.rounding_for(level))
                for level in Level
            }
        )

    def describe(self) -> list[dict[str, object]]:
        """The policy as published to callers, lowest level first."""
        return [
            {"level": rule.level.label, "threshold": rule.threshold, "rounding": rule.rounding}
            for rule in sorted(self.rules.values(), key=lambda rule: rule.level)
        ]


@dataclass(frozen=True, slots=True)
class CellIn:
    """One cell as stored: `dims` holds its codes in `DIMENSIONS` order."""

    id: int
    dims: tuple[str, ...]
    value: float | None
    unit: str
    n: int | None
    numerator: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a caller gets for one cell: released figures, or a reason and nothing else."""

    id: int
    value: float | None
    n: int | None
    reason: Reason | None
    numerator: float | None = None

    @property
    def suppressed(self) -> bool:
        return self.reason is not None


def decide_table(cells: Sequence[CellIn], rule: LevelRule, *, published: bool) -> list[Decision]:
    """Decide every cell of one table group for a caller under `rule`.

    `published` marks a dataset of already-published statistics, whose cells may be released
    without a known base. Decisions come back in input order and do not depend on it.
    """
    for cell in cells:
        if len(cell.dims) != len(DIMENSIONS):
            raise ValueError(
                f"cell {cell.id} has {len(cell.dims)} dimension codes, expected {len(DIMENSIONS)}"
            )
    # Work in one canonical order so that tie-breaks and the order tables are repaired in
    # never depend on how the store happened to return the rows.
    order = sorted(range(len(cells)), key=lambda i: (cells[i].dims, cells[i].id))
    canonical = [cells[i] for i in order]
    reasons = [_primary_reason(cell, rule, published=published) for cell in canonical]
    _suppress_complements(canonical, reasons)

    decisions: list[Decision | None] = [None] * len(cells)
    for position, cell, reason in zip(order, canonical, reasons, strict=True):
        decisions[position] = _decision(cell, reason, rule.rounding)
    return [decision for decision in decisions if decision is not None]


def _primary_reason(cell: CellIn, rule: LevelRule, *, published: bool) -> Reason | None:
    if cell.n is None:
        # The owner reads its own data; below it, only official statistics that are public
        # already may go out without a base to check.
        if published or rule.level is Level.OWNER:
            return None
        return Reason.UNKNOWN_BASE
    if cell.n < rule.threshold:
        return Reason.BELOW_THRESHOLD
    if cell.unit == COUNT_UNIT and cell.value is not None and cell.value < rule.threshold:
        return Reason.BELOW_THRESHOLD
    return None


def _suppress_complements(cells: Sequence[CellIn], reasons: list[Reason | None]) -> None:
    """Suppress more cells until no table holds exactly one suppressed cell.

    Tables are indexed once by (dimension, codes of the other dimensions); each round
    suppresses one new cell, so the loop ends after at most len(cells) suppressions.
    """
    # A dimension whose code is the same in every cell forms no table with a total and a part.
    varying = [d for d in range(len(DIMENSIONS)) if len({cell.dims[d] for cell in cells}) > 1]
    index: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, cell in enumerate(cells):
        for d in varying:
            index.setdefault((d, cell.dims[:d] + cell.dims[d + 1 :]), []).append(i)

    tables: list[tuple[list[int], list[int]]] = []  # (totals, components) per table
    tables_of_cell: list[list[int]] = [[] for _ in cells]
    for (d, _), members in index.items():
        totals = [i for i in members if cells[i].dims[d] == TOTAL]
        components = [i for i in members if cells[i].dims[d] != TOTAL]
        if not totals or not components:
            continue
        for i in members:
            tables_of_cell[i].append(len(tables))
        tables.append((totals, components))

    suppressed_in = [
        sum(reasons[i] is not None for i in totals + components) for totals, components in tables
    ]
    pending = [t for t, count in enumerate(suppressed_in) if count == 1]
    heapq.heapify(pending)
    while pending:
        t = heapq.heappop(pending)
        if suppressed_in[t] != 1:
            continue
        totals, components = tables[t]
        released = [i for i in components if reasons[i] is None]
        if not released:
            # A lone component under its total equals the total: hide the total instead.
            released = [i for i in totals if reasons[i] is None]
        chosen = min(released, key=lambda i: (_size(cells[i]), i))
        reasons[chosen] = Reason.COMPLEMENTARY
        for other in tables_of_cell[chosen]:
            suppressed_in[other] += 1
            if suppressed_in[other] == 1:
                heapq.heappush(pending, other)


def _size(cell: CellIn) -> float:
    """How many people a cell speaks for: hiding the smallest loses the least information."""
    if cell.unit == COUNT_UNIT and cell.value is not None:
        return cell.value
    return math.inf if cell.n is None else cell.n


def _decision(cell: CellIn, reason: Reason | None, rounding: int) -> Decision:
    if reason is not None:
        return Decision(cell.id, None, None, reason)
    value = cell.value
    if value is not None and cell.unit == COUNT_UNIT:
        value = _round_half_up(value, rounding)
    n = None if cell.n is None else int(_round_half_up(cell.n, rounding))
    numerator = None if cell.numerator is None else _round_half_up(cell.numerator, rounding)
    return Decision(cell.id, value, n, None, numerator)


def _round_half_up(x: float, base: int) -> float:
    if base == 1:
        return float(x)
    return float(math.floor(x / base + 0.5) * base)
