"""The stocktake: what data exists across every node, merged by organisation, without values."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class StocktakeEntry:
    """What one organisation holds for one indicator, area, group and breakdown."""

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


@dataclass(frozen=True, slots=True)
class Stocktake:
    entries: list[StocktakeEntry]
    organisations: list[OrganisationSummary]
    sources: list[SourceStatus] = field(default_factory=list)


def _natural(code: str) -> tuple[tuple[int, str], ...]:
    """Sort 1.2.10 after 1.2.9."""
    return tuple((int(part), "") if part.isdigit() else (0, part) for part in code.split("."))


def merge_coverage(
    cells: Iterable[FederatedCoverage],
    reference: Reference,
    *,
    organisations: Sequence[str] = (),
) -> list[StocktakeEntry]:
    """One entry per organisation × dataset × indicator × area × group × breakdown.

    The same entry reported by several nodes (an organisation whose data sits on two nodes
    under one dataset name) is counted together and names every node.
    """
    wanted = {name.casefold() for name in organisations}
    merged: dict[tuple[str, str, str, str, str, str, tuple[str, ...]], list[FederatedCoverage]]
    merged = defaultdict(list)
    for cell in cells:
        if wanted and cell.organisation.casefold() not in wanted:
            continue
        key = (
            cell.organisation, cell.dataset, cell.indicator, cell.ref_area, cell.sub_area,
            cell.group, cell.breakdown,
        )  # fmt: skip
        merged[key].append(cell)
    entries = []
    for (
        organisation,
        dataset,
        indicator,
        country,
        sub_area,
        group,
        breakdown,
    ), parts in merged.items():
        known = reference.indicator(indicator)
        entries.append(
            StocktakeEntry(
                organisation=organisation,
                dataset=dataset,
                indicator=indicator,
                target=known.target if known else None,
                goal=known.goal if known else None,
                country=country,
                country_name=reference.country_name(country),
                sub_area=sub_area,
                group=group,
                disaggregations=breakdown,
                cell_count=sum(part.cell_count for part in parts),
                first_year=min(part.first_year for part in parts),
                latest_year=max(part.latest_year for part in parts),
                values_visible=all(part.values_visible for part in parts),
                nodes=tuple(sorted({part.node_id for part in parts})),
            )
        )
    entries.sort(key=_entry_order)
    return entries


def _entry_order(e: StocktakeEntry) -> tuple[object, ...]:
    return (
        e.organisation.casefold(), _natural(e.indicator), e.country, e.sub_area, e.group,
        e.dataset, e.disaggregations,
    )  # fmt: skip


def summarise(entries: Iterable[StocktakeEntry]) -> list[OrganisationSummary]:
    """Per organisation: datasets, indicators and countries counted, groups, cells."""
    by_organisation: dict[str, list[StocktakeEntry]] = defaultdict(list)
    for entry in entries:
        by_organisation[entry.organisation].append(entry)
    return [
        OrganisationSummary(
            organisation=organisation,
            nodes=tuple(sorted({node for e in rows for node in e.nodes})),
            datasets=len({e.dataset for e in rows}),
            indicators=len({e.indicator for e in rows}),
            countries=len({e.country for e in rows}),
            groups=tuple(sorted({e.group for e in rows})),
            cell_count=sum(e.cell_count for e in rows),
            first_year=min(e.first_year for e in rows),
            latest_year=max(e.latest_year for e in rows),
        )
        for organisation, rows in sorted(by_organisation.items(), key=lambda i: i[0].casefold())
    ]


async def take_stock(
    federation: Federation,
    query: StocktakeQuery,
    reference: Reference,
    *,
    authorization: str | None,
) -> Stocktake:
    """Ask every node for its coverage and merge the answers by organisation."""
    answer = await federation.coverage(query.node_filter(), authorization=authorization)
    entries = merge_coverage(answer.items, reference, organisations=query.organisations)
    return Stocktake(entries=entries, organisations=summarise(entries), sources=answer.sources)


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
