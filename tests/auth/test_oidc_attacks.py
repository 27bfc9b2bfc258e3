"""Sign-in requests that must fail, each with the OAuth error the specifications name, and
never a redirect to a URI the client did not register."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError  # type: ignore[import-untyped]
from sqlalchemy import update

from auth.models import AuthorizationCode
from auth.signin_page import WRONG_CREDENTIALS
from auth.tokens import Role
from service.db import make_session_factory, utcnow
from tests.auth.conftest import AuthServer, running_auth_server
from tests.auth.relying_party import Attempt, RelyingParty, query_of, signed_request

CALLBACK = "http://127.0.0.1:9/auth/callback"
OTHER_CALLBACK = "http://127.0.0.1:9/other/callback"


@pytest.fixture
def rp(auth_server: AuthServer) -> RelyingParty:
    client_id, secret = auth_server.add_web_client("Node dashboard", CALLBACK, OTHER_CALLBACK)
    return RelyingParty(auth_server.url, client_id, secret, CALLBACK)


@pytest.fixture
def person(auth_server: AuthServer) -> tuple[str, str]:
    _, password = auth_server.add_user("partner", Role.GOVERNMENT)
    return "partner", password


def _without_signature(page: str) -> str:
    return page.replace(signed_request(page), "")


async def _refused(rp: RelyingParty, attempt: Attempt, location: str, **kwargs: str) -> str:
    with pytest.raises(OAuthError) as refused:
        await rp.exchange(attempt, location, **kwargs)
    error: str = refused.value.error
    return error


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    rp: RelyingParty, person: tuple[str, str]
) -> None:
    username, password = person
    attempt = await rp.start()
    wrong = await rp.sign_in(attempt, username, password + "x")
    unknown = await rp.sign_in(attempt, "nobody", password)
    empty = await rp.sign_in(attempt, username, "")
    for answer in (wrong, unknown, empty):
        assert answer.status_code == 200
        assert "location" not in answer.headers
        assert WRONG_CREDENTIALS in answer.text
        assert 'role="alert"' in answer.text and 'aria-invalid="true"' in answer.text
        assert signed_request(answer.text)  # the form can be tried again
    # Word for word the same page, but for the username typed and the form's fresh signature.
    assert _without_signature(wrong.text.replace(username, "nobody")) == _without_signature(
        unknown.text
    )
    # … and then the right password still works from the same form.
    right = await rp.sign_in(attempt, username, password)
    assert right.status_code == 302


@pytest.mark.parametrize(
    "pkce",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": "too-short"},
    ],
    ids=["missing", "plain", "method-missing", "malformed"],
)
async def test_pkce_s256_is_required(rp: RelyingParty, pkce: dict[str, str | None]) -> None:
    attempt = await rp.start()
    params = dict(httpx.URL(attempt.url).params)
    for name, value in pkce.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    if pkce.get("code_challenge_method") == "plain":
        params["code_challenge"] = attempt.verifier  # what `plain` would send
    answer = httpx.get(f"{rp.issuer}/authorize", params=params)
    assert answer.status_code == 302
    query = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(CALLBACK + "?")
    assert query["error"] == "invalid_request"
    assert query["state"] == attempt.state
    assert "code" not in query


async def test_a_wrong_verifier_is_refused_and_spends_the_code(
    rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt, location = await rp.code(*person)
    # One character changed, whatever the last one was (a verifier may end in "A" already).
    wrong = attempt.verifier[:-1] + ("B" if attempt.verifier.endswith("A") else "A")
    assert await _refused(rp, attempt, location, verifier=wrong) == "invalid_grant"
    # A guessed verifier cannot be followed by the right one: the code is gone.
    assert await _refused(rp, attempt, location) == "invalid_grant"


async def test_a_missing_verifier_is_refused(rp: RelyingParty, person: tuple[str, str]) -> None:
    _, location = await rp.code(*person)
    code = query_of(location)["code"]
    answer = httpx.post(
        rp.metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(rp.client_id, rp.secret),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_a_code_is_spent_once(rp: RelyingParty, person: tuple[str, str]) -> None:
    attempt, location = await rp.code(*person)
    assert "access_token" in await rp.exchange(attempt, location)
    assert await _refused(rp, attempt, location) == "invalid_grant"


async def test_a_code_is_spent_once_across_servers(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str], tmp_path: object
) -> None:
    """Two servers over one database, as replicas behind a load balancer: the same code sent
    to both at once buys one token."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    attempt, location = await rp.code(*person)
    code = query_of(location)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": attempt.verifier}  # fmt: skip
    url = auth_server.settings.auth_database_url
    with running_auth_server(url, tmp_path / "auth") as replica:
        async with httpx.AsyncClient(auth=(rp.client_id, rp.secret)) as http:
            answers = await asyncio.gather(
                http.post(f"{auth_server.url}/token", data=form),
                http.post(f"{replica.url}/token", data=form),
            )
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    refused = next(answer for answer in answers if answer.status_code == 400)
    assert refused.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_refused(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt, location = await rp.code(*person)
    with make_session_factory(auth_server.engine).begin() as session:
        session.execute(
            update(AuthorizationCode).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert await _refused(rp, attempt, location) == "invalid_grant"


async def test_codes_live_sixty_seconds(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    await rp.code(*person)
    with make_session_factory(auth_server.engine)() as session:
        row = session.query(AuthorizationCode).one()
        lifetime = row.expires_at.replace(tzinfo=None) - row.auth_time.replace(tzinfo=None)
    assert dt.timedelta(seconds=59) <= lifetime <= dt.timedelta(seconds=61)


async def test_a_code_is_bound_to_its_client(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt, location = await rp.code(*person)
    other_id, other_secret = auth_server.add_web_client("Another dashboard", CALLBACK)
    thief = RelyingParty(rp.issuer, other_id, other_secret, CALLBACK, metadata=rp.metadata)
    assert await _refused(thief, attempt, location) == "invalid_grant"
    # The code was not spent by the other client's attempt: its own client still gets tokens.
    assert "id_token" in await rp.exchange(attempt, location)


async def test_a_code_is_bound_to_its_redirect_uri(
    rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt, location = await rp.code(*person)
    elsewhere = RelyingParty(rp.issuer, rp.client_id, rp.secret, OTHER_CALLBACK,
                             metadata=rp.metadata)  # fmt: skip
    assert await _refused(elsewhere, attempt, location) == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9/evil",
        CALLBACK + "/",
        CALLBACK + "?next=x",
        "http://127.0.0.1:9/auth/callback#x",
        "https://attacker.example/auth/callback",
        None,
    ],
)
async def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    rp: RelyingParty, redirect_uri: str | None
) -> None:
    attempt = await rp.start()
    params = dict(httpx.URL(attempt.url).params)
    if redirect_uri is None:
        params.pop("redirect_uri")
    else:
        params["redirect_uri"] = redirect_uri
    answer = httpx.get(f"{rp.issuer}/authorize", params=params)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert "cannot be served" in answer.text


async def test_an_unknown_or_revoked_client_gets_an_error_page(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt, location = await rp.code(*person)
    unknown = httpx.get(attempt.url.replace(rp.client_id, "no-such-client"))
    assert unknown.status_code == 400 and "location" not in unknown.headers
    form_page = httpx.get((await rp.start()).url)
    auth_server.revoke(rp.client_id)
    revoked = httpx.get(attempt.url)
    assert revoked.status_code == 400 and "location" not in revoked.headers
    # A form shown before the revocation no longer signs anyone in …
    posted = httpx.post(
        f"{rp.issuer}/authorize",
        data={"authorization_request": signed_request(form_page.text), "username": person[0],
              "password": person[1]},
    )  # fmt: skip
    assert posted.status_code == 400 and "location" not in posted.headers
    # … and a code issued before it buys no token.
    assert await _refused(rp, attempt, location) == "invalid_client"


async def test_a_removed_user_cannot_sign_in_nor_spend_a_code_nor_read_userinfo(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    username, password = person
    attempt, location = await rp.code(username, password)
    earlier_attempt, earlier_location = await rp.code(username, password)
    token = await rp.exchange(earlier_attempt, earlier_location)
    auth_server.remove_user(username)

    again = await rp.sign_in(await rp.start(), username, password)
    assert again.status_code == 200 and WRONG_CREDENTIALS in again.text
    assert await _refused(rp, attempt, location) == "invalid_grant"
    info = httpx.get(
        rp.metadata["userinfo_endpoint"],
        headers={"authorization": f"Bearer {token['access_token']}"},
    )
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["www-authenticate"]


async def test_an_altered_or_forged_form_is_refused_before_any_password_check(
    rp: RelyingParty, person: tuple[str, str]
) -> None:
    attempt = await rp.start()
    signed = signed_request(httpx.get(attempt.url).text)
    body, _, mac = signed.partition(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for value in (tampered, "", "not-a-signed-request", body + "."):
        answer = httpx.post(
            f"{rp.issuer}/authorize",
            data={"authorization_request": value, "username": person[0], "password": person[1]},
        )
        assert answer.status_code == 400, value
        assert "location" not in answer.headers
        assert "expired" in answer.text


async def test_clients_keep_to_their_grant(
    auth_server: AuthServer, rp: RelyingParty, person: tuple[str, str]
) -> None:
    # A dashboard's secret buys no token of its own …
    web = auth_server.token_response(rp.client_id, rp.secret)
    assert web.status_code == 400 and web.json()["error"] == "unauthorized_client"
    # … and a machine client cannot send people through the sign-in form.
    machine_id, _ = auth_server.add_client(Role.SECRETARIAT, "Stocktake script")
    attempt = await rp.start()
    answer = httpx.get(attempt.url.replace(rp.client_id, machine_id))
    assert answer.status_code == 400 and "location" not in answer.headers


async def test_userinfo_needs_a_sign_in_token(auth_server: AuthServer) -> None:
    machine_token = auth_server.token_for(Role.GOVERNMENT)
    url = f"{auth_server.url}/userinfo"
    none = httpx.get(url)
    machine = httpx.get(url, headers={"authorization": f"Bearer {machine_token}"})
    forged = httpx.get(url, headers={"authorization": f"Bearer {machine_token[:-4]}AAAA"})
    assert none.status_code == 401
    assert machine.status_code == 403
    assert 'error="insufficient_scope"' in machine.headers["www-authenticate"]
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]


async def test_unknown_scopes_and_response_types_go_back_to_the_client(
    rp: RelyingParty,
) -> None:
    for extra, error in (({"scope": "openid admin"}, "invalid_scope"),
                         ({"response_type": "token"}, "unsupported_response_type")):  # fmt: skip
        attempt = await rp.start(**extra)
        answer = httpx.get(attempt.url)
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"].startswith(CALLBACK + "?")
        assert query_of(answer.headers["location"])["error"] == error


async def test_a_nonce_is_used_once(rp: RelyingParty, person: tuple[str, str]) -> None:
    attempt, _ = await rp.code(*person)
    replay = httpx.get(attempt.url)  # the same authorization request, nonce and all, again
    assert replay.status_code == 302
    assert query_of(replay.headers["location"])["error"] == "invalid_request"
