"""The coordinator's pages over HTTP, without a browser: they work without JavaScript, show
what GraphQL shows for the same question, escape what nodes send, and refuse bad questions."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import migrate
from service.coordinator_app import create_coordinator_app
from service.db import make_engine, make_session_factory
from tests.federation.conftest import (
    coordinator_settings,
    register_identity,
    serve,
    standin_app,
    standin_data,
    standin_identity,
)
from tests.web.conftest import WebFederation, module_database

PAGES = ["/", "/gaps", "/gaps?country=KEN", "/stocktake", "/compare",
         "/compare?indicator=1.4.1&country=KEN"]  # fmt: skip


class Elements(HTMLParser):
    """Start tags with their attributes, and the text of the document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_served_as_html_without_scripts(
    web_federation: WebFederation, path: str
) -> None:
    response = httpx.get(web_federation.url + path, timeout=30)
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "form-action 'self'" in policy
    document = parse(response.text)
    assert not [attrs for tag, attrs in document.tags if tag == "script"]
    assert ("a", {"class": "skip-link", "href": "#main"}) in document.tags


def test_a_bad_question_is_a_page_that_says_why(web_federation: WebFederation) -> None:
    response = httpx.get(web_federation.url + "/gaps?indicator=99.9.9", timeout=30)
    assert response.status_code == 400
    assert "unknown indicator" in response.text


def test_text_from_nodes_is_escaped(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A stand-in node whose organisation and dataset title carry markup: the pages show it
    as text, never as markup."""
    identity = standin_identity("mischief")
    hostile = "<script>alert('x')</script>"
    identity = dataclasses.replace(identity, organisation=f"Org {hostile}")

    def answer(request: Request) -> Response:
        data = standin_data(identity)
        for cell in data["coverage"]:
            cell["dataset"] = "standin"
        data["datasets"] = [
            {"slug": "standin", "title": f"Survey {hostile}", "organisation": identity.organisation,
             "methodology": f"Method {hostile}", "collectionPeriod": "2022",
             "releaseLevel": "PUBLIC", "discoveryLevel": "PUBLIC", "cellCount": 3,
             "valuesVisible": True},
        ]  # fmt: skip
        return JSONResponse({"data": data})

    node = serve(standin_app(answer, identity))
    try:
        with module_database(tmp_path_factory) as url:
            engine = make_engine(url)
            migrate.upgrade(engine, "coordinator")
            register_identity(make_session_factory(engine), node.url, identity)
            app = serve(create_coordinator_app(coordinator_settings(url), engine=engine))
            try:
                pages = [
                    httpx.get(app.url + "/", timeout=30).text,
                    httpx.get(
                        app.url + "/gaps/cell?row=1.1.1&country=KEN&group=_T", timeout=30
                    ).text,
                ]
            finally:
                app.stop()
                engine.dispose()
    finally:
        node.stop()
    for page in pages:
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Survey &lt;script&gt;" in pages[1] and "Method &lt;script&gt;" in pages[1]


def test_without_the_dashboard_only_the_api_is_served(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with module_database(tmp_path_factory) as url:
        engine = make_engine(url)
        migrate.upgrade(engine, "coordinator")
        app = serve(
            create_coordinator_app(coordinator_settings(url, dashboard=False), engine=engine)
        )
        try:
            assert httpx.get(app.url + "/", timeout=10).status_code == 404
            assert httpx.get(app.url + "/static/dashboard.css", timeout=10).status_code == 404
            assert httpx.get(app.url + "/healthz", timeout=10).status_code == 200
        finally:
            app.stop()
            engine.dispose()


def test_sign_in_without_a_client_says_it_is_not_set_up(web_federation: WebFederation) -> None:
    response = httpx.get(web_federation.url + "/auth/signin", timeout=10)
    assert response.status_code == 404
    assert "LNOB_WEB_CLIENT_ID" in response.text
    page = httpx.get(web_federation.url + "/", timeout=30).text
    assert "Not signed in" in page and "/auth/signin" not in page


def test_sign_out_needs_the_form_token(web_federation: WebFederation) -> None:
    with httpx.Client(base_url=web_federation.url, timeout=30) as client:
        page = client.get("/compare").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is None  # signed out: no sign-out form
        forged = client.post("/auth/signout", data={"csrf_token": "guess"})
        assert forged.status_code == 400
        client.get("/compare")  # the session now holds a token
        cookie = client.cookies.get("lnob-coordinator")
        assert cookie  # signed session cookie, named per app
        assert client.post("/auth/signout", data={"csrf_token": "guess"}).status_code == 400
