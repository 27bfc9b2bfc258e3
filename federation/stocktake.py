"""The stocktake: what data exists across every node, merged by organisation, without values."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import TypeVar

import msgspec

from federation.answers import FederatedOrganisationCoverage, summed_here
from federation.fanout import FederatedCoverage, Federation, SourceStatus
from service.errors import BadRequest
from service.reference import Reference


@dataclass(frozen=True, slots=True)
class StocktakeQuery:
    """What the secretariat asks about; each tuple means any of these codes (empty = all)."""

    goals: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    period_from: int | None = None
    period_to: int | None = None

    def node_filter(self) -> dict[str, object]:
        """The same question in a node's `ObservationFilter` (organisations are narrowed here)."""
        wanted: dict[str, object] = {
            "goals": list(self.goals),
            "targets": list(self.targets),
            "indicators": list(self.indicators),
            "refAreas": [country.upper() for country in self.countries],
            "groups": list(self.groups),
            "periodFrom": self.period_from,
            "periodTo": self.period_to,
        }
        return {name: value for name, value in wanted.items() if value not in (None, [])}

    @classmethod
    def from_params(cls, get_list: ParamLists) -> StocktakeQuery:
        """From URL query parameters: `goal`, `target`, `indicator`, `country`, `group`,
        `organisation` (repeated or comma-separated) and `from`, `to` (years)."""
        return cls(
            goals=param_codes(get_list, "goal"),
            targets=param_codes(get_list, "target"),
            indicators=param_codes(get_list, "indicator"),
            countries=param_codes(get_list, "country"),
            groups=param_codes(get_list, "group"),
            organisations=param_codes(get_list, "organisation"),
            period_from=param_year(get_list, "from"),
            period_to=param_year(get_list, "to"),
        )


ParamLists = Callable[[str], list[str]]


def param_codes(get_list: ParamLists, name: str) -> tuple[str, ...]:
    """A URL parameter's codes, repeated (`?country=BGD&country=NPL`) or comma-separated."""
    return tuple(
        code.strip() for value in get_list(name) for code in value.split(",") if code.strip()
    )


def param_year(get_list: ParamLists, name: str) -> int | None:
    values = get_list(name)
    if not values or not values[-1].strip():
        return None
    text = values[-1].strip()
    if not re.fullmatch(r"\d{4}", text):
        raise BadRequest(f"`{name}` must be a year such as 2020, not {text[:20]!r}")
    return int(text)


class StocktakeEntry(msgspec.Struct, frozen=True, gc=False):
    """What one organisation holds for one indicator, area, group and breakdown.

    A frozen msgspec struct: immutable, and built in C (a stocktake over many nodes builds
    thousands per question; a named tuple's constructor is Python code, four times slower).
    It holds only text, numbers and tuples of text, so it can be no part of a reference cycle
    and the garbage collector need not track it (`gc=False`)."""

    organisation: str
    dataset: str
    indicator: str
    target: str | None
    goal: str | None
    country: str
    country_name: str | None
    sub_area: str
    group: str
    disaggregations: tuple[str, ...]
    cell_count: int
    first_year: int
    latest_year: int
    values_visible: bool
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrganisationSummary:
    organisation: str
    nodes: tuple[str, ...]
    datasets: int
    indicators: int
    countries: int
    groups: tuple[str, ...]
    cell_count: int
    first_year: int
    latest_year: int


class StocktakeSummary:
    """The per-organisation totals of a stocktake: the nodes' own sums, merged."""

    def __init__(
        self,
        sums: Iterable[FederatedOrganisationCoverage],
        *,
        organisations: Sequence[str] = (),
        sources: Sequence[SourceStatus] = (),
    ) -> None:
        self._sums = only_organisations(sums, organisations)
        self.sources = list(sources)

    @functools.cached_property
    def organisations(self) -> list[OrganisationSummary]:
        return merge_summaries(self._sums)


class Stocktake(StocktakeSummary):
    """What every node reported, for one question: entries, per-organisation totals, sources.

    The entries are merged and sorted when first read. The totals are merged from the nodes'
    sums (`sums`, as a node sends them beside its coverage; without them, the coverage is
    summed per node here, as `summed_here` sums an old node's): never from thousands of
    entries.
    """

    def __init__(
        self,
        coverage: Iterable[FederatedCoverage],
        reference: Reference,
        *,
        sums: Iterable[FederatedOrganisationCoverage] | None = None,
        organisations: Sequence[str] = (),
        sources: Sequence[SourceStatus] = (),
    ) -> None:
        self._coverage = only_organisations(coverage, organisations)
        self._reference = reference
        if sums is None:
            by_node: dict[str, list[FederatedCoverage]] = {}
            for cell in self._coverage:
                by_node.setdefault(cell.node_id, []).append(cell)
            sums = [row for node, cells in by_node.items() for row in summed_here(node, cells)]
        super().__init__(sums, organisations=organisations, sources=sources)

    @functools.cached_property
    def entries(self) -> list[StocktakeEntry]:
        return merge_coverage(self._coverage, self._reference)


def merge_summaries(sums: Iterable[FederatedOrganisationCoverage]) -> list[OrganisationSummary]:
    """Per organisation, what its nodes summed: distinct datasets, indicators, countries and
    groups over all of them, cells added up, the widest span of years."""
    by_organisation: dict[str, list[FederatedOrganisationCoverage]] = {}
    for row in sums:
        by_organisation.setdefault(row.organisation, []).append(row)
    ordered = sorted(by_organisation.items(), key=lambda item: (item[0].casefold(), item[0]))
    return [
        OrganisationSummary(
            organisation=organisation,
            nodes=tuple(sorted({row.node_id for row in rows})),
            datasets=len(set().union(*(row.datasets for row in rows))),
            indicators=len(set().union(*(row.indicators for row in rows))),
            countries=len(set().union(*(row.countries for row in rows))),
            groups=tuple(sorted(set().union(*(row.groups for row in rows)))),
            cell_count=sum(row.cell_count for row in rows),
            first_year=min(row.first_year for row in rows),
            latest_year=max(row.latest_year for row in rows),
        )
        for organisation, rows in ordered
    ]


_OfOrganisation = TypeVar("_OfOrganisation", FederatedCoverage, FederatedOrganisationCoverage)


def only_organisations(
    rows: Iterable[_OfOrganisation], organisations: Sequence[str]
) -> list[_OfOrganisation]:
    """The cells (or sums) of the named organisations (any case); all when none is named."""
    wanted = {name.casefold() for name in organisations}
    if not wanted:
        return list(rows)
    return [row for row in rows if row.organisation.casefold() in wanted]


@functools.lru_cache(maxsize=4096)
def _natural(code: str) -> tuple[tuple[int, str], ...]:
    """Sort 1.2.10 after 1.2.9. Cached: the same indicator codes come back in every answer."""
    return tuple((int(part), "") if part.isdigit() else (0, part) for part in code.split("."))


_EntryKey = tuple[str, str, str, str, str, str, tuple[str, ...]]
_entry_key: Callable[[FederatedCoverage], _EntryKey] = attrgetter(
    "organisation", "dataset", "indicator", "ref_area", "sub_area", "group", "breakdown"
)


def merge_coverage(
    cells: Iterable[FederatedCoverage],
    reference: Reference,
    *,
    organisations: Sequence[str] = (),
) -> list[StocktakeEntry]:
    """One entry per organisation × dataset × indicator × area × group × breakdown.

    The same entry reported by several nodes (an organisation whose data sits on two nodes
    under one dataset name) is counted together and names every node.

    Built a column at a time (`map`, `zip` and `sorted` over whole columns, in C): a stocktake
    over fifty nodes merges thousands of cells, and a loop over them in Python was most of
    its cost.
    """
    wanted = only_organisations(cells, organisations)
    if not wanted:
        return []
    keys = list(map(_entry_key, wanted))
    merged = dict(zip(keys, wanted, strict=True))
    shared: dict[_EntryKey, tuple[str, ...]] = {}
    if len(merged) < len(keys):  # some entry came from more than one node
        for key, (combined, reported_by) in _counted_together(keys, wanted).items():
            merged[key] = combined
            shared[key] = reported_by
        keys = list(merged)
    rows = list(merged.values())
    # Sorted by organisation (case-blind), indicator (naturally), area, sub-area, group,
    # dataset and breakdown; the first two by rank, computed once per distinct value.
    orgs, datasets, codes, areas, sub_areas, groups, breakdowns = zip(*keys, strict=True)
    by_organisation = _ranks(set(orgs), str.casefold)
    by_code = _ranks(set(codes), _natural)
    order = list(
        zip(
            map(by_organisation.__getitem__, orgs), map(by_code.__getitem__, codes),
            areas, sub_areas, groups, datasets, breakdowns, strict=True,
        )
    )  # fmt: skip
    ordered = sorted(range(len(order)), key=order.__getitem__)
    keys = [keys[index] for index in ordered]
    rows = [rows[index] for index in ordered]
    orgs, datasets, codes, areas, sub_areas, groups, breakdowns = zip(*keys, strict=True)
    counts, firsts, latests, visible, node_ids = zip(*map(_counted, rows), strict=True)
    known = {code: reference.indicator(code) for code in set(codes)}
    targets = {code: indicator.target if indicator else None for code, indicator in known.items()}
    goals = {code: indicator.goal if indicator else None for code, indicator in known.items()}
    names = {area: reference.country_name(area) for area in set(areas)}
    one_node = {node: (node,) for node in set(node_ids)}
    nodes: list[tuple[str, ...]] = list(map(one_node.__getitem__, node_ids))
    if shared:
        nodes = [shared.get(key, named) for key, named in zip(keys, nodes, strict=True)]
    return list(
        map(
            StocktakeEntry, orgs, datasets, codes, map(targets.__getitem__, codes),
            map(goals.__getitem__, codes), areas, map(names.__getitem__, areas), sub_areas,
            groups, breakdowns, counts, firsts, latests, visible, nodes,
        )
    )  # fmt: skip


_counted: Callable[[FederatedCoverage], tuple[int, int, int, bool, str]] = attrgetter(
    "cell_count", "first_year", "latest_year", "values_visible", "node_id"
)

_Ranked = TypeVar("_Ranked")


def _ranks(values: Iterable[str], key: Callable[[str], _Ranked]) -> dict[str, int]:
    """Each distinct value's rank by `key`; values of equal keys share a rank."""
    ranks: dict[str, int] = {}
    rank, previous = -1, None
    for value, ranked in sorted(((value, key(value)) for value in values), key=itemgetter(1)):
        if rank < 0 or ranked != previous:
            rank, previous = rank + 1, ranked
        ranks[value] = rank
    return ranks


def _counted_together(
    keys: list[_EntryKey], cells: list[FederatedCoverage]
) -> dict[_EntryKey, tuple[FederatedCoverage, tuple[str, ...]]]:
    """The entries reported by more than one node (or twice by one): cells added up, the
    widest span of years, values visible only if visible in every part, and every node."""
    parts: dict[_EntryKey, list[FederatedCoverage]] = {}
    for key, cell in zip(keys, cells, strict=True):
        parts.setdefault(key, []).append(cell)
    return {
        key: (
            msgspec.structs.replace(
                group[0],
                cell_count=sum(part.cell_count for part in group),
                first_year=min(part.first_year for part in group),
                latest_year=max(part.latest_year for part in group),
                values_visible=all(part.values_visible for part in group),
            ),
            tuple(sorted({part.node_id for part in group})),
        )
        for key, group in parts.items()
        if len(group) > 1
    }


async def take_stock(
    federation: Federation,
    query: StocktakeQuery,
    reference: Reference,
    *,
    authorization: str | None,
) -> Stocktake:
    """Ask every node for its coverage and its sums; the answer merges them by organisation."""
    answer = await federation.stocktake(query.node_filter(), authorization=authorization)
    return Stocktake(
        itertools.chain.from_iterable(node.cells for node in answer.items),
        reference,
        sums=itertools.chain.from_iterable(node.sums for node in answer.items),
        organisations=query.organisations,
        sources=answer.sources,
    )


async def take_stock_summary(
    federation: Federation, query: StocktakeQuery, *, authorization: str | None
) -> StocktakeSummary:
    """Ask every node for its coverage summed per organisation: who holds what, without the
    entries (a node sends a few lines instead of every coverage cell)."""
    answer = await federation.coverage_summary(query.node_filter(), authorization=authorization)
    return StocktakeSummary(answer.items, organisations=query.organisations, sources=answer.sources)


CSV_COLUMNS = (
    "organisation", "dataset", "indicator", "target", "goal", "country", "country_name",
    "sub_area", "group", "disaggregations", "first_year", "latest_year", "cell_count",
    "values_visible", "nodes",
)  # fmt: skip


def csv_safe(value: str) -> str:
    """Text from nodes reaches spreadsheets: never let a cell start a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """CSV lines (CRLF, as RFC 4180 asks), the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in itertools.chain([header], rows):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _csv_row(e: StocktakeEntry) -> list[object]:
    return [
        csv_safe(e.organisation), csv_safe(e.dataset), csv_safe(e.indicator), e.target or "",
        e.goal or "", csv_safe(e.country), e.country_name or "", csv_safe(e.sub_area),
        csv_safe(e.group), "+".join(e.disaggregations), e.first_year, e.latest_year,
        e.cell_count, "true" if e.values_visible else "false", ";".join(e.nodes),
    ]  # fmt: skip


def csv_lines(entries: Iterable[StocktakeEntry]) -> Iterator[str]:
    """The stocktake as CSV, a header line first."""
    return csv_text(CSV_COLUMNS, (_csv_row(e) for e in entries))


def sources_header(sources: Iterable[SourceStatus]) -> str:
    """Each node's status on one line, for a download's `LNOB-Sources` header."""
    return ", ".join(f"{s.node_id}={s.status}" for s in sources)
