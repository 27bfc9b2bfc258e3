"""The gap matrix as a heatmap: countries × groups, or (for one country) rows × groups.

For one frame row (an indicator, or a target at target level) each cell is that row's status.
Over several rows a country × group cell stands for all of them: it shows the status most of its
rows have (the worse one on a tie) and how many rows that is, and opens the country's own
matrix. Rows and groups are ordered largest gap first (most NO_DATA, then STALE, then
SINGLE_SOURCE rows), the order `federation.gaps.rank_gaps` uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup

from federation.gaps import GapAnalysis, GapCell, GapStatus
from service.reference import Reference
from service.web.svg import STATUS_NAMES, STATUS_SWATCHES, HeatCell, heatmap

WORST_FIRST = (GapStatus.NO_DATA, GapStatus.STALE, GapStatus.SINGLE_SOURCE, GapStatus.COVERED)
OFFICIAL_MARK = "◆"  # official statistics report this cell

CellLink = Callable[[GapCell], str]
PairLink = Callable[[str, str], str]


def gap_order(cells: Iterable[GapCell]) -> tuple[int, ...]:
    """Sort key, largest gap first: most NO_DATA, then STALE, then SINGLE_SOURCE."""
    tally = Counter(cell.status for cell in cells)
    return tuple(-tally[status] for status in WORST_FIRST[:3])


def ordered_by_gap(keys: Sequence[str], cells_of: Callable[[str], list[GapCell]]) -> list[str]:
    return sorted(keys, key=lambda key: (gap_order(cells_of(key)), keys.index(key)))


def group_label(reference: Reference, code: str) -> str:
    found = reference.codelist("GROUP").get(code)
    return code if found is None else f"{found.name} ({code})"


def country_label(reference: Reference, code: str) -> str:
    return f"{reference.country_name(code) or code} ({code})"


def cell_title(cell: GapCell, reference: Reference) -> str:
    who = ", ".join(cell.organisations) or "no organisation"
    latest = f", latest {cell.latest_year}" if cell.latest_year is not None else ""
    official = _official_text(cell)
    return (
        f"{cell.row} · {country_label(reference, cell.ref_area)} · "
        f"{group_label(reference, cell.group)}: {STATUS_NAMES[cell.status.value]} ({who}{latest})"
        f"{official}"
    )


def _official_text(cell: GapCell) -> str:
    if cell.official.reported:
        return "; official statistics report it"
    if cell.official.reported is False:
        return "; official statistics do not report it"
    return ""


def _label(cell: GapCell) -> str:
    short = STATUS_SWATCHES[cell.status.value].label
    return f"{short} {OFFICIAL_MARK}" if cell.official.reported else short


def row_matrix(analysis: GapAnalysis, country: str, reference: Reference, link: CellLink) -> Markup:
    """One country: the frame's rows × groups, each cell a link to its detail."""
    cells = [cell for cell in analysis.cells if cell.ref_area == country]
    by_row: dict[str, list[GapCell]] = {}
    by_group: dict[str, list[GapCell]] = {}
    for cell in cells:
        by_row.setdefault(cell.row, []).append(cell)
        by_group.setdefault(cell.group, []).append(cell)
    titles = {row.code: row.title for row in analysis.frame.rows}
    rows = ordered_by_gap([row.code for row in analysis.frame.rows], lambda r: by_row.get(r, []))
    groups = ordered_by_gap(list(analysis.frame.groups), lambda g: by_group.get(g, []))
    return heatmap(
        [(row, f"{row} {titles.get(row, '')}") for row in rows],
        [(group, group) for group in groups],
        {
            (cell.row, cell.group): HeatCell(
                cell.status.value, _label(cell), cell_title(cell, reference), link(cell)
            )
            for cell in cells
        },
        caption=f"Gap matrix for {country_label(reference, country)}: "
        f"{'targets' if analysis.frame.level == 'TARGET' else 'indicators'} by group, "
        "largest gaps first",
        titles=_group_titles(reference, groups),
        label_width=260,
    )


def country_matrix(
    analysis: GapAnalysis, reference: Reference, cell_link: CellLink, pair_link: PairLink
) -> Markup:
    """Countries × groups. One frame row: its status per cell (a link to the cell's detail).
    Several rows: the status most rows have, with their count (a link to that country)."""
    pairs: dict[tuple[str, str], list[GapCell]] = {}
    by_country: dict[str, list[GapCell]] = {}
    by_group: dict[str, list[GapCell]] = {}
    for cell in analysis.cells:
        pairs.setdefault((cell.ref_area, cell.group), []).append(cell)
        by_country.setdefault(cell.ref_area, []).append(cell)
        by_group.setdefault(cell.group, []).append(cell)
    countries = ordered_by_gap(list(analysis.frame.countries), lambda c: by_country.get(c, []))
    groups = ordered_by_gap(list(analysis.frame.groups), lambda g: by_group.get(g, []))
    single = len(analysis.frame.rows) == 1
    heat: dict[tuple[str, str], HeatCell] = {}
    for (country, group), cells in pairs.items():
        if single:
            cell = cells[0]
            heat[(country, group)] = HeatCell(
                cell.status.value, _label(cell), cell_title(cell, reference), cell_link(cell)
            )
        else:
            heat[(country, group)] = _summary_cell(cells, country, group, reference, pair_link)
    what = analysis.frame.rows[0].code if single else f"{len(analysis.frame.rows)} rows"
    return heatmap(
        [(country, country_label(reference, country)) for country in countries],
        [(group, group) for group in groups],
        heat,
        caption=f"Gap matrix, countries by group ({what}), largest gaps first",
        titles=_group_titles(reference, groups),
    )


def goal_matrix(
    analysis: GapAnalysis, country: str, reference: Reference, link: PairLink
) -> Markup:
    """One country over many rows: goals × groups, each cell summing the goal's rows (the
    status most have, and how many), a link to that goal's own matrix for the country."""
    by_goal: dict[str, list[GapCell]] = {}
    pairs: dict[tuple[str, str], list[GapCell]] = {}
    by_group: dict[str, list[GapCell]] = {}
    for cell in analysis.cells:
        if cell.ref_area != country:
            continue
        goal = row_goal(cell.row)
        by_goal.setdefault(goal, []).append(cell)
        by_group.setdefault(cell.group, []).append(cell)
        pairs.setdefault((goal, cell.group), []).append(cell)
    titles = {goal.code: f"{goal.code}. {goal.title}" for goal in reference.goals}
    goals = ordered_by_gap(list(by_goal), lambda g: by_goal[g])
    groups = ordered_by_gap(list(analysis.frame.groups), lambda g: by_group.get(g, []))
    heat = {
        (goal, group): _summary(cells, f"{titles.get(goal, goal)} · "
                                f"{group_label(reference, group)}", link(goal, group))
        for (goal, group), cells in pairs.items()
    }  # fmt: skip
    return heatmap(
        [(goal, _short_title(titles.get(goal, goal))) for goal in goals],
        [(group, group) for group in groups],
        heat,
        caption=f"Gap matrix for {country_label(reference, country)}: goals by group "
        "(rows without data of all rows), largest gaps first",
        titles={**_group_titles(reference, groups), **titles},
        label_width=260,
    )


def row_goal(row: str) -> str:
    """The goal of an indicator or target code (`1.4.1` and `1.4` → `1`)."""
    return row.split(".", 1)[0]


def _short_title(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


def _group_titles(reference: Reference, groups: Iterable[str]) -> dict[str, str]:
    return {group: group_label(reference, group) for group in groups}


def _summary_cell(
    cells: list[GapCell], country: str, group: str, reference: Reference, link: PairLink
) -> HeatCell:
    where = f"{country_label(reference, country)} · {group_label(reference, group)}"
    return _summary(cells, where, link(country, group))


def _summary(cells: list[GapCell], where: str, href: str) -> HeatCell:
    """Many rows in one cell: the status most rows have (the worse on a tie), with its count."""
    tally = Counter(cell.status for cell in cells)
    status = max(WORST_FIRST, key=lambda s: (tally[s], -WORST_FIRST.index(s)))
    counts = ", ".join(
        f"{STATUS_NAMES[s.value].lower()} {tally[s]}" for s in WORST_FIRST if tally[s]
    )
    title = f"{where}: {counts} (of {len(cells)} rows)"
    return HeatCell(status.value, f"{tally[status]}/{len(cells)}", title, href)
