"""Key rotation: the keyring on disk, the overlap, the identity document a coordinator trusts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey
from joserfc.jws import GeneralJSONSerialization

from auth.keyring import (
    Keyring,
    announce_rotation,
    load_keyring,
    read_identity_document,
    retired_dir,
    rotate_key,
    verify_rotation,
)
from auth.keys import SigningKey, create_key_file, fingerprint, load_key_file
from auth.signatures import Rejection, SignatureRejected, sign_response, verify_response
from service.cli.keys import keys
from service.errors import ConfigError

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WEEK = dt.timedelta(hours=168)
BODY = b'{"data":{"node":{"id":"riverbend"}}}'


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "node.pem"
    create_key_file(path)
    return path


def signed_by(key: SigningKey, at: dt.datetime) -> dict[str, str]:
    created = int(at.timestamp())
    return {
        "content-type": "application/json",
        **sign_response(
            key, status=200, content_type="application/json", body=BODY, created=created
        ),
    }


def document(keyring: Keyring, at: dt.datetime, node_id: str = "riverbend") -> dict[str, Any]:
    return announce_rotation(
        keyring, node_id=node_id, name="Dhaka node", organisation="Riverbend", now=at
    )


def test_rotation_keeps_the_old_key_aside_and_private(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotation = rotate_key(key_file, overlap=WEEK, now=T0)
    assert rotation.old.key_id == old.key_id
    assert load_key_file(key_file).key_id == rotation.new.key_id != old.key_id
    assert rotation.valid_until == T0 + WEEK
    folder = retired_dir(key_file)
    assert sorted(p.name for p in folder.iterdir()) == [f"{old.key_id}.json", f"{old.key_id}.pem"]
    for path in [key_file, *folder.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    keyring = load_keyring(key_file)
    assert keyring.current.key_id == rotation.new.key_id
    assert [(r.key.key_id, r.valid_until) for r in keyring.retired] == [(old.key_id, T0 + WEEK)]


@pytest.mark.parametrize(
    ("verified_at", "old_key_verifies"),
    [
        (T0 + dt.timedelta(hours=1), True),
        (T0 + WEEK - dt.timedelta(seconds=1), True),
        (T0 + WEEK, False),
        (T0 + WEEK + dt.timedelta(days=1), False),
    ],
)
def test_old_key_verifies_during_the_overlap_and_not_after(
    key_file: Path, verified_at: dt.datetime, old_key_verifies: bool
) -> None:
    old = load_key_file(key_file)
    rotation = rotate_key(key_file, overlap=WEEK, now=T0)
    keys_then = load_keyring(key_file).public_keys(verified_at)
    # A replica not yet restarted still signs with the old key, just before the check.
    headers = signed_by(old, verified_at - dt.timedelta(seconds=10))
    now = int(verified_at.timestamp())
    if old_key_verifies:
        verify_response(keys_then, status=200, headers=headers, body=BODY, now=now)
    else:
        with pytest.raises(SignatureRejected) as refused:
            verify_response(keys_then, status=200, headers=headers, body=BODY, now=now)
        assert refused.value.reason is Rejection.UNKNOWN_KEY
    new_headers = signed_by(rotation.new, verified_at - dt.timedelta(seconds=10))
    verify_response(keys_then, status=200, headers=new_headers, body=BODY, now=now)


def test_rotation_after_the_overlap_removes_the_expired_key(key_file: Path) -> None:
    first = rotate_key(key_file, overlap=WEEK, now=T0)
    second = rotate_key(key_file, overlap=WEEK, now=T0 + WEEK + dt.timedelta(hours=1))
    assert second.removed == (first.old.key_id,)
    assert [r.key.key_id for r in load_keyring(key_file).retired] == [first.new.key_id]


def test_passphrase_protects_retired_keys_too(tmp_path: Path) -> None:
    path = tmp_path / "node.pem"
    create_key_file(path, b"correct horse")
    rotation = rotate_key(path, overlap=WEEK, passphrase=b"correct horse", now=T0)
    keyring = load_keyring(path, b"correct horse")
    assert keyring.current.key_id == rotation.new.key_id
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_keyring(path, b"wrong")


def test_rotation_signed_by_the_old_key_is_accepted(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotation = rotate_key(key_file, overlap=WEEK, now=T0)
    announced = document(load_keyring(key_file), T0 + dt.timedelta(minutes=5))
    accepted = verify_rotation(
        old.public_key, announced, node_id="riverbend", now=T0 + dt.timedelta(hours=2)
    )
    assert accepted == rotation.new.public_jwk()
    claims = read_identity_document(announced)
    assert claims.valid_until(old.key_id) == T0 + WEEK
    assert claims.organisation == "Riverbend"


def test_document_without_rotation_returns_the_same_key(key_file: Path) -> None:
    current = load_key_file(key_file)
    announced = document(load_keyring(key_file), T0)
    assert verify_rotation(current.public_key, announced, now=T0) == current.public_jwk()


def test_rotation_signed_by_another_key_is_refused(key_file: Path, tmp_path: Path) -> None:
    registered = load_key_file(key_file)
    impostor_file = tmp_path / "impostor.pem"
    create_key_file(impostor_file)
    rotate_key(impostor_file, overlap=WEEK, now=T0)
    forged = document(load_keyring(impostor_file), T0)
    with pytest.raises(SignatureRejected) as refused:
        verify_rotation(registered.public_key, forged, now=T0)
    assert refused.value.reason is Rejection.UNKNOWN_KEY


def test_old_signature_over_a_swapped_payload_is_refused(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotate_key(key_file, overlap=WEEK, now=T0)
    genuine = document(load_keyring(key_file), T0)
    attacker = SigningKey(Ed25519PrivateKey.generate())
    claims = json.loads(base64.urlsafe_b64decode(genuine["payload"] + "=="))
    claims["key"] = attacker.public_jwk()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureRejected) as refused:
        verify_rotation(old.public_key, {**genuine, "payload": payload}, now=T0)
    assert refused.value.reason is Rejection.BAD_SIGNATURE


def test_rotation_seen_after_the_overlap_needs_the_operator(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotate_key(key_file, overlap=WEEK, now=T0)
    announced = document(load_keyring(key_file), T0)
    with pytest.raises(SignatureRejected) as refused:
        verify_rotation(old.public_key, announced, now=T0 + WEEK)
    assert refused.value.reason is Rejection.TOO_OLD
    assert "pin the new key" in str(refused.value)


def test_document_of_another_node_is_refused(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotate_key(key_file, overlap=WEEK, now=T0)
    announced = document(load_keyring(key_file), T0, node_id="someone-else")
    with pytest.raises(SignatureRejected) as refused:
        verify_rotation(old.public_key, announced, node_id="riverbend", now=T0)
    assert refused.value.reason is Rejection.WRONG_NODE


def test_two_rotations_within_the_overlap_are_followed(key_file: Path) -> None:
    first_key = load_key_file(key_file)
    rotate_key(key_file, overlap=WEEK, now=T0)
    third = rotate_key(key_file, overlap=WEEK, now=T0 + dt.timedelta(days=1))
    announced = document(load_keyring(key_file), T0 + dt.timedelta(days=1))
    at = T0 + dt.timedelta(days=2)
    assert verify_rotation(first_key.public_key, announced, now=at) == third.new.public_jwk()


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({}, Rejection.MALFORMED),
        ({"payload": "e30", "signatures": "x"}, Rejection.MALFORMED),
        ({"payload": "e30", "signatures": [{"protected": "e30", "signature": ""}]}, None),
    ],
)
def test_malformed_document_is_refused(
    key_file: Path, broken: dict[str, Any], reason: Rejection | None
) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify_rotation(load_key_file(key_file).public_key, broken, now=T0)
    # A document that names no key of ours is, first of all, not vouched for by it.
    assert refused.value.reason is (reason or Rejection.UNKNOWN_KEY)


# joserfc warns that "EdDSA" is deprecated by RFC 9864; the keys' JWKs still declare it.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
def test_document_is_a_standard_jws_another_library_verifies(key_file: Path) -> None:
    old = load_key_file(key_file)
    rotation = rotate_key(key_file, overlap=WEEK, now=T0)
    announced = document(load_keyring(key_file), T0)
    by_kid: dict[str, dict[str, str | list[str]]] = {
        old.key_id: {**old.public_jwk()},
        rotation.new.key_id: {**rotation.new.public_jwk()},
    }
    result = jws.deserialize_json(
        cast(GeneralJSONSerialization, announced),
        lambda member: OKPKey.import_key(by_kid[member.headers()["kid"]]),
        algorithms=["EdDSA"],
    )
    assert json.loads(result.payload)["key"]["kid"] == rotation.new.key_id


def test_cli_rotates_and_lists(key_file: Path) -> None:
    env = {"LNOB_KEY_FILE": str(key_file), "LNOB_KEY_OVERLAP_HOURS": "24", "COLUMNS": "200"}
    old = load_key_file(key_file)
    runner = CliRunner()
    rotated = runner.invoke(keys, ["rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new = load_key_file(key_file)
    assert fingerprint(new.public_jwk()) in rotated.output
    assert f"{fingerprint(old.public_jwk())} retired" in rotated.output
    listed = runner.invoke(keys, ["list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert new.key_id in listed.output and "current" in listed.output
    assert old.key_id in listed.output and "retired" in listed.output
    valid_until = load_keyring(key_file).retired[0].valid_until
    assert valid_until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=24)


def test_cli_refuses_without_a_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(keys, ["rotate"], env={"LNOB_KEY_FILE": str(tmp_path / "x.pem")})
    assert result.exit_code == 1
    assert "not found" in result.output
