"""Mount the dashboard on an app: its pages, `/static`, sign-in and the session cookie.

```python
mount_dashboard(app, settings, pages=[Route("/", overview, name="overview")],
                nav=[NavLink("/", "Overview")], title="LNOB federation", cookie="lnob-coordinator")
```
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from service.settings import Settings
from service.web.signin import SignIn, SignInFailed, next_page
from service.web.templating import (
    CSRF_KEY,
    STATIC,
    NavLink,
    WebState,
    make_environment,
    render,
    web_state,
)

SESSION_SECONDS = 8 * 3600  # a working day; the access token inside usually ends sooner


class Sessions:
    """starlette's SessionMiddleware, with the cookie marked Secure when the request is https
    (a loopback demo over http still signs in)."""

    def __init__(self, app: ASGIApp, *, secret_key: str, cookie: str) -> None:
        options = {"secret_key": secret_key, "session_cookie": cookie, "same_site": "lax"}
        self.plain = SessionMiddleware(app, max_age=SESSION_SECONDS, **options)  # type: ignore[arg-type]
        self.secure = SessionMiddleware(
            app,
            max_age=SESSION_SECONDS,
            https_only=True,
            **options,  # type: ignore[arg-type]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        middleware = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await middleware(scope, receive, send)


def mount_dashboard(
    app: Starlette,
    settings: Settings,
    *,
    pages: Sequence[BaseRoute],
    nav: Sequence[NavLink],
    title: str,
    cookie: str,
) -> None:
    """Add `pages`, `/static`, `/auth/signin|callback|signout` and the session to `app`.

    Call before the app starts. `cookie` names the session cookie: browsers share cookies
    between ports of one host, so each app (coordinator, each node) needs its own name.
    Does nothing when `LNOB_DASHBOARD=false`.
    """
    if not settings.dashboard:
        return
    sign_in = SignIn.from_settings(settings)
    templates = Jinja2Templates(env=make_environment())
    app.state.web = WebState(templates=templates, sign_in=sign_in, nav=tuple(nav), title=title)
    app.router.routes.extend(
        [
            *pages,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/auth/signin", _signin, name="auth_signin"),
            Route("/auth/callback", _callback, name="auth_callback"),
            Route("/auth/signout", _signout, methods=["POST"], name="auth_signout"),
        ]
    )
    secret = settings.session_secret
    key = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)
    app.add_middleware(Sessions, secret_key=key, cookie=cookie)


async def _signin(request: Request) -> Response:
    sign_in = web_state(request).sign_in
    if sign_in is None:
        return render(request, "message.html", _not_configured(), status_code=404)
    return await sign_in.start(request)


async def _callback(request: Request) -> Response:
    sign_in = web_state(request).sign_in
    if sign_in is None:
        return render(request, "message.html", _not_configured(), status_code=404)
    try:
        await sign_in.finish(request)
    except SignInFailed as exc:
        context = {"heading": "Sign-in failed", "message": str(exc), "retry": True}
        return render(request, "message.html", context, status_code=400)
    return next_page(request)


async def _signout(request: Request) -> Response:
    form = await request.form()
    expected = request.session.get(CSRF_KEY)
    if expected is None or form.get("csrf_token") != expected:
        context = {
            "heading": "Sign-out not done",
            "message": "The sign-out form had expired. Use the Sign out button again.",
            "retry": False,
        }
        return render(request, "message.html", context, status_code=400)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def _not_configured() -> dict[str, object]:
    return {
        "heading": "Sign-in is not set up",
        "message": "This server has no sign-in client (LNOB_WEB_CLIENT_ID); pages show what "
        "the public may see.",
        "retry": False,
    }
