"""The node's own page at `/`, for its operators: datasets, ingests, audit log, "see as".

Only the node's owner reads it. The signed-in person's access token goes through the node's own
caller resolver, the one `/graphql` uses, so a person is an operator exactly when the API would
give their token the `owner` level. Everyone else is told to sign in as an operator of this
organisation (403 when they are signed in with another level). Every view is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from auth.caller import ANONYMOUS, Caller, CallerResolver
from auth.errors import TokenInvalid
from auth.levels import Level
from service.node import audit
from service.node.datasets import list_datasets
from service.node.decision_cache import DecisionCache
from service.node.disclosure import DIMENSIONS, TOTAL, DisclosurePolicy, Reason
from service.node.identity import get_identity
from service.node.observations import ReleasedCell
from service.node.operations import PREVIEW_LEVELS, audit_tail, recent_ingests, see_as
from service.settings import Settings
from service.web.signin import WebUser, current_user
from service.web.templating import NavLink, render

NAV = (NavLink("/", "This node"),)
TITLE = "LNOB node"
REASON_TEXT = {
    Reason.BELOW_THRESHOLD: "below threshold",
    Reason.COMPLEMENTARY: "complementary",
    Reason.UNKNOWN_BASE: "unknown base",
}
_DIMENSION_LABELS = {"group_code": "group"}


class NodePageState(Protocol):
    """What the page needs of the running node (`service.node_app.NodeState` has it)."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def policy(self) -> DisclosurePolicy: ...

    @property
    def callers(self) -> CallerResolver: ...

    @property
    def decision_cache(self) -> DecisionCache: ...


def session_cookie(settings: Settings) -> str:
    """A cookie name of this node's own: browsers share cookies between the ports of one host,
    and replicas over one database share it."""
    digest = hashlib.sha256(settings.database_url.encode("utf-8")).hexdigest()[:12]
    return f"lnob-node-{digest}"


def node_page_routes(state_of: Callable[[Request], NodePageState]) -> list[Route]:
    """The node's dashboard pages, to mount with `service.web.dashboard.mount_dashboard`."""

    async def node_page(request: Request) -> Response:
        state = state_of(request)
        user = current_user(request)
        try:
            caller = await page_caller(request, state.callers, user)
        except TokenInvalid as exc:
            await run_in_threadpool(_audit_view, state, _refused_caller(user), "refused", {})
            return render(
                request, "node/operators_only.html", _refusal(user, str(exc)), status_code=403
            )
        if caller.level is not Level.OWNER:
            status = 200 if user is None else 403
            await run_in_threadpool(_audit_view, state, caller, "refused", {"status": status})
            reason = caller.reason if user is not None else ""
            return render(
                request, "node/operators_only.html", _refusal(user, reason), status_code=status
            )
        preview_level = _preview_level(request.query_params.get("see_as"))
        verify_all = request.query_params.get("verify") == "all"
        context = await run_in_threadpool(_overview, state, preview_level, verify_all)
        shown = [cell for item in context["preview"].datasets for cell in item.sample]
        await run_in_threadpool(
            _audit_view,
            state,
            caller,
            f"see as {preview_level.label}",
            {"see_as": preview_level.label, "verify_all": verify_all},
            shown,
        )
        context |= {"caller": caller, "verify_all": verify_all}
        return render(request, "node/page.html", context)

    return [Route("/", node_page, name="node_page")]


async def page_caller(request: Request, callers: CallerResolver, user: WebUser | None) -> Caller:
    """The caller the API would see for the signed-in person's token (public when signed out).

    The resolver reads the request's `Authorization` header; the page hands it a view of the
    request whose header is the person's token, whatever the browser sent.
    """
    if user is None:
        return ANONYMOUS
    headers = [
        (name, value) for name, value in request.scope["headers"] if name != b"authorization"
    ]
    headers.append((b"authorization", user.authorization.encode("latin-1")))
    return await callers.resolve(HTTPConnection({**request.scope, "headers": headers}))


def _preview_level(text: str | None) -> Level:
    for level in PREVIEW_LEVELS:
        if text == level.label:
            return level
    return PREVIEW_LEVELS[0]


def _refused_caller(user: WebUser | None) -> Caller:
    if user is None:
        return ANONYMOUS
    return Caller(user.subject or "unknown", Level.PUBLIC, user.organisation, "token refused")


def _refusal(user: WebUser | None, reason: str) -> dict[str, object]:
    return {"signed_in": user is not None, "reason": reason}


def _overview(state: NodePageState, preview_level: Level, verify_all: bool) -> dict[str, Any]:
    with state.sessions() as session:
        return {
            "identity": get_identity(session),
            "datasets": list_datasets(session, level=Level.OWNER),
            "ingests": recent_ingests(session),
            "tail": audit_tail(session, verify_all=verify_all),
            "preview": see_as(
                session, preview_level, state.policy, decision_cache=state.decision_cache
            ),
            "preview_levels": PREVIEW_LEVELS,
            "preview_level": preview_level,
            "breakdown": breakdown,
            "reason_text": REASON_TEXT,
        }


def _audit_view(
    state: NodePageState,
    caller: Caller,
    what: str,
    detail: Mapping[str, object],
    shown: list[ReleasedCell] | None = None,
) -> None:
    cells = shown or []
    with state.sessions.begin() as session:
        audit.append(
            session,
            audit.AuditRecord(
                caller=caller.identity,
                level=caller.level.label,
                action="page",
                operation=f"node page: {what}",
                detail={**detail, "level_reason": caller.reason},
                cells_returned=len(cells),
                cells_suppressed=sum(cell.suppressed for cell in cells),
            ),
        )


@dataclass(frozen=True, slots=True)
class Breakdown:
    dimension: str
    code: str


def breakdown(cell: ReleasedCell) -> list[Breakdown]:
    """The dimensions a cell breaks down (those not at their total), in SDMX order."""
    return [
        Breakdown(_DIMENSION_LABELS.get(name, name), code)
        for name in DIMENSIONS
        if (code := getattr(cell, _DIMENSION_LABELS.get(name, name))) != TOTAL
    ]
