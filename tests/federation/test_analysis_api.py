"""gapAnalysis and compare through a real coordinator over real demo nodes on loopback ports:
the GraphQL answer equals the plain functions' answer on the same coverage and cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from federation.compare import Comparison, compare, fetch_rules, observation_filter
from federation.frames import build_frame, coverage_filter
from federation.gaps import GapAnalysis, analyse_gaps
from federation.official import load_official_file, read_official_table
from service.reference import load_reference
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
    coordinator_client,
    coordinator_settings,
    federation_over,
    register_url,
)

GAP_ANALYSIS = """query Gaps($countries: [String!], $indicators: [String!], $level: FrameLevel!,
                       $statuses: [GapStatus!]) {
  gapAnalysis(countries: $countries, indicators: $indicators, level: $level, asOfYear: 2026,
              statuses: $statuses) {
    level asOfYear staleAfterYears officialTableLoaded rows countries groups
    cells {
      row refArea group status latestYear organisations
      sources { organisation nodes datasets indicators breakdowns cellCount firstYear
                latestYear stale valuesVisible subNationalOnly }
      official { reported reportedDimensions sources latestYear expected expectedDimensions note }
      indicators { indicator status }
    }
    byCountry { key noData stale singleSource covered total }
    byGroup { key noData stale singleSource covered total }
    largestGaps { refArea group noData stale singleSource covered rowsWithoutData }
    sources { nodeId organisation status message }
  }
}"""
COMPARE = """query Compare($indicator: String!, $refArea: String!, $breakdown: [String!],
                         $period: String) {
  compare(indicator: $indicator, refArea: $refArea, breakdown: $breakdown, period: $period) {
    indicator refArea breakdown period threshold
    cells { organisation nodeId dataset series timePeriod unit value n suppressed
            suppressionReason }
    pooled { timePeriod unit series method organisations contributions value low high n
             suppressed suppressionReason threshold notes }
    notPooled { timePeriod reason }
    warnings
    sources { nodeId status }
  }
}"""
OFFICIAL = """indicator,ref_area,dimension,codes,source,latest_year
1.3.1,BGD,SEX,F;M,BBS,2022
1.3.1,BGD,DISABILITY_STATUS,PD;PWD,BBS,2022
5.2.1,NPL,_T,,CBS,2016
"""
COUNTRIES = ["BGD", "KEN", "NPL"]
INDICATORS = ["1.3.1", "1.4.2", "5.2.1", "8.5.2", "16.7.2"]


async def ask(
    client: httpx.AsyncClient, query: str, authorization: str | None = None, **variables: Any
) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def expected_gaps(analysis: GapAnalysis) -> dict[str, Any]:
    """The plain answer written the way the GraphQL answer reads."""

    def counts(items: Any) -> list[dict[str, object]]:
        return [
            {
                "key": c.key,
                "noData": c.no_data,
                "stale": c.stale,
                "singleSource": c.single_source,
                "covered": c.covered,
                "total": c.total,
            }
            for c in items
        ]

    return {
        "level": analysis.frame.level,
        "asOfYear": analysis.as_of_year,
        "staleAfterYears": analysis.stale_after_years,
        "officialTableLoaded": analysis.official_table_loaded,
        "rows": [row.code for row in analysis.frame.rows],
        "countries": list(analysis.frame.countries),
        "groups": list(analysis.frame.groups),
        "cells": [
            {
                "row": cell.row,
                "refArea": cell.ref_area,
                "group": cell.group,
                "status": cell.status.value,
                "latestYear": cell.latest_year,
                "organisations": list(cell.organisations),
                "sources": [
                    {
                        "organisation": s.organisation,
                        "nodes": list(s.node_ids),
                        "datasets": list(s.datasets),
                        "indicators": list(s.indicators),
                        "breakdowns": list(s.breakdowns),
                        "cellCount": s.cell_count,
                        "firstYear": s.first_year,
                        "latestYear": s.latest_year,
                        "stale": s.stale,
                        "valuesVisible": s.values_visible,
                        "subNationalOnly": s.sub_national_only,
                    }
                    for s in cell.sources
                ],
                "official": {
                    "reported": cell.official.reported,
                    "reportedDimensions": list(cell.official.reported_dimensions),
                    "sources": list(cell.official.sources),
                    "latestYear": cell.official.latest_year,
                    "expected": cell.official.expected,
                    "expectedDimensions": list(cell.official.expected_dimensions),
                    "note": cell.official.note,
                },
                "indicators": [
                    {"indicator": code, "status": status.value} for code, status in cell.indicators
                ],
            }
            for cell in analysis.cells
        ],
        "byCountry": counts(analysis.by_country),
        "byGroup": counts(analysis.by_group),
        "largestGaps": [
            {
                "refArea": g.ref_area,
                "group": g.group,
                "noData": g.counts.no_data,
                "stale": g.counts.stale,
                "singleSource": g.counts.single_source,
                "covered": g.counts.covered,
                "rowsWithoutData": list(g.rows),
            }
            for g in analysis.largest_gaps
        ],
    }


def expected_comparison(result: Comparison) -> dict[str, Any]:
    return {
        "indicator": result.indicator,
        "refArea": result.ref_area,
        "breakdown": [f"{d}={c}" for d, c in result.breakdown],
        "period": result.period,
        "threshold": result.threshold,
        "cells": [
            {
                "organisation": c.organisation,
                "nodeId": c.node_id,
                "dataset": c.dataset,
                "series": c.series,
                "timePeriod": c.time_period,
                "unit": c.unit,
                "value": c.value,
                "n": c.n,
                "suppressed": c.suppressed,
                "suppressionReason": c.suppression_reason,
            }
            for c in result.contributions
        ],
        "pooled": [
            {
                "timePeriod": p.time_period,
                "unit": p.unit,
                "series": p.series,
                "method": p.method,
                "organisations": list(p.organisations),
                "contributions": p.contributions,
                "value": p.value,
                "low": p.low,
                "high": p.high,
                "n": p.n,
                "suppressed": p.suppressed,
                "suppressionReason": p.suppression_reason,
                "threshold": p.threshold,
                "notes": list(p.notes),
            }
            for p in result.pooled
        ],
        "notPooled": [{"timePeriod": x.time_period, "reason": x.reason} for x in result.not_pooled],
        "warnings": list(result.warnings),
    }


async def plain_gaps(
    sessions: sessionmaker[Session], authorization: str | None, level: str
) -> GapAnalysis:
    reference = load_reference()
    frame = build_frame(reference, countries=COUNTRIES, indicators=INDICATORS, level=level)  # type: ignore[arg-type]
    async with federation_over(sessions) as federation:
        answer = await federation.coverage(
            coverage_filter(reference, frame.rows, countries=COUNTRIES, groups=frame.groups),
            authorization=authorization,
        )
    assert {source.status for source in answer.sources} == {"OK"}
    with sessions() as session:
        table = read_official_table(session)
    return analyse_gaps(frame, answer.items, reference, official=table, as_of_year=2026)


async def test_gap_analysis_equals_the_plain_analysis(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
    tmp_path: Path,
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    path = tmp_path / "official.csv"
    path.write_text(OFFICIAL, encoding="utf-8")
    with sessions() as session:
        load_official_file(session, path, load_reference())

    settings = coordinator_settings(database_url)
    answers: dict[tuple[str | None, str], dict[str, Any]] = {}
    async with coordinator_client(settings, coordinator_engine) as client:
        for token in (OWNER_TOKEN, None):
            for level in ("INDICATOR", "TARGET"):
                data = await ask(
                    client,
                    GAP_ANALYSIS,
                    token,
                    countries=COUNTRIES,
                    indicators=INDICATORS,
                    level=level,
                )
                answers[token, level] = data["gapAnalysis"]
        only_gaps = await ask(
            client,
            GAP_ANALYSIS,
            OWNER_TOKEN,
            countries=COUNTRIES,
            indicators=INDICATORS,
            level="INDICATOR",
            statuses=["NO_DATA", "STALE"],
        )

    for (token, level), answer in answers.items():
        sources = answer.pop("sources")
        assert {(s["nodeId"], s["status"]) for s in sources} == {
            ("riverbend", "OK"),
            ("lantern", "OK"),
        }
        assert answer == expected_gaps(await plain_gaps(sessions, token, level))

    owner = {
        (c["row"], c["refArea"], c["group"]): c for c in answers[OWNER_TOKEN, "INDICATOR"]["cells"]
    }
    public = {(c["row"], c["refArea"], c["group"]): c for c in answers[None, "INDICATOR"]["cells"]}
    # Designed into the demo data: old intimate partner violence rounds the coalition may
    # discover; a public caller cannot know they exist.
    assert owner["5.2.1", "BGD", "_T"]["status"] == "STALE"
    assert public["5.2.1", "BGD", "_T"]["status"] == "NO_DATA"
    assert owner["1.3.1", "BGD", "_T"]["status"] == "COVERED"
    assert owner["1.3.1", "BGD", "PWD"]["official"]["reported"] is True
    assert owner["1.3.1", "KEN", "_T"]["official"]["reported"] is False
    assert answers[OWNER_TOKEN, "INDICATOR"]["officialTableLoaded"] is True
    assert {c["status"] for c in only_gaps["gapAnalysis"]["cells"]} == {"NO_DATA", "STALE"}
    assert only_gaps["gapAnalysis"]["byCountry"] == answers[OWNER_TOKEN, "INDICATOR"]["byCountry"]


async def test_compare_equals_the_plain_comparison(
    database_url: str,
    coordinator_engine: Engine,
    sessions: sessionmaker[Session],
    demo_nodes: list[RunningNode],
) -> None:
    for node in demo_nodes:
        await register_url(sessions, node.url)
    questions: list[dict[str, Any]] = [
        {"indicator": "1.3.1", "refArea": "BGD", "breakdown": ["SEX=F"], "period": "2024"},
        {"indicator": "1.3.1", "refArea": "NPL", "breakdown": [], "period": "2024"},
        {"indicator": "8.5.2", "refArea": "BGD", "breakdown": [], "period": None},
    ]
    settings = coordinator_settings(database_url)
    async with coordinator_client(settings, coordinator_engine) as client:
        answers = [
            (token, question, (await ask(client, COMPARE, token, **question))["compare"])
            for token in (OWNER_TOKEN, None)
            for question in questions
        ]

    reference = load_reference()
    async with federation_over(sessions) as federation:
        for token, question, answer in answers:
            observed = await federation.observations(
                observation_filter(
                    reference,
                    indicator=question["indicator"],
                    ref_area=question["refArea"],
                    period=question["period"],
                ),
                authorization=token,
            )
            rules = await fetch_rules(federation, authorization=token)
            plain = compare(
                observed.items,
                reference,
                indicator=question["indicator"],
                ref_area=question["refArea"],
                breakdown=question["breakdown"],
                period=question["period"],
                rules={r.node_id: r for r in rules.items},
            )
            assert {s["status"] for s in answer.pop("sources")} == {"OK"}
            assert answer == expected_comparison(plain), question

    owner_bgd = answers[0][2]
    assert [p["organisations"] for p in owner_bgd["pooled"]] == [
        ["Lantern Livelihoods Network", "Riverbend Inclusion Collective"]
    ]
    assert owner_bgd["pooled"][0]["method"] == "n-weighted mean of percentages"
    assert owner_bgd["threshold"] == 1  # the owner everywhere
    assert answers[3][2]["threshold"] == 10  # a public caller
    # Unemployment: two sources, different series: side by side, never pooled.
    unemployment = answers[2][2]
    assert unemployment["pooled"] == []
    assert any("definitions differ" in x["reason"] for x in unemployment["notPooled"])


async def test_bad_questions_are_refused_with_a_code(
    database_url: str, coordinator_engine: Engine
) -> None:
    async with coordinator_client(coordinator_settings(database_url), coordinator_engine) as c:
        for query, variables in [
            (COMPARE, {"indicator": "1.3.9", "refArea": "KEN"}),
            (COMPARE, {"indicator": "1.3.1", "refArea": "KEN", "breakdown": ["SEX"]}),
            (GAP_ANALYSIS, {"countries": ["KENYA"], "level": "INDICATOR"}),
        ]:
            response = await c.post("/graphql", json={"query": query, "variables": variables})
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST", body
