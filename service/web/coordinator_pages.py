"""The coordinator's dashboard pages: overview, gap matrix (and a cell's detail), stocktake,
compare. Each page asks the same plain functions as the GraphQL resolvers, with the signed-in
person's token, so it shows exactly what the API would show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from federation import analysis
from federation.fanout import FederatedCell
from federation.gaps import DEFAULT_STALE_AFTER_YEARS, GapAnalysis, GapCell
from federation.stocktake import StocktakeQuery, param_codes, param_year, take_stock
from service.errors import BadRequest
from service.reference import Reference
from service.web import gap_matrix
from service.web.signin import authorization_header
from service.web.svg import STATUS_NAMES, STATUS_SWATCHES, Bar, bar_chart
from service.web.templating import NavLink, query_string, render

if TYPE_CHECKING:
    from service.coordinator_app import CoordinatorState

NAV = (
    NavLink("/", "Overview"),
    NavLink("/gaps", "Gap matrix"),
    NavLink("/stocktake", "Stocktake"),
    NavLink("/compare", "Compare"),
)
TITLE = "LNOB data federation"
MAX_TABLE_ROWS = 500  # the stocktake table shows this many; the CSV has them all
BREAKDOWN_DIMENSIONS = (
    ("SEX", "sex"),
    ("AGE", "age"),
    ("DISABILITY_STATUS", "disability_status"),
    ("URBANISATION", "urbanisation"),
    ("INCOME_WEALTH_QUANTILE", "income_wealth_quantile"),
    ("GROUP", "group"),
)


def state_of(request: Request) -> CoordinatorState:
    state: CoordinatorState = request.app.state.coordinator
    return state


def routes() -> list[Route]:
    return [
        Route("/", overview, name="overview"),
        Route("/gaps", gaps_page, name="gaps"),
        Route("/gaps/cell", gap_cell_page, name="gap_cell"),
        Route("/stocktake", stocktake_page, name="stocktake"),
        Route("/compare", compare_page, name="compare"),
    ]


def _bad_request(request: Request, exc: BadRequest) -> Response:
    context = {"heading": "That question cannot be answered", "message": str(exc), "retry": False}
    return render(request, "message.html", context, status_code=400)


def _choices(reference: Reference) -> dict[str, Any]:
    return {
        "goals": reference.goals,
        "targets": reference.targets,
        "indicators": reference.indicators,
        "groups": [(code.code, code.name) for code in reference.codelist("GROUP")],
    }


def _one(request: Request, name: str) -> str:
    return (request.query_params.get(name) or "").strip()


# --- overview -------------------------------------------------------------------------------


async def overview(request: Request) -> Response:
    state = state_of(request)
    result = await take_stock(
        state.federation,
        StocktakeQuery(),
        state.reference,
        authorization=authorization_header(request),
    )
    entries = result.entries
    countries: dict[str, set[str]] = {}
    for entry in entries:
        countries.setdefault(entry.country, set()).add(entry.organisation)
    context = {
        "sources": result.sources,
        "organisations": result.organisations,
        "totals": {
            "datasets": len({(e.organisation, e.dataset) for e in entries}),
            "indicators": len({e.indicator for e in entries}),
            "countries": len(countries),
            "groups": len({e.group for e in entries}),
            "cells": sum(e.cell_count for e in entries),
        },
        "countries": [
            (code, gap_matrix.country_label(state.reference, code), sorted(orgs))
            for code, orgs in sorted(countries.items())
            if state.reference.is_country(code)
        ],
    }
    return render(request, "coordinator/overview.html", context)


# --- gap matrix -----------------------------------------------------------------------------


def gap_question(request: Request, *, largest: int = 10) -> analysis.GapQuestion:
    """The gap analysis a page's URL asks: goal, target, indicator, country, group (each
    repeatable or comma-separated), level, stale_after, as_of."""
    get = request.query_params.getlist

    def codes(name: str) -> list[str] | None:
        found = param_codes(get, name)
        return list(found) if found else None

    level = _one(request, "level").upper() or "INDICATOR"
    if level not in ("INDICATOR", "TARGET"):
        raise BadRequest(f"`level` must be INDICATOR or TARGET, not {level[:20]!r}")
    stale = _one(request, "stale_after")
    if stale and not stale.isdigit():
        raise BadRequest(f"`stale_after` must be a number of years, not {stale[:20]!r}")
    return analysis.GapQuestion(
        goals=codes("goal"),
        targets=codes("target"),
        indicators=codes("indicator"),
        countries=codes("country"),
        groups=codes("group"),
        level="TARGET" if level == "TARGET" else "INDICATOR",
        stale_after_years=int(stale) if stale else DEFAULT_STALE_AFTER_YEARS,
        as_of_year=param_year(get, "as_of"),
        largest=largest,
    )


def _gap_params(request: Request) -> dict[str, object]:
    names = ("goal", "target", "indicator", "country", "group", "level", "stale_after", "as_of")
    return {name: request.query_params.getlist(name) for name in names}


async def gaps_page(request: Request) -> Response:
    state = state_of(request)
    try:
        question = gap_question(request)
        answer = await analysis.analyse(
            state.federation,
            state.reference,
            state.sessions,
            question,
            authorization=authorization_header(request),
        )
    except BadRequest as exc:
        return _bad_request(request, exc)
    result = answer.analysis
    params = _gap_params(request)
    reference = state.reference

    def cell_link(cell: GapCell) -> str:
        keep = {k: params[k] for k in ("level", "stale_after", "as_of")}
        return "/gaps/cell" + query_string(
            keep, row=cell.row, country=cell.ref_area, group=cell.group
        )

    def pair_link(country: str, group: str) -> str:
        return "/gaps" + query_string(params, country=country, group=None)

    def goal_link(goal: str, group: str) -> str:
        return "/gaps" + query_string(params, goal=goal, group=None)

    countries = result.frame.countries
    whole_framework = not (question.goals or question.targets or question.indicators)
    if len(countries) == 1 and whole_framework:
        picture = gap_matrix.goal_matrix(result, countries[0], reference, goal_link)
    elif len(countries) == 1 and len(result.frame.rows) > 1:
        picture = gap_matrix.row_matrix(result, countries[0], reference, cell_link)
    elif countries:
        picture = gap_matrix.country_matrix(result, reference, cell_link, pair_link)
    else:
        picture = None
    context = {
        **_choices(reference),
        "params": params,
        "chosen": {
            name: (request.query_params.getlist(name) or [""])[0]
            for name in ("goal", "target", "indicator", "country", "group", "level")
        },
        "country_options": _country_options(reference, answer.coverage.items, countries),
        "analysis": result,
        "picture": picture,
        "largest": [
            (
                gap,
                gap_matrix.country_label(reference, gap.ref_area),
                gap_matrix.group_label(reference, gap.group),
            )
            for gap in result.largest_gaps
        ],
        "statuses": [(s, STATUS_NAMES[s], STATUS_SWATCHES[s].label) for s in STATUS_NAMES],
        "official_mark": gap_matrix.OFFICIAL_MARK,
        "counts": _status_totals(result),
        "sources": answer.coverage.sources,
        "csv_link": "/download/gaps.csv" + query_string(params),
        "single_country": countries[0] if len(countries) == 1 else None,
        "country_name": (
            gap_matrix.country_label(reference, countries[0]) if len(countries) == 1 else None
        ),
    }
    return render(request, "coordinator/gaps.html", context)


def _country_options(
    reference: Reference, coverage: Sequence[Any], chosen: Sequence[str]
) -> list[tuple[str, str]]:
    codes = {item.ref_area for item in coverage} | set(chosen)
    return sorted(
        ((code, gap_matrix.country_label(reference, code)) for code in codes
         if reference.is_country(code)),
        key=lambda pair: pair[1],
    )  # fmt: skip


def _status_totals(result: GapAnalysis) -> dict[str, int]:
    totals = dict.fromkeys(STATUS_NAMES, 0)
    for cell in result.cells:
        totals[cell.status.value] += 1
    return totals


async def gap_cell_page(request: Request) -> Response:
    state = state_of(request)
    row, country, group = _one(request, "row"), _one(request, "country"), _one(request, "group")
    if not (row and country and group):
        return _bad_request(request, BadRequest("a cell needs `row`, `country` and `group`"))
    authorization = authorization_header(request)
    try:
        base = gap_question(request)
        target_level = base.level == "TARGET"
        question = analysis.GapQuestion(
            targets=[row] if target_level else None,
            indicators=None if target_level else [row],
            countries=[country],
            groups=[group],
            level=base.level,
            stale_after_years=base.stale_after_years,
            as_of_year=base.as_of_year,
        )
        answer = await analysis.analyse(
            state.federation, state.reference, state.sessions, question,
            authorization=authorization,
        )  # fmt: skip
    except BadRequest as exc:
        return _bad_request(request, exc)
    datasets = await analysis.datasets(state.federation, authorization=authorization)
    described = {(d.node_id, d.slug): d for d in datasets.items}
    cell = answer.analysis.cells[0]
    sources = [
        (
            source,
            [
                described.get((node, slug))
                for slug in source.datasets
                for node in source.node_ids
                if (node, slug) in described
            ],
        )
        for source in cell.sources
    ]
    reference = state.reference
    context = {
        "cell": cell,
        "row_title": answer.analysis.frame.rows[0].title,
        "country_name": gap_matrix.country_label(reference, country),
        "group_name": gap_matrix.group_label(reference, group),
        "status_name": STATUS_NAMES[cell.status.value],
        "cell_sources": sources,
        "as_of_year": answer.analysis.as_of_year,
        "stale_after": answer.analysis.stale_after_years,
        "sources": analysis.merged_sources(answer.coverage, datasets),
        "compare_indicator": None if target_level else row,
        "back": "/gaps" + query_string({"country": country}),
    }
    return render(request, "coordinator/gap_cell.html", context)


# --- stocktake ------------------------------------------------------------------------------


STOCKTAKE_PARAMS = ("goal", "target", "indicator", "country", "group", "organisation", "from", "to")


async def stocktake_page(request: Request) -> Response:
    state = state_of(request)
    try:
        query = StocktakeQuery.from_params(request.query_params.getlist)
        result = await take_stock(
            state.federation, query, state.reference, authorization=authorization_header(request)
        )
    except BadRequest as exc:
        return _bad_request(request, exc)
    params = {name: request.query_params.getlist(name) for name in STOCKTAKE_PARAMS}
    context = {
        **_choices(state.reference),
        "params": params,
        "chosen": {name: (params[name] or [""])[0] for name in STOCKTAKE_PARAMS},
        "country_options": _country_options(
            state.reference, [], [e.country for e in result.entries] + list(query.countries)
        ),
        "entries": result.entries[:MAX_TABLE_ROWS],
        "total_entries": len(result.entries),
        "organisations": result.organisations,
        "sources": result.sources,
        "csv_link": "/download/stocktake.csv" + query_string(params),
        "filtered": any(params.values()),
    }
    return render(request, "coordinator/stocktake.html", context)


# --- compare --------------------------------------------------------------------------------


def breakdown_of(cell: FederatedCell) -> list[str]:
    """The cell's breakdown as DIMENSION=CODE items (totals left out)."""
    return [
        f"{dimension}={getattr(cell, field)}"
        for dimension, field in BREAKDOWN_DIMENSIONS
        if getattr(cell, field) != "_T"
    ]


async def compare_page(request: Request) -> Response:
    state = state_of(request)
    reference = state.reference
    indicator, country = _one(request, "indicator"), _one(request, "country").upper()
    breakdown = [b for b in param_codes(request.query_params.getlist, "breakdown")]
    period = _one(request, "period") or None
    context: dict[str, Any] = {
        **_choices(reference),
        "chosen": {"indicator": indicator, "country": country, "period": period or ""},
        "chosen_breakdown": "+".join(breakdown),
        "country_options": _country_options(reference, [], [country] if country else []),
        "result": None,
    }
    if not (indicator and country):
        return render(request, "coordinator/compare.html", context)
    try:
        answer = await analysis.compare(
            state.federation, reference, indicator=indicator, ref_area=country,
            breakdown=breakdown, period=period, authorization=authorization_header(request),
        )  # fmt: skip
    except BadRequest as exc:
        return _bad_request(request, exc)
    result = answer.comparison
    available = sorted(
        {"+".join(breakdown_of(cell)) for cell in answer.observed.items if not cell.sub_area}
    )
    unit = result.contributions[0].unit if result.contributions else ""
    known = reference.indicator(reference.normalise_indicator(indicator) or indicator)
    bars = [
        Bar(
            label=f"{c.time_period} · {c.organisation}",
            value=c.value,
            suppressed=c.suppressed,
            note=(c.suppression_reason or "") if c.suppressed else (f"n={c.n}" if c.n else ""),
        )
        for c in result.contributions
    ]
    pooled_bars = [
        Bar(
            label=f"{p.time_period} · pooled",
            value=p.value,
            low=None if p.value is not None else p.low,
            high=p.high,
            suppressed=p.suppressed,
            note=p.suppression_reason or p.method,
        )
        for p in result.pooled
    ]
    context.update(
        result=result,
        available=available,
        country_name=gap_matrix.country_label(reference, country),
        indicator_title=known.title if known is not None else "",
        chart=bar_chart(
            bars + pooled_bars,
            caption=f"{indicator} in {country}: each organisation's figure, then pooled",
            unit=unit,
            width=720,
            value_width=260,
        )
        if bars
        else None,
        sources=answer.observed.sources,
        unit=unit,
    )
    context["country_options"] = _country_options(reference, answer.observed.items, [country])
    return render(request, "coordinator/compare.html", context)
