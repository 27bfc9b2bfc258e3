"""`lnob node keys …`: rotate the node's signing key and list the keys that speak for it."""

from __future__ import annotations

import datetime as dt

import click
from rich.table import Table

from auth.keyring import load_keyring, rotate_key
from auth.keys import fingerprint
from service.cli.common import console, fail_cleanly, settings_from_env
from service.settings import Settings


def _passphrase(settings: Settings) -> bytes | None:
    secret = settings.key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret else None


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@click.group()
def keys() -> None:
    """The node's signing keys: rotate them, list them."""


@keys.command()
@click.option(
    "--overlap-hours",
    type=click.IntRange(min=1),
    default=168,
    show_default=True,
    envvar="LNOB_KEY_OVERLAP_HOURS",
    help="Hours the retired key still verifies (env LNOB_KEY_OVERLAP_HOURS).",
)
@fail_cleanly
def rotate(overlap_hours: int) -> None:
    """Create a new signing key; the old one stays valid for an overlap.

    Restart the node's processes afterwards so they sign with the new key. Coordinators that
    registered the old key accept the new one from /.well-known/lnob-node.json during the
    overlap; after it, their operators must pin the new key again.
    """
    settings = settings_from_env()
    rotation = rotate_key(
        settings.key_file,
        overlap=dt.timedelta(hours=overlap_hours),
        passphrase=_passphrase(settings),
    )
    console.print(f"new signing key: [bold]{fingerprint(rotation.new.public_jwk())}[/]")
    console.print(
        f"old key {fingerprint(rotation.old.public_jwk())} retired, "
        f"valid until {_when(rotation.valid_until)}"
    )
    for key_id in rotation.removed:
        console.print(f"removed expired key {key_id}", highlight=False)
    console.print("restart the node's processes so they sign with the new key")


@keys.command("list")
@fail_cleanly
def list_keys() -> None:
    """List the current and retired keys, and until when each verifies."""
    settings = settings_from_env()
    keyring = load_keyring(settings.key_file, _passphrase(settings))
    now = dt.datetime.now(dt.UTC)
    table = Table("fingerprint", "key id", "status", "valid until")
    current = keyring.current
    table.add_row(fingerprint(current.public_jwk()), current.key_id, "current (signs)", "-")
    for entry in keyring.retired:
        status = "retired" if now < entry.valid_until else "expired (removed at next rotation)"
        table.add_row(
            fingerprint(entry.key.public_jwk()),
            entry.key.key_id,
            status,
            _when(entry.valid_until),
        )
    console.print(table)
