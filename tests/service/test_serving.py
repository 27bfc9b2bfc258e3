"""A served app: its own startup runs first and its state reaches requests; then the heap it
built is frozen and the young generation collected less often."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.serving import YOUNG_GENERATION_THRESHOLD, for_serving
from tests.federation.conftest import serve


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The test process's collector as it was, whatever the served app changed."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_startup_runs_then_the_heap_is_frozen_and_shutdown_runs(collector_restored: None) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        events.append(f"started, {gc.get_freeze_count()} frozen")
        yield {"greeting": "hello"}
        events.append("stopped")

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"greeting": request.state.greeting})

    gc.unfreeze()
    app = for_serving(Starlette(routes=[Route("/", hello)], lifespan=lifespan))
    server = serve(app)
    try:
        frozen = gc.get_freeze_count()
        assert events == ["started, 0 frozen"]  # the app's own startup, before the freeze
        assert frozen > 1000  # modules, the app, everything alive once it started
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        assert httpx.get(server.url).json() == {"greeting": "hello"}
    finally:
        server.stop()
    assert events[-1] == "stopped"
