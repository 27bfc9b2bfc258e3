"""Gap analysis: coverage from every node laid over a frame, with official coverage beside it.

Each frame cell (indicator or target × country × group) gets one status:

- `NO_DATA`: no organisation holds any cell for it;
- `STALE`: data exists, but every organisation's latest period is more than `stale_after_years`
  before `as_of_year` (as of 2026 with the default 5 years, 2021 is current and 2020 stale);
- `SINGLE_SOURCE`: exactly one organisation holds current (not stale) data;
- `COVERED`: two or more organisations hold current data.

Rules a reader of the answer relies on:

- A cell counts for its own group only. Data about persons with disabilities (`group` PWD)
  covers PWD, not `_T`; data about everyone (`_T`) covers `_T`, not PWD, even when it is broken
  down by disability status (that shows in the cell's `breakdowns`). Nodes report group coverage
  by the `group` field, and only that says whom the cell is about.
- Data whose existence the caller may discover but whose values it may not read (a dataset
  released above the caller's level), and data whose cells are suppressed, exist: they count
  as coverage exactly like readable data and are never a gap. `values_visible` tells them apart.
- Organisations are counted, not nodes or datasets: two surveys by one organisation are one
  source. Sub-national data counts for its country (`sub_national_only` says so).
- At target level a cell stands for the target's indicators in the frame: an organisation
  covers it when it holds data on any of them, and `indicators` lists each indicator's own status.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from federation.fanout import FederatedCoverage
from federation.frames import Frame, FrameLevel, FrameRow, indicator_key
from federation.official import OfficialCell, OfficialTable, official_cells, official_expectations
from service.errors import BadRequest
from service.reference import Reference

DEFAULT_STALE_AFTER_YEARS = 5
DEFAULT_LARGEST_GAPS = 20


class GapStatus(enum.StrEnum):
    NO_DATA = "NO_DATA"
    STALE = "STALE"
    SINGLE_SOURCE = "SINGLE_SOURCE"
    COVERED = "COVERED"


@dataclass(frozen=True, slots=True)
class SourceCoverage:
    """What one organisation holds for one frame cell."""

    organisation: str
    node_ids: tuple[str, ...]
    datasets: tuple[str, ...]
    indicators: tuple[str, ...]  # the frame row's indicators it has data on
    breakdowns: tuple[str, ...]  # "" = totals; "AGE+SEX" = by age and sex
    cell_count: int
    first_year: int
    latest_year: int
    stale: bool
    values_visible: bool  # the caller may read some of its values; False = discoverable only
    sub_national_only: bool


@dataclass(frozen=True, slots=True)
class GapCell:
    row: str  # indicator or target code
    ref_area: str
    group: str
    status: GapStatus
    latest_year: int | None
    sources: tuple[SourceCoverage, ...]
    official: OfficialCell
    # At target level, each indicator of the row with its own status; () at indicator level.
    indicators: tuple[tuple[str, GapStatus], ...] = ()

    @property
    def organisations(self) -> tuple[str, ...]:
        return tuple(source.organisation for source in self.sources)


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """How many frame cells of a country, a group or a country × group have each status."""

    key: str
    no_data: int = 0
    stale: int = 0
    single_source: int = 0
    covered: int = 0

    @property
    def total(self) -> int:
        return self.no_data + self.stale + self.single_source + self.covered


@dataclass(frozen=True, slots=True)
class LargestGap:
    ref_area: str
    group: str
    counts: StatusCounts
    rows: tuple[str, ...] = field(default=())  # the rows with no data


@dataclass(frozen=True, slots=True)
class GapAnalysis:
    frame: Frame
    as_of_year: int
    stale_after_years: int
    official_table_loaded: bool
    cells: tuple[GapCell, ...]
    by_country: tuple[StatusCounts, ...]
    by_group: tuple[StatusCounts, ...]
    largest_gaps: tuple[LargestGap, ...]


def analyse_gaps(
    frame: Frame,
    coverage: Iterable[FederatedCoverage],
    reference: Reference,
    *,
    official: OfficialTable | None = None,
    stale_after_years: int = DEFAULT_STALE_AFTER_YEARS,
    as_of_year: int | None = None,
    largest: int = DEFAULT_LARGEST_GAPS,
) -> GapAnalysis:
    """Lay `coverage` (every node's, merged) over `frame`; see the module docstring for the rules.

    `as_of_year` defaults to the current year. Coverage outside the frame is ignored.
    """
    year = dt.date.today().year if as_of_year is None else as_of_year
    if stale_after_years < 0:
        raise BadRequest("staleAfterYears must be 0 or more")
    if largest < 0:
        raise BadRequest("the number of largest gaps must be 0 or more")
    index = _index(coverage, reference)
    expectations = official_expectations(reference)
    aliases = _aliases(reference)
    cells: list[GapCell] = []
    for row in frame.rows:
        row_keys = [(code, indicator_key(reference, code) or code) for code in row.indicators]
        numbers = tuple(dict.fromkeys(n for _, key in row_keys for n in aliases.get(key, (key,))))
        for ref_area in frame.countries:
            beside = official_cells(
                official, expectations, numbers, ref_area, frame.groups, label=row.code
            )
            for group in frame.groups:
                found = [
                    (code, item)
                    for code, key in row_keys
                    for item in index.get((key, ref_area, group), ())
                ]
                cells.append(
                    _cell(
                        row,
                        ref_area,
                        group,
                        found,
                        beside[group],
                        year,
                        stale_after_years,
                        frame.level,
                    )
                )
    return GapAnalysis(
        frame=frame,
        as_of_year=year,
        stale_after_years=stale_after_years,
        official_table_loaded=official is not None,
        cells=tuple(cells),
        by_country=_counts(cells, lambda cell: cell.ref_area, frame.countries),
        by_group=_counts(cells, lambda cell: cell.group, frame.groups),
        largest_gaps=rank_gaps(cells, limit=largest),
    )


def rank_gaps(
    cells: Sequence[GapCell], *, limit: int = DEFAULT_LARGEST_GAPS
) -> tuple[LargestGap, ...]:
    """Country × group pairs ranked by how much of the frame they lack, largest gap first.

    Every pair spans the same rows of the frame, so counts compare fairly. The order is: most
    `NO_DATA` rows; then, among equals, most `STALE` rows (old data is the next worst thing);
    then most `SINGLE_SOURCE` rows (nothing to check the one source against); then country and
    group code, so that the ranking never depends on the order nodes answered in. Pairs with no
    `NO_DATA` and no `STALE` row are not gaps and are left out. At most `limit` pairs.
    """
    missing: dict[tuple[str, str], list[str]] = {}
    tallies: dict[tuple[str, str], Counter[GapStatus]] = {}
    for cell in cells:
        pair = (cell.ref_area, cell.group)
        tallies.setdefault(pair, Counter())[cell.status] += 1
        if cell.status is GapStatus.NO_DATA:
            missing.setdefault(pair, []).append(cell.row)
    ranked = sorted(
        (
            pair
            for pair, tally in tallies.items()
            if tally[GapStatus.NO_DATA] or tally[GapStatus.STALE]
        ),
        key=lambda pair: (
            -tallies[pair][GapStatus.NO_DATA],
            -tallies[pair][GapStatus.STALE],
            -tallies[pair][GapStatus.SINGLE_SOURCE],
            pair,
        ),
    )
    return tuple(
        LargestGap(
            ref_area=pair[0],
            group=pair[1],
            counts=_status_counts(f"{pair[0]}/{pair[1]}", tallies[pair]),
            rows=tuple(missing.get(pair, ())),
        )
        for pair in ranked[:limit]
    )


def _index(
    coverage: Iterable[FederatedCoverage], reference: Reference
) -> dict[tuple[str, str, str], list[FederatedCoverage]]:
    index: dict[tuple[str, str, str], list[FederatedCoverage]] = {}
    keys: dict[str, str | None] = {}
    for item in coverage:
        if item.indicator not in keys:
            keys[item.indicator] = indicator_key(reference, item.indicator)
        key = keys[item.indicator]
        if key is not None:
            index.setdefault((key, item.ref_area, item.group), []).append(item)
    return index


def _aliases(reference: Reference) -> dict[str, tuple[str, ...]]:
    """UNSD code -> every indicator number that shares it (1.5.1, 11.5.1, 13.1.1)."""
    found: dict[str, list[str]] = {}
    for indicator in reference.indicators:
        key = indicator_key(reference, indicator.code) or indicator.code
        found.setdefault(key, []).append(indicator.code)
    return {key: tuple(numbers) for key, numbers in found.items()}


def _cell(
    row: FrameRow,
    ref_area: str,
    group: str,
    found: list[tuple[str, FederatedCoverage]],
    official: OfficialCell,
    year: int,
    stale_after: int,
    level: FrameLevel,
) -> GapCell:
    indicators: tuple[tuple[str, GapStatus], ...] = ()
    if level == "TARGET":
        indicators = tuple(
            (code, _status_of([item for c, item in found if c == code], year, stale_after))
            for code in row.indicators
        )
    if not found:
        return GapCell(row.code, ref_area, group, GapStatus.NO_DATA, None, (), official, indicators)
    by_organisation: dict[str, list[tuple[str, FederatedCoverage]]] = {}
    for code, item in found:
        by_organisation.setdefault(item.organisation, []).append((code, item))
    sources = tuple(
        _source(organisation, items, year, stale_after)
        for organisation, items in sorted(by_organisation.items())
    )
    return GapCell(
        row=row.code,
        ref_area=ref_area,
        group=group,
        status=_status_of([item for _, item in found], year, stale_after),
        latest_year=max(source.latest_year for source in sources),
        sources=sources,
        official=official,
        indicators=indicators,
    )


def _status_of(coverage: Sequence[FederatedCoverage], year: int, stale_after: int) -> GapStatus:
    """NO_DATA, STALE, SINGLE_SOURCE or COVERED, from organisations' latest periods."""
    if not coverage:
        return GapStatus.NO_DATA
    latest: dict[str, int] = {}
    for item in coverage:
        latest[item.organisation] = max(
            latest.get(item.organisation, item.latest_year), item.latest_year
        )
    current = sum(1 for last in latest.values() if not _is_stale(last, year, stale_after))
    if current == 0:
        return GapStatus.STALE
    return GapStatus.SINGLE_SOURCE if current == 1 else GapStatus.COVERED


def _is_stale(latest_year: int, year: int, stale_after: int) -> bool:
    return year - latest_year > stale_after


def _source(
    organisation: str, items: list[tuple[str, FederatedCoverage]], year: int, stale_after: int
) -> SourceCoverage:
    coverage = [item for _, item in items]
    latest = max(item.latest_year for item in coverage)
    return SourceCoverage(
        organisation=organisation,
        node_ids=tuple(sorted({item.node_id for item in coverage})),
        datasets=tuple(sorted({item.dataset for item in coverage})),
        indicators=tuple(dict.fromkeys(code for code, _ in items)),
        breakdowns=tuple(sorted({"+".join(item.breakdown) for item in coverage})),
        cell_count=sum(item.cell_count for item in coverage),
        first_year=min(item.first_year for item in coverage),
        latest_year=latest,
        stale=_is_stale(latest, year, stale_after),
        values_visible=any(item.values_visible for item in coverage),
        sub_national_only=all(item.sub_area for item in coverage),
    )


def _counts(
    cells: Sequence[GapCell], key_of: Callable[[GapCell], str], order: Sequence[str]
) -> tuple[StatusCounts, ...]:
    tallies: dict[str, Counter[GapStatus]] = {key: Counter() for key in order}
    for cell in cells:
        tallies[key_of(cell)][cell.status] += 1
    return tuple(_status_counts(key, tallies[key]) for key in order)


def _status_counts(key: str, tally: Counter[GapStatus]) -> StatusCounts:
    return StatusCounts(
        key=key,
        no_data=tally[GapStatus.NO_DATA],
        stale=tally[GapStatus.STALE],
        single_source=tally[GapStatus.SINGLE_SOURCE],
        covered=tally[GapStatus.COVERED],
    )
