"""`lnob demo`'s identity: a machine client per role, a web client per dashboard, and a person
per role who can really sign in."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.tokens import Role
from service.federation_demo import prepare_auth, web_env
from service.node.demo import DEMO_ORGANISATIONS
from tests.auth.conftest import running_auth_server
from tests.auth.relying_party import RelyingParty

# The demo keeps its data in its own SQLite files: the PostgreSQL run adds nothing here.
pytestmark = pytest.mark.demo_files


async def test_demo_people_sign_in_through_the_dashboards_web_clients(tmp_path: Path) -> None:
    apps = {"coordinator": "http://127.0.0.1:8100"} | {
        org.node_id: f"http://127.0.0.1:{8101 + i}" for i, org in enumerate(DEMO_ORGANISATIONS)
    }
    prepared = prepare_auth(tmp_path, "http://127.0.0.1:8200", apps)
    assert {web.app for web in prepared.web_clients.values()} == set(apps)
    assert prepared.web_clients["coordinator"].redirect_uri == (
        "http://127.0.0.1:8100/auth/callback"
    )
    roles = [user.role for user in prepared.users]
    assert roles == [Role.SECRETARIAT, Role.GOVERNMENT] + [Role.ICSO] * len(DEMO_ORGANISATIONS)
    assert {user.organisation for user in prepared.users if user.role is Role.ICSO} == {
        org.organisation for org in DEMO_ORGANISATIONS
    }

    env = web_env("http://127.0.0.1:8200", prepared.web_clients["coordinator"])
    assert env["LNOB_WEB_CLIENT_ID"] == prepared.web_clients["coordinator"].client_id
    assert env["LNOB_WEB_ISSUER"] == "http://127.0.0.1:8200"
    assert len(env["LNOB_SESSION_SECRET"]) >= 32
    assert (
        env["LNOB_SESSION_SECRET"]
        != web_env("x", prepared.web_clients["coordinator"])["LNOB_SESSION_SECRET"]
    )

    with running_auth_server(prepared.env["LNOB_AUTH_DATABASE_URL"], tmp_path / "auth") as server:
        node_id = DEMO_ORGANISATIONS[0].node_id
        node_staff = [user for user in prepared.users if user.node_id == node_id]
        for app, people in (("coordinator", prepared.users), (node_id, node_staff)):
            web = prepared.web_clients[app]
            rp = RelyingParty(server.url, web.client_id, web.secret, web.redirect_uri)
            for user in people:
                attempt, location = await rp.code(user.username, user.password)
                claims = await rp.verified_id_token(
                    await rp.exchange(attempt, location), attempt.nonce
                )
                assert (claims["name"], claims["role"]) == (user.name, user.role.value)
                assert claims.get("org") == user.organisation
