"""The dashboard's Jinja2 environment and how a page is rendered.

Every page is rendered by `render`, which puts the signed-in person, the navigation and the
sign-out form's CSRF token into the template's context and sends the page's own
Content-Security-Policy: styles and scripts from `/static` only, forms to this origin only.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from service.web.signin import SignIn, current_user

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "script-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
CSRF_KEY = "csrf"


@dataclass(frozen=True, slots=True)
class NavLink:
    path: str
    label: str


@dataclass(frozen=True, slots=True)
class WebState:
    """What the dashboard of one app holds: its templates, sign-in client and navigation."""

    templates: Jinja2Templates
    sign_in: SignIn | None
    nav: tuple[NavLink, ...]
    title: str


def make_environment(extra: Sequence[Path] = ()) -> jinja2.Environment:
    """Templates under service/web/templates (and `extra` folders), autoescaped, strict about
    undefined names so a typo fails the test that renders it."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([TEMPLATES, *extra]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["query_string"] = query_string
    environment.filters["thousands"] = thousands
    return environment


def query_string(params: Mapping[str, object], **changes: object) -> str:
    """`params` with `changes` applied, as `?a=1&b=2` (None or "" drops a parameter; a list
    repeats it)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for name, value in merged.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            pairs.extend((name, str(item)) for item in value if item not in (None, ""))
        else:
            pairs.append((name, str(value)))
    return "?" + urlencode(pairs) if pairs else "?"


def thousands(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def csrf_token(request: Request) -> str:
    """The session's token that every state-changing form posts back."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_KEY] = token
    return token


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """`template` (which extends base.html) rendered with `context`, the signed-in person
    (`user`, None when signed out), `nav`, `sign_in_available`, `csrf_token`, `app_title`,
    `current_path` and `current_page` (path and query)."""
    state = web_state(request)
    page = {
        "user": current_user(request),
        "nav": state.nav,
        "app_title": state.title,
        "sign_in_available": state.sign_in is not None,
        "csrf_token": csrf_token(request),
        "current_path": request.url.path,
        "current_page": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **(context or {}),
    }
    response = state.templates.TemplateResponse(request, template, page, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_CSP
    response.headers["cache-control"] = "no-store"
    return response
