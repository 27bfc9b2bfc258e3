"""The SDG global indicator framework: 17 goals, 169 targets and their numbered indicators.

Read from the UNSD framework list (2023 refinement). Twelve indicators repeat under two or three
targets (1.5.1 = 11.5.1 = 13.1.1, ...): each number is kept, because data and targets are
reported under every one of them, and they share one UNSD code.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The placeholder row of target 11.c carries "0" for its indicator number and code.
_NO_INDICATOR = frozenset({"", "0"})
_SEPARATORS = re.compile(r"[\s._\-]+")
_NUMBER_PART = re.compile(r"[0-9]{1,2}")
_TARGET_PART = re.compile(r"[0-9]{1,2}|[a-z]")


@dataclass(frozen=True, slots=True)
class Goal:
    code: str
    title: str


@dataclass(frozen=True, slots=True)
class Target:
    code: str
    goal: str
    title: str


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    target: str
    goal: str
    title: str
    unsd_code: str


@dataclass(frozen=True, slots=True)
class Framework:
    goals: tuple[Goal, ...]
    targets: tuple[Target, ...]
    indicators: tuple[Indicator, ...]


def clean_text(text: str) -> str:
    """Collapse runs of whitespace (leading spaces, no-break spaces) into single spaces."""
    return " ".join(text.split())


def read_framework(lines: Iterable[str]) -> Framework:
    """Parse the semicolon-separated framework list; the first row for a code wins."""
    goals: dict[str, Goal] = {}
    targets: dict[str, Target] = {}
    indicators: dict[str, Indicator] = {}
    for row in csv.DictReader(lines, delimiter=";"):
        goal = row["SDGNumber"].strip()
        target = row["TargetsNumber"].strip()
        goals.setdefault(goal, Goal(goal, clean_text(row["SDGTitle"])))
        targets.setdefault(target, Target(target, goal, clean_text(row["Targets"])))
        number = row["IndicatorsNumber"].strip()
        if number in _NO_INDICATOR:
            continue
        indicators.setdefault(
            number,
            Indicator(
                code=number,
                target=target,
                goal=goal,
                title=clean_text(row["Indicators"]),
                unsd_code=row["UNSDIndicatorCodes"].strip(),
            ),
        )
    return Framework(tuple(goals.values()), tuple(targets.values()), tuple(indicators.values()))


def indicator_number(text: str) -> str | None:
    """`" 3-8-1 "`, `"03.08.01"`, `"3.A.1"` -> `"3.8.1"`, `"3.a.1"`: the canonical spelling.

    Says nothing about whether the indicator exists; `None` when the text is not shaped like
    an indicator number at all.
    """
    parts = _SEPARATORS.split(text.strip().lower())
    if len(parts) != 3:
        return None
    goal, target, indicator = parts
    if not (
        _NUMBER_PART.fullmatch(goal)
        and _TARGET_PART.fullmatch(target)
        and _NUMBER_PART.fullmatch(indicator)
    ):
        return None
    target = str(int(target)) if target.isdigit() else target
    return f"{int(goal)}.{target}.{int(indicator)}"
