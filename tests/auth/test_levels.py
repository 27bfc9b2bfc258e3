"""Who sees what, end to end: a token from the authorization server, a node that trusts it, and
what each kind of caller reads through GraphQL (one dataset per release level)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.levels import Level
from auth.tokens import Role
from service.node.models import AuditEntry
from tests.auth.conftest import NODE_ORGANISATION, AuthServer, ask, node_client
from tests.node.conftest import NodeUnderTest

CALLERS = [
    # (role, organisation in the token, level the node grants)
    (Role.ICSO, NODE_ORGANISATION, Level.OWNER),
    (Role.ICSO, "  riverbend   INCLUSION collective ", Level.OWNER),
    (Role.ICSO, "Another Coalition Member", Level.COALITION),
    (Role.SECRETARIAT, None, Level.COALITION),
    (Role.GOVERNMENT, None, Level.GOVERNMENT),
    (None, None, Level.PUBLIC),
]


@pytest.mark.parametrize(("role", "organisation", "level"), CALLERS)
async def test_each_caller_sees_the_datasets_released_at_or_below_its_level(
    auth_server: AuthServer,
    trusting_node: NodeUnderTest,
    role: Role | None,
    organisation: str | None,
    level: Level,
) -> None:
    client_id = token = None
    if role is not None:
        client_id, secret = auth_server.add_client(role, "Test client", organisation)
        token = auth_server.token(client_id, secret)
    async with node_client(trusting_node) as client:
        response = await ask(client, token)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    listed = {d["slug"] for d in data["datasets"]}
    with_values = {e["node"]["dataset"] for e in data["observations"]["edges"]}
    expected = {f"release-{seen.label}" for seen in Level if seen <= level}
    assert listed == expected
    assert with_values == expected

    with Session(trusting_node.engine) as session:
        entry = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
    caller = f"{auth_server.url}#{client_id}" if client_id else "anonymous"
    assert (entry.caller, entry.level) == (caller, level.label)
