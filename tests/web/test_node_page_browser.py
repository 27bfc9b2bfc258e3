"""The node's page in real headless Chromium, against the demo federation as `lnob demo` runs it
(authorization server, nodes and coordinator as processes): an operator signs in through the
provider's form, reads the page and switches "see as"; screenshots go to tests/web/artifacts/.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from service.federation_demo import DemoFederation, DemoUser, RunningProcess, run_demo_federation
from tests.web.conftest import PHONE, save_screenshot, sign_in

# The demo keeps its data in its own SQLite files: the PostgreSQL run adds nothing here.
pytestmark = pytest.mark.demo_files

NODE = "riverbend"
# Riverbend's land-rights scorecard: values released to the coalition, discoverable by anyone.
COALITION_ONLY = "land-rights-scorecard"
OWNER_ONLY = "lgbtiq-safety-check"
# Elements that reach past the right edge of a phone's screen.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 390.5)
  .map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    """The demo federation, started and stopped in a thread of its own: Playwright's sync API
    keeps an event loop running in this one, and starting the demo runs one to completion."""
    folder = tmp_path_factory.mktemp("node-page-demo")
    started: queue.Queue[DemoFederation | BaseException] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            with run_demo_federation(folder) as federation:
                started.put(federation)
                stop.wait()
        except BaseException as exc:  # handed to the test thread, which raises it
            started.put(exc)

    thread = threading.Thread(target=run, name="demo-federation", daemon=True)
    thread.start()
    outcome = started.get(timeout=180)
    try:
        if isinstance(outcome, BaseException):
            raise outcome
        yield outcome
    finally:
        stop.set()
        thread.join(timeout=60)


def _node(demo: DemoFederation) -> RunningProcess:
    return next(proc for proc in demo.nodes if proc.name == NODE)


def _user(demo: DemoFederation, *, node_id: str | None = None, role: str = "icso") -> DemoUser:
    return next(u for u in demo.users if u.role.value == role and u.node_id == node_id)


def _summary(page: Page, dataset: str) -> list[str]:
    row = page.locator(f'#see-as-summary tr[data-dataset="{dataset}"]')
    return [" ".join(text.split()) for text in row.locator("th, td").all_inner_texts()]


def test_operator_signs_in_reads_the_page_and_switches_see_as(
    demo: DemoFederation, page: Page
) -> None:
    page.goto(f"{_node(demo).url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This page is for the node's operators"
    )
    operator = _user(demo, node_id=NODE)
    sign_in(page, operator.username, operator.password)

    expect(page.get_by_role("heading", level=1)).to_contain_text(operator.organisation or "")
    for section in ("Datasets", "Last ingests", "Audit log", "See as public"):
        expect(page.get_by_role("heading", level=2, name=section)).to_be_visible()
    expect(page.locator("#chain-status")).to_contain_text("Hash chain intact")
    # The sign-in itself left no entry yet; the ingests of the demo data are in the log.
    audit_log = page.get_by_role("region", name="Audit log").get_by_role("table")
    expect(audit_log).to_contain_text("ingest voice-and-inclusion-survey-2024")
    # Public: the coalition-only dataset is listed (discoverable) but shows no values.
    assert _summary(page, COALITION_ONLY)[1:3] == ["listed", "hidden"]
    assert _summary(page, OWNER_ONLY)[1:3] == ["not listed", "hidden"]
    expect(page.get_by_role("heading", name=f"Sample of {COALITION_ONLY}")).to_have_count(0)
    expect(page.locator("table.sample td.suppressed").first).to_contain_text("suppressed (")
    save_screenshot(page, "node-overview")

    page.get_by_label("Show what this caller gets").select_option("coalition")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("heading", level=2, name="See as coalition")).to_be_visible()
    assert page.url.endswith("?see_as=coalition#see-as")
    assert _summary(page, COALITION_ONLY)[1:3] == ["listed", "visible"]
    expect(page.get_by_role("heading", name=f"Sample of {COALITION_ONLY}")).to_be_visible()
    expect(page.get_by_label("Show what this caller gets")).to_have_value("coalition")
    save_screenshot(page, "node-see-as-coalition")

    page.get_by_role("button", name="Verify the whole chain").click()
    expect(page.locator("#chain-status")).to_contain_text(
        re.compile(r"all [\d,]+ entries verified")
    )


def test_government_partner_is_refused(demo: DemoFederation, page: Page) -> None:
    page.goto(f"{_node(demo).url}/")
    partner = _user(demo, role="government")
    sign_in(page, partner.username, partner.password)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "This page is for the node's operators"
    )
    expect(page.get_by_role("status")).to_contain_text("not as an operator of this organisation")
    expect(page.locator("main")).not_to_contain_text(COALITION_ONLY)


def test_page_fits_a_phone_and_keyboard_reaches_see_as(
    demo: DemoFederation, phone_page: Page
) -> None:
    page = phone_page
    page.goto(f"{_node(demo).url}/")
    operator = _user(demo, node_id=NODE)
    sign_in(page, operator.username, operator.password)
    expect(page.get_by_role("heading", name="See as public")).to_be_visible()
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], page.evaluate(WIDEST)
    # Keyboard only: tab to the level chooser, pick government, submit with Enter.
    chooser = page.get_by_label("Show what this caller gets")
    for _ in range(200):
        page.keyboard.press("Tab")
        if chooser.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the see-as chooser is not reachable with Tab")
    chooser.select_option("government")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name="See as government")).to_be_visible()
    save_screenshot(page, "node-phone")
