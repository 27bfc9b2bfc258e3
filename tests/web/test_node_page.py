"""The node's page for its operators, over HTTP without a browser: who may read it, what it
shows, and that its "see as" preview gives away nothing the API would not.

People sign in through the real authorization server (its /authorize form, the code and PKCE
exchange, the node's own token resolver); the node answers through its ASGI app.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from auth import clients, users
from auth.levels import Level
from auth.tokens import Role
from service import migrate
from service.db import make_engine, make_session_factory
from service.node.identity import init_node
from service.node.ingest import DatasetMeta, IngestOptions, ingest_file
from service.node_app import create_node_app
from service.settings import Settings, load_settings
from tests.auth.conftest import AuthServer, running_auth_server
from tests.node.conftest import TIDY_HEADER, sex_table
from tests.node.test_audit import _drop_guards
from tests.web.conftest import module_database

ORGANISATION = "Riverbend Inclusion Collective"
NODE_URL = "http://127.0.0.1:8765"  # the ASGI app's address as its client calls it
SCRIPT_TITLE = "<script>alert('pwned')</script> Voice survey"
# Figures that appear nowhere else, so finding one in a page means that cell leaked.
SMALL_VALUE = 7.25  # n=3: below every threshold but the owner's
COMPLEMENT_VALUE = 52.81  # suppressed beside it, or subtraction from the total gives it back
COALITION_VALUES = (61.35, 92.15, 79.87)


@dataclass
class Person:
    username: str
    password: str
    level: Level


@dataclass
class OperatedNode:
    settings: Settings
    engine: Engine
    auth: AuthServer
    people: dict[str, Person]


def _ingest(engine: Engine, folder: Path, slug: str, rows: list[dict[str, object]],
            release: Level, discovery: Level, title: str) -> None:  # fmt: skip
    path = folder / f"{slug}.csv"
    lines = [",".join(TIDY_HEADER)]
    lines += [",".join(str(row.get(column, "")) for column in TIDY_HEADER) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_file(
        engine,
        path,
        DatasetMeta(slug=slug, title=title, release_level=release, discovery_level=discovery),
        IngestOptions(format="tidy"),
        loaded_by="operator@riverbend",
    )


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatedNode]:
    """A node of `ORGANISATION` whose dashboard signs people in at a real authorization server,
    with one person per level and three datasets (public, coalition-only, owner-only)."""
    folder = tmp_path_factory.mktemp("operated-node")
    with module_database(tmp_path_factory) as url, running_auth_server(url, folder) as auth:
        with make_session_factory(auth.engine).begin() as session:
            web_client, secret = clients.add_client(
                session, name="Riverbend node", role=None,
                redirect_uris=[f"{NODE_URL}/auth/callback"],
            )  # fmt: skip
            people = {}
            for username, role, organisation, level in (
                ("operator", Role.ICSO, ORGANISATION, Level.OWNER),
                ("member", Role.ICSO, "Lantern Livelihoods Network", Level.COALITION),
                ("analyst", Role.SECRETARIAT, None, Level.COALITION),
                ("partner", Role.GOVERNMENT, None, Level.GOVERNMENT),
            ):
                _, password = users.add_user(
                    session, username=username, name=f"Test {username}", role=role,
                    organisation=organisation,
                )  # fmt: skip
                people[username] = Person(username, password, level)
        settings = load_settings(
            database_url=url,
            key_file=folder / "node-key.pem",
            trusted_issuers=[auth.url],
            web_client_id=web_client.client_id,
            web_client_secret=secret,
            session_secret="a test session key that is long enough",
            rate_limit_per_minute=0,
        )
        engine = make_engine(url)
        migrate.upgrade(engine, "node")
        init_node(engine, settings, name="Dhaka node", organisation=ORGANISATION)
        _ingest(engine, folder, "voice",
                sex_table(female=(SMALL_VALUE, 3), male=(COMPLEMENT_VALUE, 40), total=(49.63, 43),
                          unit="PERCENT"),
                Level.PUBLIC, Level.PUBLIC, SCRIPT_TITLE)  # fmt: skip
        female, male, total = COALITION_VALUES
        _ingest(engine, folder, "land",
                sex_table(indicator="1.4.2", female=(female, 40), male=(male, 60),
                          total=(total, 100), unit="PERCENT"),
                Level.COALITION, Level.COALITION, "Land rights scorecard")  # fmt: skip
        _ingest(engine, folder, "safety",
                sex_table(indicator="16.1.3", female=(11, 11), male=(12, 12), total=(23, 23)),
                Level.OWNER, Level.OWNER, "Safety check")  # fmt: skip
        try:
            yield OperatedNode(settings, engine, auth, people)
        finally:
            engine.dispose()


@contextlib.asynccontextmanager
async def browser_less(node: OperatedNode) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the node's app with its lifespan running; it keeps cookies as a browser."""
    app = create_node_app(node.settings, engine=node.engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=NODE_URL) as client,
    ):
        yield client


async def sign_in(client: httpx.AsyncClient, node: OperatedNode, person: Person) -> None:
    """The authorization code flow as a browser follows it, through the provider's form."""
    start = await client.get("/auth/signin", params={"next": "/"})
    assert start.status_code in (302, 303, 307), start.text
    async with httpx.AsyncClient(timeout=30) as provider:
        form = await provider.get(start.headers["location"])
        assert form.status_code == 200, form.text
        signed = re.search(r'name="authorization_request" value="([^"]+)"', form.text)
        assert signed is not None, form.text
        done = await provider.post(
            f"{node.auth.url}/authorize",
            data={
                "authorization_request": html.unescape(signed.group(1)),
                "username": person.username,
                "password": person.password,
            },
        )
    assert done.status_code in (302, 303), done.text
    callback = await client.get(done.headers["location"])
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/"


async def page_as(node: OperatedNode, username: str | None, query: str = "") -> httpx.Response:
    async with browser_less(node) as client:
        if username is not None:
            await sign_in(client, node, node.people[username])
        return await client.get(f"/{query}")


def _text(response: httpx.Response) -> str:
    """The page's visible text, tags removed and whitespace folded (what a reader sees)."""
    body = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(html.unescape(body).split())


async def test_signed_out_visitor_is_asked_to_sign_in_as_an_operator(
    operated: OperatedNode,
) -> None:
    response = await page_as(operated, None)
    assert response.status_code == 200
    page = _text(response)
    assert "Sign in as an operator of the organisation that runs this node" in page
    assert '/auth/signin?next=%2F"' in response.text
    assert "voice" not in page and "Land rights" not in page and "49.63" not in page
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("username", "reason"),
    [
        ("member", "icso client of Lantern Livelihoods Network, another coalition member"),
        ("analyst", "secretariat client"),
        ("partner", "government client"),
    ],
)
async def test_signed_in_non_operator_is_refused(
    operated: OperatedNode, username: str, reason: str
) -> None:
    response = await page_as(operated, username)
    assert response.status_code == 403
    page = _text(response)
    assert "not as an operator of this organisation" in page
    assert reason in page
    assert "Land rights" not in page and "Dhaka node" not in page
    for value in (*COALITION_VALUES, SMALL_VALUE, COMPLEMENT_VALUE):
        assert str(value) not in page


async def test_operator_sees_datasets_ingests_audit_and_preview(operated: OperatedNode) -> None:
    response = await page_as(operated, "operator")
    assert response.status_code == 200, response.text
    page = _text(response)
    assert "Dhaka node" in page and ORGANISATION in page
    assert "icso client of Riverbend Inclusion Collective, this node's organisation" in page
    # Datasets with their levels and versions.
    for slug, release in (("voice", "public"), ("land", "coalition"), ("safety", "owner")):
        row = re.search(rf"<th scope=\"row\"><code>{slug}</code></th>(.*?)</tr>", response.text,
                        re.S)  # fmt: skip
        assert row is not None, slug
        assert re.search(rf"<td>{release}</td>\s*<td>{release}</td>", row.group(1)), row.group(1)
    # The last ingests: who, rows, file hash.
    assert page.count("operator@riverbend") >= 3
    assert "voice.csv (tidy)" in page and "safety v1 (current)" in page
    with operated.engine.connect() as conn:
        hashes = conn.execute(text("SELECT source_sha256 FROM dataset_version")).scalars().all()
    assert len(hashes) == 3 and all(
        f'<code class="hash">{h}</code>' in response.text for h in hashes
    )
    # The audit tail, its chain checked; the ingests are in it.
    assert "Hash chain intact" in page
    assert re.search(r"<td>ingest</td>\s*<td><code class=\"operation\">ingest land</code>",
                     response.text)  # fmt: skip
    # The preview opens as public.
    assert "See as public" in page


async def test_dataset_title_is_escaped(operated: OperatedNode) -> None:
    response = await page_as(operated, "operator")
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; Voice survey" in response.text


def _summary_row(response: httpx.Response, slug: str) -> list[str]:
    row = re.search(rf'<tr data-dataset="{slug}">(.*?)</tr>', response.text, re.S)
    assert row is not None, slug
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)]  # fmt: skip


NA = "\N{EN DASH}"  # what the summary shows where a caller reads no values
# see as -> dataset -> (listed, values, released, suppressed)
PREVIEWS = {
    "public": {"voice": ["listed", "visible", "3", "1", "2"],
               "land": ["not listed", "hidden", "0", NA, NA],
               "safety": ["not listed", "hidden", "0", NA, NA]},
    "government": {"land": ["not listed", "hidden", "0", NA, NA]},
    "coalition": {"voice": ["listed", "visible", "3", "1", "2"],
                  "land": ["listed", "visible", "3", "3", "0"],
                  "safety": ["not listed", "hidden", "0", NA, NA]},
}  # fmt: skip


@pytest.mark.parametrize("level", list(PREVIEWS))
async def test_see_as_preview_matches_the_level(operated: OperatedNode, level: str) -> None:
    response = await page_as(operated, "operator", f"?see_as={level}")
    assert response.status_code == 200
    assert f"See as {level}" in _text(response)
    for slug, expected in PREVIEWS[level].items():
        assert _summary_row(response, slug)[1:6] == expected, slug


async def test_public_preview_never_shows_hidden_or_suppressed_values(
    operated: OperatedNode,
) -> None:
    response = await page_as(operated, "operator", "?see_as=public")
    sample = response.text[response.text.index('id="see-as"') :]
    for value in (*COALITION_VALUES, SMALL_VALUE, COMPLEMENT_VALUE):
        assert str(value) not in sample
    assert "Sample of land" not in _text(response)
    assert "suppressed (below threshold)" in _text(response)
    assert "suppressed (complementary)" in _text(response)
    # The coalition sees the coalition dataset's values, and the small cell's value stays hidden.
    coalition = await page_as(operated, "operator", "?see_as=coalition")
    coalition_sample = coalition.text[coalition.text.index('id="see-as"') :]
    for value in COALITION_VALUES:
        assert f"{value:,.2f}".rstrip("0").rstrip(".") in coalition_sample
    assert str(SMALL_VALUE) not in coalition_sample
    assert str(COMPLEMENT_VALUE) not in coalition_sample


async def test_every_view_is_audited(operated: OperatedNode) -> None:
    await page_as(operated, "partner")
    response = await page_as(operated, "operator", "?see_as=government")
    with operated.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT level, action, operation FROM audit_log ORDER BY seq DESC LIMIT 2")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("owner", "page", "node page: see as government"),
        ("government", "page", "node page: refused"),
    ]
    # The refusal just before this view is in the tail this view shows.
    assert "node page: refused" in _text(response)


async def test_tampering_shows_on_the_page(operated: OperatedNode) -> None:
    response = await page_as(operated, "operator", "?verify=all")
    assert "entries verified" in _text(response)
    _drop_guards(operated.engine)
    try:
        with operated.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET caller = 'someone else' WHERE seq = 2"))
        response = await page_as(operated, "operator", "?verify=all")
    finally:
        # Later tests in this module read the same log: put the entry back.
        with operated.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET caller = 'operator@riverbend' WHERE seq = 2"))
    page = _text(response)
    assert "Hash chain broken" in page
    assert "entry 2: altered" in page


async def test_token_the_node_does_not_trust_is_refused(operated: OperatedNode) -> None:
    """Signed in at an issuer this node does not trust: the page says why, and shows nothing."""
    elsewhere = operated.settings.model_copy(
        update={"web_issuer": operated.auth.url, "trusted_issuers": ["https://issuer.invalid"]}
    )
    distrusting = OperatedNode(elsewhere, operated.engine, operated.auth, operated.people)
    async with browser_less(distrusting) as client:
        await sign_in(client, distrusting, operated.people["operator"])
        response = await client.get("/")
    assert response.status_code == 403
    page = _text(response)
    assert "token issuer is not trusted by this node" in page
    assert "Land rights" not in page and "Hash chain" not in page


async def test_the_preview_takes_decisions_from_the_nodes_cache(operated: OperatedNode) -> None:
    app = create_node_app(operated.settings, engine=operated.engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=NODE_URL) as client,
    ):
        await sign_in(client, operated, operated.people["operator"])
        cache = app.state.node.decision_cache
        assert cache.cells == 0
        first = await client.get("/?see_as=public")
        filled = cache.cells
        assert filled > 0  # the tables the preview read, decided once and kept
        again = await client.get("/?see_as=public")
        assert cache.cells == filled
        for slug in PREVIEWS["public"]:
            assert _summary_row(again, slug) == _summary_row(first, slug)
