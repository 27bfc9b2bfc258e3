"""Liveness and readiness probes, the same for the node, the coordinator and the auth server."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import migrate

logger = logging.getLogger(__name__)

# Whether the process can serve, and why not; run in a worker thread (it touches the database).
ReadinessCheck = Callable[[Request], tuple[bool, str]]


async def healthz(request: Request) -> Response:
    """The process is alive (no dependency is checked)."""
    return JSONResponse({"status": "ok"})


def readyz(check: ReadinessCheck) -> Callable[[Request], Awaitable[Response]]:
    """A `/readyz` endpoint over `check`: 200 when ready, 503 with the reason otherwise."""

    async def endpoint(request: Request) -> Response:
        try:
            ready, detail = await run_in_threadpool(check, request)
        except Exception:  # the probe reports; it never raises
            logger.exception("readiness check failed")
            ready, detail = False, "database unreachable"
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "detail": detail},
            status_code=200 if ready else 503,
        )

    return endpoint


def database_ready(engine: Engine, branch: migrate.Branch) -> tuple[bool, str]:
    """The database answers and its schema is at the branch's latest migration."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    if not migrate.at_head(engine, branch):
        return False, f"database schema is not at the latest migration: run `lnob {branch} init`"
    return True, "database reachable, migrations at head"
