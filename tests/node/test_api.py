"""The node's API as a client sees it: levels, suppression, downloads, audit, readiness."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from auth.caller import Caller, StaticResolver
from auth.levels import Level
from service import migrate
from service.node import audit
from service.node_app import create_node_app
from tests.node.conftest import NodeUnderTest, sex_table

GQL = "application/graphql-response+json"


async def client_for(node: NodeUnderTest, level: Level) -> AsyncIterator[httpx.AsyncClient]:
    caller = Caller(identity=f"test-{level.label}", level=level)
    app = create_node_app(node.settings, callers=StaticResolver(caller), engine=node.engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client,
    ):
        yield client


async def ask(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"accept": GQL}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(GQL)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


VALID_LEVEL_PAIRS = [(r, d) for r in Level for d in Level if d <= r]


def _slug(release: Level, discovery: Level) -> str:
    return f"r-{release.label}-d-{discovery.label}"


@pytest.fixture
def matrix_node(test_node: NodeUnderTest) -> NodeUnderTest:
    for release, discovery in VALID_LEVEL_PAIRS:
        rows = sex_table(female=(30, 30), male=(40, 40), total=(70, 70))
        test_node.load(_slug(release, discovery), rows, release=release, discovery=discovery)
    return test_node


@pytest.mark.parametrize("caller_level", list(Level))
async def test_permission_matrix(matrix_node: NodeUnderTest, caller_level: Level) -> None:
    """caller level × release level × discovery level → listed? coverage? values?"""
    query = """{ datasets { slug valuesVisible }
                 coverage { dataset cellCount valuesVisible }
                 observations(first: 1000) { edges { node { dataset value } } } }"""
    async for client in client_for(matrix_node, caller_level):
        data = await ask(client, query)
    listed = {d["slug"]: d["valuesVisible"] for d in data["datasets"]}
    covered = {c["dataset"] for c in data["coverage"]}
    with_values = {e["node"]["dataset"] for e in data["observations"]["edges"]}
    for release, discovery in VALID_LEVEL_PAIRS:
        slug = _slug(release, discovery)
        may_discover = caller_level >= discovery
        may_read = caller_level >= release
        assert (slug in listed) is may_discover, slug
        assert (slug in covered) is may_discover, slug
        assert (slug in with_values) is may_read, slug
        if may_discover:
            assert listed[slug] is may_read


OBS = """query($filter: ObservationFilter, $first: Int!, $after: String) {
  observations(filter: $filter, first: $first, after: $after) {
    totalCount suppressedCount pageInfo { hasNextPage endCursor }
    edges { node { sex value n suppressed suppressionReason } } } }"""


async def test_small_cell_and_its_complement_are_suppressed_whatever_the_filter_or_page(
    test_node: NodeUnderTest,
) -> None:
    test_node.load("survey", sex_table(female=(3, 3), male=(41, 41), total=(44, 44)))
    async for client in client_for(test_node, Level.PUBLIC):
        full = await ask(client, OBS, first=10)
        only_female = await ask(client, OBS, first=10, filter={"sex": ["F"]})
        only_male = await ask(client, OBS, first=10, filter={"sex": ["M"]})
        pages = []
        after = None
        while True:
            page = await ask(client, OBS, first=1, after=after)
            pages.extend(page["observations"]["edges"])
            if not page["observations"]["pageInfo"]["hasNextPage"]:
                break
            after = page["observations"]["pageInfo"]["endCursor"]
    cells = {e["node"]["sex"]: e["node"] for e in full["observations"]["edges"]}
    assert cells["F"] == {
        "sex": "F", "value": None, "n": None, "suppressed": True,
        "suppressionReason": "BELOW_THRESHOLD",
    }  # fmt: skip
    assert cells["M"]["suppressionReason"] == "COMPLEMENTARY"
    assert cells["M"]["value"] is None
    assert cells["_T"]["value"] == 45  # 44 rounded to base 5 for public callers
    assert full["observations"]["suppressedCount"] == 2
    assert only_female["observations"]["edges"][0]["node"]["value"] is None
    assert only_male["observations"]["edges"][0]["node"]["suppressionReason"] == "COMPLEMENTARY"
    assert [e["node"] for e in pages] == [e["node"] for e in full["observations"]["edges"]]


async def test_owner_sees_exact_values(test_node: NodeUnderTest) -> None:
    test_node.load("survey", sex_table(female=(3, 3), male=(41, 41), total=(44, 44)))
    async for client in client_for(test_node, Level.OWNER):
        data = await ask(client, OBS, first=10)
    values = {e["node"]["sex"]: e["node"]["value"] for e in data["observations"]["edges"]}
    assert values == {"F": 3, "M": 41, "_T": 44}


@pytest.mark.parametrize(
    ("level", "expected"), [(Level.PUBLIC, (45, 20)), (Level.GOVERNMENT, (45, 20)),
                            (Level.COALITION, (43, 21)), (Level.OWNER, (43, 21))],
)  # fmt: skip
async def test_numerators_go_out_rounded_with_the_base(
    test_node: NodeUnderTest, level: Level, expected: tuple[int, int]
) -> None:
    rows = [{"indicator": "5.1.1", "ref_area": "NPL", "time_period": "2023", "unit": "PERCENT",
             "value": round(21 / 43 * 100, 4), "n": 43, "numerator": 21}]  # fmt: skip
    test_node.load("survey", rows, release=Level.PUBLIC)
    query = "{ observations(first: 5) { edges { node { n numerator } } } }"
    async for client in client_for(test_node, level):
        data = await ask(client, query)
    (edge,) = data["observations"]["edges"]
    assert (edge["node"]["n"], edge["node"]["numerator"]) == expected
    async for client in client_for(test_node, level):
        response = await client.get("/download/observations.csv")
    assert response.status_code == 200, response.text
    (row,) = csv.DictReader(io.StringIO(response.text))
    assert (int(row["n"]), int(float(row["numerator"]))) == expected


@pytest.mark.parametrize(("published", "reason"), [(False, "UNKNOWN_BASE"), (True, None)])
async def test_cells_without_base_are_released_only_from_published_statistics(
    test_node: NodeUnderTest, published: bool, reason: str | None
) -> None:
    rows = [{"indicator": "1.2.1", "ref_area": "GBR", "time_period": "2020", "value": 17.5,
             "unit": "PERCENT", "n": None}]  # fmt: skip
    test_node.load("official", rows, published=published)
    async for client in client_for(test_node, Level.PUBLIC):
        data = await ask(client, OBS, first=10)
    (edge,) = data["observations"]["edges"]
    assert edge["node"]["suppressionReason"] == reason
    assert (edge["node"]["value"] is None) is (reason is not None)


async def test_downloads_apply_the_same_rules_and_are_audited(test_node: NodeUnderTest) -> None:
    test_node.load("survey", sex_table(female=(3, 3), male=(41, 41), total=(44, 44)))
    async for client in client_for(test_node, Level.PUBLIC):
        plain = await client.get("/download/observations.csv", params={"refAreas": "BGD"})
        sdmx = await client.get("/download/observations.sdmx.csv")
        none = await client.get("/download/observations.csv", params={"refAreas": "KEN"})
        bad = await client.get("/download/observations.csv", params={"periodFrom": "soon"})
    assert plain.status_code == 200
    rows = {r["sex"]: r for r in csv.DictReader(io.StringIO(plain.text))}
    assert rows["F"]["value"] == "" and rows["F"]["suppression_reason"] == "BELOW_THRESHOLD"
    assert rows["M"]["value"] == "" and rows["M"]["suppression_reason"] == "COMPLEMENTARY"
    assert rows["_T"]["value"] == "45"
    sdmx_rows = {r["SEX"]: r for r in csv.DictReader(io.StringIO(sdmx.text))}
    assert sdmx_rows["F"]["CONF_STATUS"] == "C" and sdmx_rows["F"]["OBS_VALUE"] == ""
    assert sdmx_rows["M"]["CONF_STATUS"] == "D"
    assert sdmx_rows["_T"]["REF_AREA"] == "50" and sdmx_rows["_T"]["CONF_STATUS"] == "F"
    assert list(csv.DictReader(io.StringIO(none.text))) == []
    assert bad.status_code == 400
    with Session(test_node.engine) as session:
        downloads = [e for e in audit.recent(session, 20) if e.action == "download"]
    assert sorted((e.cells_returned, e.cells_suppressed) for e in downloads) == [
        (0, 0), (3, 2), (3, 2)
    ]  # fmt: skip


async def test_every_graphql_request_is_audited_and_the_chain_verifies(
    test_node: NodeUnderTest,
) -> None:
    test_node.load("survey", sex_table(female=(3, 3), male=(41, 41), total=(44, 44)))
    async for client in client_for(test_node, Level.GOVERNMENT):
        await ask(client, OBS, first=10)
        refused = await client.post("/graphql", json={"query": "{ nope }"})
    assert refused.status_code in (200, 400)
    with Session(test_node.engine) as session:
        entries = [e for e in audit.recent(session, 10) if e.action == "graphql"]
        verification = audit.verify(session)
    assert verification.ok, verification.problems
    served, failed = sorted(entries, key=lambda e: e.seq)
    assert (served.caller, served.level) == ("test-government", "government")
    assert (served.cells_returned, served.cells_suppressed) == (3, 2)
    assert "observations" in served.operation
    assert failed.cells_returned == 0 and "nope" in failed.operation


async def test_node_publishes_its_identity_and_policy(test_node: NodeUnderTest) -> None:
    async for client in client_for(test_node, Level.PUBLIC):
        data = await ask(
            client,
            "{ node { id organisation schemaVersion keyId publicKey caller { level } "
            "disclosurePolicy { levels { level threshold rounding } } } }",
        )
    node = data["node"]
    assert node["id"] == "test-icso" and node["organisation"] == "Test ICSO"
    assert node["publicKey"]["kty"] == "OKP" and node["publicKey"]["kid"] == node["keyId"]
    assert node["caller"]["level"] == "PUBLIC"
    assert node["disclosurePolicy"]["levels"] == [
        {"level": "PUBLIC", "threshold": 10, "rounding": 5},
        {"level": "GOVERNMENT", "threshold": 10, "rounding": 5},
        {"level": "COALITION", "threshold": 5, "rounding": 1},
        {"level": "OWNER", "threshold": 1, "rounding": 1},
    ]


async def test_readiness_follows_the_database_schema(test_node: NodeUnderTest) -> None:
    async for client in client_for(test_node, Level.PUBLIC):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        migrate.downgrade(test_node.engine, "node", "base")
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert "migration" in not_ready.json()["detail"]
