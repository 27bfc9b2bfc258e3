"""Signing in to the coordinator's dashboard in real Chromium, through the product's own
authorization server (OpenID Connect code flow with PKCE): the pages then show what the
person's level allows, exactly as the API does, and never more."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from auth.tokens import Role
from service.federation_demo import DemoFederation, DemoUser, run_demo_federation
from tests.web.conftest import entered_in_thread, save_screenshot, sign_in

# The demo keeps its data in its own SQLite files: the PostgreSQL run adds nothing here.
pytestmark = pytest.mark.demo_files

# Datasets whose existence only the coalition may know (service/node/demo_catalogue.py).
COALITION_ONLY = ("settlement-enumeration", "ipv-prevalence-2014-2016")
STOCKTAKE = "{ stocktake { entries { organisation dataset indicator country group } } }"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    """`lnob demo`'s federation: the authorization server, three nodes, the coordinator."""
    folder = tmp_path_factory.mktemp("demo")
    with entered_in_thread(lambda: run_demo_federation(folder)) as federation:
        yield federation


def user(demo: DemoFederation, role: Role) -> DemoUser:
    return next(u for u in demo.users if u.role is role)


def machine_token(demo: DemoFederation, role: Role) -> str:
    """An access token for a machine client of `role` (the same level as a person of it)."""
    assert demo.auth is not None
    client = next(c for c in demo.clients if c.role is role)
    response = httpx.post(
        f"{demo.auth.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def stocktake_rows(demo: DemoFederation, token: str | None) -> list[tuple[str, ...]]:
    assert demo.coordinator is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: Any = httpx.post(
        f"{demo.coordinator.url}/graphql", json={"query": STOCKTAKE}, headers=headers, timeout=30
    ).json()
    entries = body["data"]["stocktake"]["entries"]
    return [(e["organisation"], e["dataset"], e["indicator"], e["country"], e["group"])
            for e in entries]  # fmt: skip


def datasets_shown(page: Page) -> set[str]:
    cells = page.locator("#stocktake-table tbody tr td:nth-child(2)").all_inner_texts()
    return {cell.strip() for cell in cells}


def shown_count(page: Page) -> int:
    return int(page.locator("#entry-count").inner_text().split()[0])


def test_a_government_user_never_sees_a_coalition_only_dataset(
    demo: DemoFederation, page: Page
) -> None:
    assert demo.coordinator is not None
    base = demo.coordinator.url
    page.goto(f"{base}/stocktake")
    expect(page.get_by_text("Not signed in")).to_be_visible()
    assert shown_count(page) == len(stocktake_rows(demo, None))

    partner = user(demo, Role.GOVERNMENT)
    sign_in(page, partner.username, partner.password)
    page.wait_for_url(f"{base}/stocktake")
    expect(page.locator(".who")).to_contain_text(partner.name)
    expect(page.locator(".who")).to_contain_text("sees: government")
    save_screenshot(page, "stocktake-government")
    shown = datasets_shown(page)
    assert not shown & set(COALITION_ONLY)
    government = stocktake_rows(demo, machine_token(demo, Role.GOVERNMENT))
    assert shown_count(page) == len(government)
    assert not {row[1] for row in government} & set(COALITION_ONLY)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("Not signed in")).to_be_visible()


def test_a_secretariat_analyst_sees_what_the_coalition_may_know(
    demo: DemoFederation, page: Page
) -> None:
    assert demo.coordinator is not None
    base = demo.coordinator.url
    page.goto(f"{base}/stocktake?country=KEN")
    analyst = user(demo, Role.SECRETARIAT)
    sign_in(page, analyst.username, analyst.password)
    page.wait_for_url(f"{base}/stocktake?country=KEN")
    expect(page.locator(".who")).to_contain_text("sees: coalition")
    assert "settlement-enumeration" in datasets_shown(page)
    coalition = stocktake_rows(demo, machine_token(demo, Role.SECRETARIAT))
    assert "settlement-enumeration" in {row[1] for row in coalition}


def test_a_wrong_password_signs_nobody_in(demo: DemoFederation, page: Page) -> None:
    assert demo.coordinator is not None
    page.goto(demo.coordinator.url + "/")
    partner = user(demo, Role.GOVERNMENT)
    with contextlib.suppress(Exception):
        sign_in(page, partner.username, partner.password + "x")
    expect(page.get_by_text("wrong username or password", exact=False)).to_be_visible()
    page.goto(demo.coordinator.url + "/")
    expect(page.get_by_text("Not signed in")).to_be_visible()
