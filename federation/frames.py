"""The frame of a gap analysis: SDG indicators (or targets) × countries × groups.

A frame is the question "which of these combinations has data?" before any node is asked. It
is narrowed by goals, targets and indicators (each list narrows further, as in a node's
`ObservationFilter`), by countries and by groups. Every code is checked against the reference
data, so a typing mistake is an error rather than a silently empty answer.

Twelve indicators repeat under two or three targets (1.5.1 = 11.5.1 = 13.1.1) and share one
UNSD code. Data reported under any of those numbers is the same measure, so the frame matches
coverage on the UNSD code (`indicator_key`): data loaded as 1.5.1 covers 13.1.1 too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from service.errors import BadRequest
from service.reference import Reference

FrameLevel = Literal["INDICATOR", "TARGET"]
EVERYONE: Final = "_T"
# 250 indicators × 50 countries × 14 groups; beyond that the answer is too large to read.
MAX_FRAME_CELLS: Final = 200_000


@dataclass(frozen=True, slots=True)
class FrameRow:
    """An indicator, or a target with the indicators it aggregates."""

    code: str
    title: str
    indicators: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Frame:
    level: FrameLevel
    rows: tuple[FrameRow, ...]
    countries: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.countries) * len(self.groups)


def indicator_key(reference: Reference, code: str) -> str | None:
    """What coverage is matched on: the UNSD code shared by every number of one indicator."""
    number = reference.normalise_indicator(code)
    if number is None:
        return None
    indicator = reference.indicator(number)
    return indicator.unsd_code.upper() if indicator is not None and indicator.unsd_code else number


def build_frame(
    reference: Reference,
    *,
    countries: Sequence[str],
    goals: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    indicators: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    level: FrameLevel = "INDICATOR",
) -> Frame:
    """The frame narrowed by the arguments; `None` means "all" (all groups, `_T` included).

    Raises `BadRequest` naming every unknown code, when no indicator is left after narrowing,
    or when the frame would exceed `MAX_FRAME_CELLS`. No country gives an empty frame.
    """
    rows = frame_rows(reference, goals=goals, targets=targets, indicators=indicators, level=level)
    frame = Frame(
        level, rows, frame_countries(reference, countries), frame_groups(reference, groups)
    )
    if frame.size > MAX_FRAME_CELLS:
        raise BadRequest(
            f"the frame has {frame.size} cells ({len(frame.rows)} rows × "
            f"{len(frame.countries)} countries × {len(frame.groups)} groups), more than "
            f"{MAX_FRAME_CELLS}: narrow it by goals, targets, countries or groups"
        )
    return frame


def frame_rows(
    reference: Reference,
    *,
    goals: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    indicators: Sequence[str] | None = None,
    level: FrameLevel = "INDICATOR",
) -> tuple[FrameRow, ...]:
    """Indicators, or targets with their indicators, that every given list lets through.

    At target level a row holds the target's indicators that the narrowing keeps; target 11.c,
    which has no indicator, never appears.
    """
    goal_codes = _checked("goal", goals, {goal.code for goal in reference.goals})
    target_codes = _checked("target", targets, {target.code for target in reference.targets})
    indicator_codes = _indicator_codes(reference, indicators)
    kept = [
        indicator
        for indicator in reference.indicators
        if (goal_codes is None or indicator.goal in goal_codes)
        and (target_codes is None or indicator.target in target_codes)
        and (indicator_codes is None or indicator.code in indicator_codes)
    ]
    if not kept:
        raise BadRequest("no SDG indicator matches the goals, targets and indicators asked for")
    if level == "INDICATOR":
        return tuple(FrameRow(i.code, i.title, (i.code,)) for i in kept)
    members: dict[str, list[str]] = {}
    for indicator in kept:
        members.setdefault(indicator.target, []).append(indicator.code)
    return tuple(
        FrameRow(target.code, target.title, tuple(members[target.code]))
        for target in reference.targets
        if target.code in members
    )


def frame_countries(reference: Reference, countries: Sequence[str]) -> tuple[str, ...]:
    codes = _unique(countries)
    unknown = [code for code in codes if not reference.is_country(code)]
    if unknown:
        raise BadRequest(f"unknown country {_listed(unknown)}: expected ISO 3166-1 alpha-3 (KEN)")
    return codes


def frame_groups(reference: Reference, groups: Sequence[str] | None) -> tuple[str, ...]:
    known = reference.codelist("GROUP").codes()
    checked = _checked("group", groups, set(known))
    return known if checked is None else checked


def coverage_filter(
    reference: Reference,
    rows: Sequence[FrameRow],
    *,
    countries: Sequence[str] | None,
    groups: Sequence[str] | None,
) -> dict[str, object]:
    """The node `ObservationFilter` (camelCase) that asks for the frame's coverage only.

    Indicators are asked for under every number they share a UNSD code with.
    """
    wanted: dict[str, object] = {}
    numbers = {code for row in rows for code in row.indicators}
    if len(numbers) < len(reference.indicators):
        keys = {indicator_key(reference, code) for code in numbers}
        wanted["indicators"] = [
            i.code for i in reference.indicators if indicator_key(reference, i.code) in keys
        ]
    if countries is not None:
        wanted["refAreas"] = list(countries)
    if groups is not None and set(groups) != set(reference.codelist("GROUP").codes()):
        wanted["groups"] = list(groups)
    return wanted


def _indicator_codes(reference: Reference, codes: Sequence[str] | None) -> set[str] | None:
    if codes is None:
        return None
    found: set[str] = set()
    unknown = []
    for code in codes:
        number = reference.normalise_indicator(code)
        if number is None:
            unknown.append(code)
        else:
            found.add(number)
    if unknown:
        raise BadRequest(f"unknown indicator {_listed(unknown)}: expected a number such as 3.8.1")
    return found


def _checked(kind: str, codes: Sequence[str] | None, known: set[str]) -> tuple[str, ...] | None:
    if codes is None:
        return None
    unique = _unique(codes)
    unknown = [code for code in unique if code not in known]
    if unknown:
        raise BadRequest(f"unknown {kind} {_listed(unknown)}")
    return unique


def _unique(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(code.strip() for code in codes))


def _listed(codes: Sequence[str]) -> str:
    shown = ", ".join(repr(code) for code in codes[:5])
    return shown + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
