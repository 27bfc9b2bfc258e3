"""`lnob auth …`: the secretariat's authorization server, its clients and its users."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Iterator

import click
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auth import clients as client_store
from auth import users as user_store
from auth.keys import fingerprint, load_or_create_key_file
from auth.tokens import Role
from service import migrate
from service.cli.common import console, err_console, fail_cleanly, settings_from_env
from service.db import make_engine, make_session_factory
from service.errors import NotInitialised
from service.logging import configure_logging
from service.settings import Settings


@click.group()
def auth() -> None:
    """Run the secretariat's authorization server; register its clients and users."""


@auth.command()
@fail_cleanly
def init() -> None:
    """Create the client database (Alembic migrations) and the token signing key.

    Safe to run again: it upgrades the database and keeps the existing key.
    """
    settings = settings_from_env()
    engine = make_engine(settings.auth_database_url)
    try:
        migrate.upgrade(engine, "auth")
    finally:
        engine.dispose()
    secret = settings.auth_key_passphrase
    key, created = load_or_create_key_file(
        settings.auth_key_file, secret.get_secret_value().encode("utf-8") if secret else None
    )
    console.print(
        f"client database ready: {engine.url.render_as_string(hide_password=True)}",
        highlight=False,
    )
    state = "created" if created else "kept"
    console.print(f"token signing key {state}: {settings.auth_key_file} (mode 0600)")
    console.print(f"key id: {key.key_id}", highlight=False)
    console.print(f"key fingerprint: [bold]{fingerprint(key.public_jwk())}[/]")
    console.print(f"issuer: {settings.auth_issuer}", highlight=False)


@auth.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8200, show_default=True, type=int)
@fail_cleanly
def serve(host: str, port: int) -> None:
    """Serve /token, /authorize (sign-in), /userinfo, /.well-known/jwks.json and the
    OpenID Connect and RFC 8414 metadata."""
    from auth.server import create_auth_app
    from service.serving import serve as serve_app

    settings = settings_from_env()
    configure_logging(logging.INFO)
    serve_app(create_auth_app(settings), host=host, port=port)


@auth.group()
def clients() -> None:
    """Machine clients (secretariat scripts, government partner systems, ICSO teams) and web
    clients (the dashboards people sign in to)."""


@clients.command("add")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    help="Machine clients: what the client is. Web clients have none.",
)
@click.option(
    "--name", required=True, help="Who the client is, e.g. 'Ministry of Planning, Kenya'."
)
@click.option("--org", "organisation", help="icso clients: the organisation they speak for.")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="Web clients: where a person comes back to after signing in (repeatable), e.g. "
    "https://dashboard.example.org/auth/callback.",
)
@fail_cleanly
def add_client(
    role: str | None, name: str, organisation: str | None, redirect_uris: tuple[str, ...]
) -> None:
    """Register a client and print its secret — once: only a hash of it is kept."""
    settings = settings_from_env()
    with _auth_session(settings) as session:
        record, secret = client_store.add_client(
            session,
            name=name,
            role=Role(role) if role else None,
            organisation=organisation,
            redirect_uris=redirect_uris,
        )
    kind = record.role.value if record.role else "web client"
    console.print(f"client [bold]{record.client_id}[/] — {record.name} ({kind})")
    if record.organisation:
        console.print(f"organisation: {record.organisation}", highlight=False)
    for uri in record.redirect_uris:
        console.print(f"redirect_uri: {uri}", highlight=False, soft_wrap=True)
    console.print(f"client_id: {record.client_id}", highlight=False)
    console.print(f"client_secret: {secret}", highlight=False, soft_wrap=True)
    issuer = settings.auth_issuer.rstrip("/")
    use = (
        f"Sign-in: issuer {settings.auth_issuer} (authorization code with PKCE)."
        if record.is_web_client
        else f"Tokens: POST {issuer}/token (client credentials)."
    )
    err_console.print(
        f"[bold yellow]Store the secret now[/]: it is not kept and cannot be shown again. {use}"
    )


@clients.command("list")
@fail_cleanly
def list_clients() -> None:
    """Every registered client, revoked ones included."""
    settings = settings_from_env()
    with _auth_session(settings) as session:
        records = client_store.list_clients(session)
    table = Table("name", "role", "organisation", "added", "last token", "status")
    # The id is what `revoke` takes: shown whole, however narrow the terminal.
    table.add_column("client id", overflow="fold")
    table.add_column("redirect URIs", overflow="fold")
    for record in records:
        table.add_row(
            record.name,
            record.role.value if record.role else "web",
            record.organisation or "",
            _when(record.created_at),
            _when(record.last_token_at),
            "active" if record.active else f"revoked {_when(record.revoked_at)}",
            record.client_id,
            "\n".join(record.redirect_uris),
        )
    console.print(table)


@clients.command("revoke")
@click.argument("client_id")
@fail_cleanly
def revoke_client(client_id: str) -> None:
    """Stop issuing tokens to CLIENT_ID; tokens already issued expire within their lifetime."""
    settings = settings_from_env()
    with _auth_session(settings) as session:
        record = client_store.revoke_client(session, client_id)
    console.print(
        f"client [bold]{record.client_id}[/] ({record.name}) revoked; tokens already issued "
        f"expire within {settings.token_lifetime} seconds"
    )


@auth.group()
def users() -> None:
    """People who sign in to the dashboards, each with a role (and an organisation, for ICSO
    staff) that decides what they see, as a machine client's role does."""


@users.command("add")
@click.option("--username", required=True, help="What the person types to sign in.")
@click.option("--name", required=True, help="The person's name, as the dashboards show it.")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--organisation", help="icso users: the member organisation they work for.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one.",
)
@fail_cleanly
def add_user(
    username: str, name: str, role: str, organisation: str | None, password_stdin: bool
) -> None:
    """Add a user and print their generated password — once: only a hash of it is kept."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    settings = settings_from_env()
    with _auth_session(settings) as session:
        record, password = user_store.add_user(
            session,
            username=username,
            name=name,
            role=Role(role),
            organisation=organisation,
            password=password,
        )
    console.print(f"user [bold]{record.username}[/] — {record.name} ({record.role.value})")
    if record.organisation:
        console.print(f"organisation: {record.organisation}", highlight=False)
    console.print(f"subject: {record.subject}", highlight=False)
    if not password_stdin:
        console.print(f"password: {password}", highlight=False, soft_wrap=True)
        err_console.print(
            "[bold yellow]Give the password to the person now[/]: it is not kept and cannot "
            "be shown again."
        )


@users.command("list")
@fail_cleanly
def list_users() -> None:
    """Every user, removed ones included."""
    settings = settings_from_env()
    with _auth_session(settings) as session:
        records = user_store.list_users(session)
    table = Table("username", "name", "role", "organisation", "added", "last sign-in", "status")
    table.add_column("subject", overflow="fold")
    for record in records:
        table.add_row(
            record.username,
            record.name,
            record.role.value,
            record.organisation or "",
            _when(record.created_at),
            _when(record.last_sign_in_at),
            "active" if record.active else f"removed {_when(record.removed_at)}",
            record.subject,
        )
    console.print(table)


@users.command("remove")
@click.argument("username")
@fail_cleanly
def remove_user(username: str) -> None:
    """Stop USERNAME signing in; access tokens already issued expire within their lifetime."""
    settings = settings_from_env()
    with _auth_session(settings) as session:
        record = user_store.remove_user(session, username)
    console.print(
        f"user [bold]{record.username}[/] ({record.name}) removed; access tokens already "
        f"issued expire within {settings.token_lifetime} seconds"
    )


@contextlib.contextmanager
def _auth_session(settings: Settings) -> Iterator[Session]:
    """A transaction on the migrated auth database, its engine disposed afterwards."""
    engine = _migrated_engine(settings)
    try:
        with make_session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _migrated_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.auth_database_url)
    if not migrate.at_head(engine, "auth"):
        engine.dispose()
        raise NotInitialised("the client database is not initialised: run `lnob auth init`")
    return engine


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
