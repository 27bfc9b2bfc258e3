"""The coordinator's CSV downloads: the stocktake and the gap analysis, the same questions as
GraphQL asks, with URL parameters instead of arguments.

Each node's status travels in the `LNOB-Sources` header (`node=STATUS, …`), so the CSV body
stays one table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from federation.gaps import DEFAULT_STALE_AFTER_YEARS, GapStatus
from federation.stocktake import (
    ParamLists,
    StocktakeQuery,
    csv_lines,
    csv_safe,
    csv_text,
    param_codes,
    param_year,
    sources_header,
    take_stock,
)
from schema.coordinator_context import CoordinatorContext
from service.errors import BadRequest, LnobError
from service.http_errors import error_response, internal_error, json_response, status_for

logger = logging.getLogger(__name__)

GAPS_QUERY = """query Gaps(
  $goals: [String!], $targets: [String!], $indicators: [String!], $countries: [String!],
  $groups: [String!], $level: FrameLevel!, $staleAfterYears: Int!, $asOfYear: Int,
  $statuses: [GapStatus!]
) {
  gapAnalysis(
    goals: $goals, targets: $targets, indicators: $indicators, countries: $countries,
    groups: $groups, level: $level, staleAfterYears: $staleAfterYears, asOfYear: $asOfYear,
    statuses: $statuses
  ) {
    asOfYear staleAfterYears officialTableLoaded
    cells {
      row refArea group status latestYear organisations
      official { reported expected sources latestYear }
    }
    sources { nodeId organisation url status latencyMs message }
  }
}"""

GAPS_CSV_COLUMNS = (
    "row", "country", "group", "status", "latest_year", "organisations", "official_reported",
    "official_expected", "official_sources", "official_latest_year",
)  # fmt: skip


def gaps_variables(get_list: ParamLists) -> dict[str, object]:
    """The gapAnalysis arguments from URL parameters: `goal`, `target`, `indicator`, `country`,
    `group`, `status` (repeated or comma-separated), `level`, `stale_after`, `as_of`."""
    variables: dict[str, object] = {}
    for parameter, argument in (
        ("goal", "goals"), ("target", "targets"), ("indicator", "indicators"),
        ("country", "countries"), ("group", "groups"),
    ):  # fmt: skip
        codes = param_codes(get_list, parameter)
        if codes:
            variables[argument] = list(codes)
    statuses = [status.upper() for status in param_codes(get_list, "status")]
    unknown = [status for status in statuses if status not in GapStatus.__members__]
    if unknown:
        raise BadRequest(
            f"`status` must be one of {', '.join(GapStatus.__members__)}, not {unknown[0][:20]!r}"
        )
    if statuses:
        variables["statuses"] = statuses
    level = (get_list("level") or ["INDICATOR"])[-1].strip().upper() or "INDICATOR"
    if level not in ("INDICATOR", "TARGET"):
        raise BadRequest(f"`level` must be INDICATOR or TARGET, not {level[:20]!r}")
    variables["level"] = level
    stale = (get_list("stale_after") or [""])[-1].strip()
    if stale and not stale.isdigit():
        raise BadRequest(f"`stale_after` must be a number of years, not {stale[:20]!r}")
    variables["staleAfterYears"] = int(stale) if stale else DEFAULT_STALE_AFTER_YEARS
    variables["asOfYear"] = param_year(get_list, "as_of")
    return variables


def _flag(value: object) -> str:
    return "" if value is None else ("true" if value else "false")


def _gap_row(cell: Mapping[str, Any]) -> list[object]:
    official = cell["official"]
    return [
        cell["row"], csv_safe(cell["refArea"]), csv_safe(cell["group"]), cell["status"],
        "" if cell["latestYear"] is None else cell["latestYear"],
        ";".join(csv_safe(o) for o in cell["organisations"]), _flag(official["reported"]),
        _flag(official["expected"]), ";".join(csv_safe(s) for s in official["sources"]),
        "" if official["latestYear"] is None else official["latestYear"],
    ]  # fmt: skip


def gaps_csv_lines(cells: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Gap-analysis cells (as the gapAnalysis query returns them) as CSV, a header first."""
    return csv_text(GAPS_CSV_COLUMNS, (_gap_row(cell) for cell in cells))


def _csv_response(lines: Iterable[str], filename: str, sources: str) -> Response:
    return Response(
        "".join(lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "LNOB-Sources": sources,
        },
    )


async def stocktake_download(request: Request, ctx: CoordinatorContext) -> Response:
    """GET /download/stocktake.csv"""
    try:
        query = StocktakeQuery.from_params(request.query_params.getlist)
        result = await take_stock(
            ctx.federation, query, ctx.reference, authorization=ctx.authorization
        )
    except LnobError as exc:
        return error_response(exc, status_for(exc), "application/json")
    return _csv_response(csv_lines(result.entries), "stocktake.csv", sources_header(result.sources))


async def gaps_download(
    request: Request, ctx: CoordinatorContext, schema: strawberry.Schema
) -> Response:
    """GET /download/gaps.csv: the gapAnalysis query's own answer, so both can never differ."""
    try:
        variables = gaps_variables(request.query_params.getlist)
    except LnobError as exc:
        return error_response(exc, status_for(exc), "application/json")
    result = await schema.execute(GAPS_QUERY, variable_values=variables, context_value=ctx)
    if result.errors:
        first = result.errors[0]
        cause = first.original_error
        if isinstance(cause, LnobError):
            return error_response(cause, status_for(cause), "application/json")
        if cause is None or isinstance(cause, GraphQLError):  # parameters the query refused
            body = {"errors": [{"message": first.message, "extensions": {"code": "BAD_REQUEST"}}]}
            return json_response(body, 400, "application/json")
        logger.error("gap analysis download failed", exc_info=cause)
        return json_response({"errors": [internal_error()]}, 500, "application/json")
    assert result.data is not None
    analysis = result.data["gapAnalysis"]
    sources = ", ".join(f"{s['nodeId']}={s['status']}" for s in analysis["sources"])
    return _csv_response(gaps_csv_lines(analysis["cells"]), "gaps.csv", sources)
