"""A node's keyring on disk, key rotation, and the identity document that announces it.

The current key stays where `LNOB_KEY_FILE` says. `rotate_key` moves it into a folder beside it
(`<stem>.retired/<key id>.pem`, mode 0600, with `<key id>.json` saying until when it is valid)
and puts a new key in its place. A retired key no longer signs answers; it stays valid for
verification during an overlap (`LNOB_KEY_OVERLAP_HOURS`, 168 by default) so answers signed by
replicas not yet restarted still verify, and so it can vouch for its successor. Its private part
is kept that long only, to co-sign the identity document, and removed at the next rotation after.

The identity document is a JWS in the general JSON serialisation (RFC 7515 section 7.2.1, EdDSA
per RFC 8037). JWS signs the exact payload bytes, so no JSON canonicalisation is needed, any JOSE
library can check it, and one document carries several signatures: the current key's (proof of
possession) and each retired key's still in its overlap (the authority a coordinator needs to
accept the new key without an operator pinning it again).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auth.keys import SigningKey, create_key_file, jwk_thumbprint, load_key_file
from auth.keys import public_key_from_jwk as _public_key_from_jwk
from auth.signatures import Rejection, SignatureRejected
from service.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_OVERLAP = dt.timedelta(hours=168)
DOCUMENT_TYPE = "lnob-node-identity"
JWS_ALGORITHMS = ("EdDSA", "Ed25519")  # RFC 8037's name, and RFC 9864's fully specified one


@dataclass(frozen=True, slots=True)
class RetiredKey:
    key: SigningKey
    retired_at: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True, slots=True)
class Keyring:
    """The key that signs now, and the retired keys on disk (newest first)."""

    current: SigningKey
    retired: tuple[RetiredKey, ...] = ()

    def still_valid(self, now: dt.datetime | None = None) -> tuple[RetiredKey, ...]:
        moment = _utc(now)
        return tuple(entry for entry in self.retired if moment < entry.valid_until)

    def public_keys(self, now: dt.datetime | None = None) -> dict[str, Ed25519PublicKey]:
        """Every key an answer of this node may be verified with at `now`, by key id."""
        keys = [self.current, *(entry.key for entry in self.still_valid(now))]
        return {key.key_id: key.public_key for key in keys}


@dataclass(frozen=True, slots=True)
class Rotation:
    old: SigningKey
    new: SigningKey
    valid_until: dt.datetime
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreviousKey:
    jwk: dict[str, str]
    valid_until: dt.datetime


@dataclass(frozen=True, slots=True)
class IdentityDocument:
    """What an identity document claims; `verify_rotation` is what makes a claim trusted."""

    node_id: str
    name: str
    organisation: str
    issued_at: dt.datetime
    key: dict[str, str]
    previous_keys: tuple[PreviousKey, ...]

    def valid_until(self, key_id: str) -> dt.datetime | None:
        """Until when a retired key of this node is announced as valid (None: not announced)."""
        for previous in self.previous_keys:
            if jwk_thumbprint(previous.jwk) == key_id:
                return previous.valid_until
        return None


def retired_dir(key_file: Path) -> Path:
    return key_file.with_name(key_file.stem + ".retired")


def load_keyring(key_file: Path, passphrase: bytes | None = None) -> Keyring:
    """The current key and the retired keys kept beside it (expired ones included)."""
    current = load_key_file(key_file, passphrase)
    retired: list[RetiredKey] = []
    for meta_path in sorted(retired_dir(key_file).glob("*.json")):
        key_id, retired_at, valid_until = _read_meta(meta_path)
        pem = meta_path.with_suffix(".pem")
        if key_id == current.key_id:  # left by a rotation interrupted before its last step
            continue
        if not pem.exists():
            logger.warning("retired key %s has no private key file; ignored", key_id)
            continue
        key = load_key_file(pem, passphrase)
        if key.key_id != key_id:
            raise ConfigError(f"{pem} does not hold key {key_id}")
        retired.append(RetiredKey(key, retired_at, valid_until))
    retired.sort(key=lambda entry: entry.retired_at, reverse=True)
    return Keyring(current, tuple(retired))


def rotate_key(
    key_file: Path,
    *,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    passphrase: bytes | None = None,
    now: dt.datetime | None = None,
) -> Rotation:
    """Retire the current key (valid for `overlap` more) and create a new one in its place.

    Each step leaves a usable keyring if the process stops there: the new key only replaces the
    old one (atomically) once the old one is safely kept among the retired keys.
    """
    if overlap <= dt.timedelta(0):
        raise ConfigError("the key overlap period must be positive")
    moment = _utc(now)
    old = load_key_file(key_file, passphrase)
    folder = retired_dir(key_file)
    folder.mkdir(mode=0o700, exist_ok=True)
    valid_until = moment + overlap
    _write_private(folder / f"{old.key_id}.pem", key_file.read_bytes())
    meta = {
        "key_id": old.key_id,
        "public_jwk": old.public_jwk(),
        "retired_at": _iso(moment),
        "valid_until": _iso(valid_until),
    }
    _write_private(folder / f"{old.key_id}.json", json.dumps(meta, indent=2).encode("utf-8"))
    staged = key_file.with_name(key_file.name + ".new")
    staged.unlink(missing_ok=True)
    new = create_key_file(staged, passphrase)
    staged.replace(key_file)
    removed = prune_retired(key_file, now=moment)
    return Rotation(old=old, new=new, valid_until=valid_until, removed=removed)


def prune_retired(key_file: Path, *, now: dt.datetime | None = None) -> tuple[str, ...]:
    """Delete retired keys whose overlap has ended; returns their key ids."""
    moment = _utc(now)
    removed = []
    for meta_path in sorted(retired_dir(key_file).glob("*.json")):
        key_id, _, valid_until = _read_meta(meta_path)
        if valid_until <= moment:
            meta_path.with_suffix(".pem").unlink(missing_ok=True)
            meta_path.unlink()
            removed.append(key_id)
    return tuple(removed)


def announce_rotation(
    keyring: Keyring,
    *,
    node_id: str,
    name: str,
    organisation: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The node's identity document: its current key and the retired keys still valid, signed
    by the current key and by each of those retired keys (which is what announces a rotation)."""
    moment = _utc(now)
    previous = keyring.still_valid(moment)
    payload = {
        "type": DOCUMENT_TYPE,
        "node_id": node_id,
        "name": name,
        "organisation": organisation,
        "issued_at": _iso(moment),
        "key": keyring.current.public_jwk(),
        "previous_keys": [
            {"key": entry.key.public_jwk(), "valid_until": _iso(entry.valid_until)}
            for entry in previous
        ],
    }
    encoded = _b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    signers = [keyring.current, *(entry.key for entry in previous)]
    return {"payload": encoded, "signatures": [_jws_signature(key, encoded) for key in signers]}


def verify_rotation(
    old_public_key: Ed25519PublicKey,
    document: Mapping[str, Any],
    *,
    node_id: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """The node's current public JWK, if `document` is vouched for by `old_public_key`: signed by
    it, naming it as retired and still in its overlap, and signed by the new key too. A document
    whose current key is the old key itself returns that key. Raises `SignatureRejected`."""
    old_kid = _thumbprint(old_public_key)
    encoded, signatures = _parse_jws(document)
    if old_kid not in signatures:
        raise SignatureRejected(
            Rejection.UNKNOWN_KEY, "the identity document is not signed by the key we hold"
        )
    _verify_jws(old_public_key, encoded, signatures[old_kid])
    claims = read_identity_document(document)
    if node_id is not None and claims.node_id != node_id:
        raise SignatureRejected(
            Rejection.WRONG_NODE, f"the document is node {claims.node_id!r}, not {node_id!r}"
        )
    new_kid = jwk_thumbprint(claims.key)
    if new_kid == old_kid:
        return claims.key
    valid_until = claims.valid_until(old_kid)
    if valid_until is None:
        raise SignatureRejected(
            Rejection.MALFORMED, "the document does not list our key as retired"
        )
    if _utc(now) >= valid_until:
        raise SignatureRejected(
            Rejection.TOO_OLD, f"our key's overlap ended at {_iso(valid_until)}: pin the new key"
        )
    if new_kid not in signatures:
        raise SignatureRejected(Rejection.UNKNOWN_KEY, "the new key did not sign the document")
    _verify_jws(_public_key_from_jwk(claims.key), encoded, signatures[new_kid])
    return claims.key


def read_identity_document(document: Mapping[str, Any]) -> IdentityDocument:
    """The claims of an identity document, unverified (see `verify_rotation`)."""
    encoded, _ = _parse_jws(document)
    try:
        claims = json.loads(_b64url_decode(encoded))
        if claims["type"] != DOCUMENT_TYPE:
            raise ValueError(f"not an {DOCUMENT_TYPE} document")
        key = _public_jwk(claims["key"])
        previous = tuple(
            PreviousKey(_public_jwk(entry["key"]), _parse_iso(entry["valid_until"]))
            for entry in claims["previous_keys"]
        )
        return IdentityDocument(
            node_id=str(claims["node_id"]),
            name=str(claims["name"]),
            organisation=str(claims["organisation"]),
            issued_at=_parse_iso(claims["issued_at"]),
            key=key,
            previous_keys=previous,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureRejected(Rejection.MALFORMED, f"identity document: {exc}") from None


def _public_jwk(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("a key is not a JWK")
    _public_key_from_jwk(value)  # refuses anything but an Ed25519 public key
    if "d" in value:
        raise ValueError("a JWK in the document holds a private key")
    if "kid" in value and value["kid"] != jwk_thumbprint(value):
        raise ValueError("a JWK's kid is not its thumbprint")
    return dict(value)


def _jws_signature(key: SigningKey, encoded_payload: str) -> dict[str, str]:
    header = json.dumps({"alg": "EdDSA", "kid": key.key_id}, separators=(",", ":"))
    protected = _b64url(header.encode("utf-8"))
    signature = key.sign(f"{protected}.{encoded_payload}".encode("ascii"))
    return {"protected": protected, "signature": _b64url(signature)}


def _parse_jws(document: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, str]]]:
    """The payload and the signatures by key id, from a general JWS JSON serialisation."""
    try:
        encoded = document["payload"]
        by_kid: dict[str, dict[str, str]] = {}
        for entry in document["signatures"]:
            header = json.loads(_b64url_decode(entry["protected"]))
            # RFC 7515 4.1.11: a signature with critical extensions we do not know is unusable.
            usable = header.get("alg") in JWS_ALGORITHMS and "crit" not in header
            if usable and isinstance(header.get("kid"), str):
                by_kid[header["kid"]] = {"protected": entry["protected"], "sig": entry["signature"]}
        if not isinstance(encoded, str):
            raise TypeError("payload is not text")
        return encoded, by_kid
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureRejected(Rejection.MALFORMED, f"identity document: {exc}") from None


def _verify_jws(key: Ed25519PublicKey, encoded: str, entry: Mapping[str, str]) -> None:
    try:
        key.verify(_b64url_decode(entry["sig"]), f"{entry['protected']}.{encoded}".encode("ascii"))
    except (InvalidSignature, ValueError):
        raise SignatureRejected(
            Rejection.BAD_SIGNATURE, "an identity document signature does not verify"
        ) from None


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)})


def _read_meta(path: Path) -> tuple[str, dt.datetime, dt.datetime]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return str(meta["key_id"]), _parse_iso(meta["retired_at"]), _parse_iso(meta["valid_until"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"retired key record {path} is unreadable: {exc}") from None


def _write_private(path: Path, data: bytes) -> None:
    staged = path.with_name(path.name + ".tmp")
    staged.unlink(missing_ok=True)
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    staged.replace(path)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not base64url text")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64url: {exc}") from None


def _utc(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: Any) -> dt.datetime:
    if not isinstance(text, str):
        raise TypeError("a time is not text")
    return _utc(dt.datetime.fromisoformat(text))
