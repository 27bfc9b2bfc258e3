"""The coordinator's pages in real headless Chromium: the gap matrix agrees with GraphQL, the
stocktake filters change the table, the largest gaps of a country are three clicks away, every
control is reachable by keyboard and labelled, and each page is saved as a screenshot."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from playwright.sync_api import Page, expect

from service.web.coordinator_pages import MAX_TABLE_ROWS
from tests.web.conftest import WebFederation, save_screenshot

GAPS = """query Gaps($goals: [String!], $indicators: [String!], $countries: [String!]) {
  gapAnalysis(goals: $goals, indicators: $indicators, countries: $countries,
              largestGapsLimit: 10) {
    cells { row refArea group status }
    largestGaps { refArea group noData stale singleSource }
  }
}"""
STOCKTAKE = """query Stocktake($filter: StocktakeFilter) {
  stocktake(filter: $filter) { entries { organisation dataset indicator country group } }
}"""
STATUSES = ("NO_DATA", "STALE", "SINGLE_SOURCE", "COVERED")


def gaps(web: WebFederation, **variables: Any) -> dict[str, Any]:
    data: dict[str, Any] = web.graphql(GAPS, variables)["gapAnalysis"]  # type: ignore[assignment]
    return data


def test_screenshots_of_each_page(web_federation: WebFederation, page: Page,
                                  phone_page: Page) -> None:  # fmt: skip
    for name, path in [
        ("overview", "/"),
        ("gaps", "/gaps?goal=1"),
        ("gaps-country", "/gaps?country=KEN"),
        ("gap-cell", "/gaps/cell?row=1.3.1&country=KEN&group=_T"),
        ("stocktake", "/stocktake?country=KEN"),
        ("compare", "/compare?indicator=1.3.1&country=KEN&breakdown=SEX%3DF"),
    ]:
        page.goto(web_federation.url + path)
        expect(page.locator("h1")).to_be_visible()
        save_screenshot(page, name)
    phone_page.goto(web_federation.url + "/gaps?country=KEN")
    expect(phone_page.locator("h1")).to_be_visible()
    # On a phone the page itself never scrolls sideways; only the matrix does, in its box.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, width
    save_screenshot(phone_page, "gaps-country-phone")


def test_the_gap_matrix_shows_the_graphql_counts(web_federation: WebFederation,
                                                  page: Page) -> None:  # fmt: skip
    # One indicator: one heatmap cell per country × group, coloured by its own status.
    answer = gaps(web_federation, indicators=["1.3.1"])
    expected = Counter(cell["status"] for cell in answer["cells"])
    assert expected["NO_DATA"] and len(expected) > 1  # the question has gaps and data
    page.goto(web_federation.url + "/gaps?indicator=1.3.1")
    shown = Counter(
        page.locator("svg.heatmap .cell").evaluate_all("cells => cells.map(c => c.dataset.status)")
    )
    assert shown == expected
    for status in STATUSES:
        assert page.locator(f"#count-{status}").inner_text() == str(expected[status])
    # A whole goal: the legend counts every frame cell, as GraphQL does.
    answer = gaps(web_federation, goals=["1"])
    expected = Counter(cell["status"] for cell in answer["cells"])
    page.goto(web_federation.url + "/gaps?goal=1")
    for status in STATUSES:
        assert page.locator(f"#count-{status}").inner_text() == str(expected[status])


def test_stocktake_filters_change_the_table(web_federation: WebFederation, page: Page) -> None:
    def shown_rows() -> list[tuple[str, ...]]:
        rows = page.locator("#stocktake-table tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
        )
        return [(r[0], r[1], r[2], r[3], r[5]) for r in rows]

    def graphql_rows(filter: dict[str, Any] | None) -> list[tuple[str, ...]]:
        data: Any = web_federation.graphql(STOCKTAKE, {"filter": filter})
        return [
            (e["organisation"], e["dataset"], e["indicator"], e["country"], e["group"])
            for e in data["stocktake"]["entries"]
        ]

    page.goto(web_federation.url + "/stocktake")
    everything = graphql_rows(None)
    assert len(everything) > MAX_TABLE_ROWS  # the table shows the first ones, the CSV all
    assert shown_rows() == everything[:MAX_TABLE_ROWS]
    assert page.locator("#entry-count").inner_text().startswith(f"{len(everything)} entries")
    page.get_by_label("Country").select_option("KEN")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"country=KEN"))
    kenya = shown_rows()
    assert kenya == graphql_rows({"countries": ["KEN"]})
    assert kenya and len(kenya) < len(everything)
    assert {row[3] for row in kenya} == {"KEN"}
    page.get_by_label("Group").select_option("_T")
    page.get_by_label("From year").fill("2023")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"from=2023"))
    narrowed = shown_rows()
    assert narrowed == graphql_rows({"countries": ["KEN"], "groups": ["_T"], "periodFrom": 2023})
    assert len(narrowed) < len(kenya)
    assert page.locator("#entry-count").inner_text().startswith(f"{len(narrowed)} entries")


def test_largest_gaps_for_a_country_in_three_clicks(web_federation: WebFederation,
                                                     page: Page) -> None:  # fmt: skip
    answer = gaps(web_federation, countries=["KEN"])
    top = answer["largestGaps"][0]
    page.goto(web_federation.url + "/")
    page.get_by_role("link", name="Kenya (KEN)").click()  # 1
    expect(page.locator("h1")).to_have_text("Gap matrix: Kenya (KEN)")
    first = page.locator("#largest-gaps tbody tr").first.locator("td")
    assert first.nth(2).inner_text().endswith(f"({top['group']})")
    assert first.nth(3).inner_text() == str(top["noData"])
    # The matrix puts the goal with the most rows lacking data first; open it for the group.
    page.locator("svg.heatmap a.cell").first.click()  # 2
    expect(page.locator("h1")).to_have_text("Gap matrix: Kenya (KEN)")
    assert re.search(r"goal=\d+", page.url)
    page.locator("svg.heatmap a.cell[data-status='NO_DATA']").first.click()  # 3
    expect(page.locator("#cell-status")).to_have_text("No data")
    expect(page.get_by_text("No organisation holds data for this cell.")).to_be_visible()


FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])"
NAME_OF = """el => {
  if (el.labels && el.labels.length) return el.labels[0].innerText.trim();
  return (el.getAttribute('aria-label') || el.textContent || '').trim();
}"""


def test_every_control_is_reachable_by_keyboard_and_labelled(
    web_federation: WebFederation, page: Page
) -> None:
    for path in ("/gaps?indicator=1.3.1&country=KEN", "/stocktake?country=KEN&group=_T",
                 "/compare?indicator=1.3.1&country=KEN"):  # fmt: skip
        page.goto(web_federation.url + path)
        controls = page.locator(FOCUSABLE).evaluate_all(
            "els => els.filter(e => e.getClientRects().length).map((e, i) => "
            "{ e.dataset.probe = String(i); return String(i); })"
        )
        names = page.locator(FOCUSABLE).evaluate_all(f"els => els.map({NAME_OF})")
        assert all(names), f"{path}: a control without a name: {names}"
        reached: list[str] = []
        for _ in range(len(controls) + 5):
            page.keyboard.press("Tab")
            probe = page.evaluate("document.activeElement && document.activeElement.dataset.probe")
            if probe is not None:
                reached.append(probe)
        assert reached[0] == "0", "the skip link comes first"
        assert set(controls) <= set(reached), (
            f"{path}: not reachable: {set(controls) - set(reached)}"
        )
    page.goto(web_federation.url + "/gaps?indicator=1.3.1&country=KEN")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    assert page.evaluate("document.activeElement.id") == "main"
