"""Running an app as a long-lived server process: uvicorn, and the garbage collector set for it.

Once an app has started, everything then alive (modules, the GraphQL schema, reference data,
connection pools) lives as long as the process. Python's collector would still walk all of it
on every full collection: in a coordinator, a few hundred thousand objects, tens of
milliseconds, which a stocktake of thousands of entries triggered about every other answer.
`for_serving` moves them to the permanent generation once the app's startup has run
(`gc.freeze`), and collects the youngest generation every 50,000 allocations instead of 700,
so that an answer's own short-lived objects are mostly freed by reference counting before a
collection looks at them. Nothing is left uncollected that would have been freed: cycles among
startup objects live as long as the process either way.

Only for a process that serves one app until it stops (the `serve` commands); tests build and
drop apps by the hundred and keep the collector's defaults.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from starlette.applications import Starlette
from starlette.types import Lifespan

YOUNG_GENERATION_THRESHOLD = 50_000


def for_serving(app: Starlette) -> Starlette:
    """`app`, whose startup ends by freezing the heap it built and raising the collector's
    youngest-generation threshold."""
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(served: Starlette) -> AsyncIterator[Mapping[str, Any] | None]:
        async with started(served) as state:
            settle_heap()
            yield state

    app.router.lifespan_context = cast(Lifespan[Starlette], lifespan)
    return app


def settle_heap() -> None:
    """Collect once, freeze what survives, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


def serve(app: Starlette, *, host: str, port: int) -> None:
    """Serve `app` with uvicorn until it is stopped; logs go through the product's own logging."""
    import uvicorn

    uvicorn.run(for_serving(app), host=host, port=port, log_config=None, access_log=False)
