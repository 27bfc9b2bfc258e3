"""Dashboard fixtures: one headless Chromium per test module (Debian's /usr/bin/chromium driven by
Playwright), a real federation per module (demo nodes and a coordinator served by uvicorn on
loopback ports), and screenshots saved to tests/web/artifacts/."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from federation import registry
from service import migrate
from service.coordinator_app import create_coordinator_app
from service.db import make_engine, make_session_factory
from service.settings import Settings
from tests.conftest import BACKEND, _postgres_database
from tests.federation.conftest import (
    OWNER_TOKEN,
    RunningNode,
    Server,
    coordinator_settings,
    graphql_data,
    register_identity,
    serve,
    start_node,
)

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

__all__ = ["OWNER_TOKEN"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (the system's, never a downloaded one).

    Per module, not per session: Playwright's synchronous API keeps an event loop running in
    this thread while it is open, and no asyncio test could run after it. A browser module
    therefore holds sync tests only."""
    if not CHROMIUM.exists():
        # Like PostgreSQL in scripts/test: a fresh machine may lack it, CI never may.
        message = f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop-sized page (its own cookies) for one test."""
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A fresh phone-sized page (390 × 844, touch) for one test."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def save_screenshot(page: Page, name: str) -> Path:
    """The whole page as tests/web/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in from the current dashboard page through the provider's own form, as a person
    does: the Sign in link, the labelled username and password fields, the submit button."""
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label(re.compile("user ?name", re.I)).fill(username)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_load_state()


@contextlib.contextmanager
def module_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL of the backend under test for a whole module."""
    if BACKEND == "postgres":
        yield from _postgres_database()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('coordinator') / 'coordinator.sqlite3'}"


@dataclass
class WebFederation:
    """Two demo nodes (Riverbend, Lantern) and a coordinator with its dashboard, all real
    servers on loopback. A request with `OWNER_TOKEN` is the owner at both nodes."""

    nodes: list[RunningNode]
    coordinator: Server
    settings: Settings
    engine: Engine

    @property
    def url(self) -> str:
        return self.coordinator.url

    def graphql(self, query: str, variables: dict[str, object] | None = None,
                authorization: str | None = None) -> dict[str, object]:  # fmt: skip
        """The coordinator's GraphQL answer's `data` (no errors allowed)."""
        return graphql_data(self.url, query, variables, authorization, timeout=30)


@contextlib.contextmanager
def web_federation_running(
    tmp_path_factory: pytest.TempPathFactory, **overrides: object
) -> Iterator[WebFederation]:
    folder = tmp_path_factory.mktemp("web-nodes")
    nodes = [start_node(0, folder), start_node(2, folder)]
    try:
        with module_database(tmp_path_factory) as url:
            engine = make_engine(url)
            migrate.upgrade(engine, "coordinator")
            sessions = make_session_factory(engine)
            for node in nodes:
                answer = httpx.post(
                    f"{node.url}/graphql", json={"query": registry.IDENTITY_QUERY}, timeout=10
                )
                register_identity(sessions, node.url, registry.identity_from(answer.json()["data"]))
            settings = coordinator_settings(url, rate_limit_per_minute=0, **overrides)
            coordinator = serve(create_coordinator_app(settings, engine=engine))
            try:
                yield WebFederation(nodes, coordinator, settings, engine)
            finally:
                coordinator.stop()
                engine.dispose()
    finally:
        for node in nodes:
            node.server.stop()


@pytest.fixture(scope="module")
def web_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebFederation]:
    """A real federation with the coordinator's dashboard, shared by one test module."""
    with web_federation_running(tmp_path_factory) as running:
        yield running


@contextlib.contextmanager
def entered_in_thread(factory: Callable[[], contextlib.AbstractContextManager[T]]) -> Iterator[T]:
    """Enter `factory()` in a thread of its own and leave it there at the end: code that runs
    its own event loop (asyncio.run) cannot run beside the browser's loop in this thread."""
    entered: queue.Queue[tuple[bool, Any]] = queue.Queue()
    leave = threading.Event()

    def hold() -> None:
        try:
            with factory() as value:
                entered.put((True, value))
                leave.wait()
        except BaseException as exc:  # handed to the test's thread
            entered.put((False, exc))

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ok, value = entered.get(timeout=600)
    if not ok:
        thread.join()
        raise value
    try:
        yield value
    finally:
        leave.set()
        thread.join(timeout=60)
