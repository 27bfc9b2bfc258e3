"""Ed25519 signing keys: created once per node, kept in a 0600 file outside the database."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.errors import ConfigError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        """The RFC 7638 JWK thumbprint: the same key gives the same id on every machine."""
        return jwk_thumbprint(self.public_jwk(with_kid=False))

    def public_jwk(self, *, with_kid: bool = True) -> dict[str, str]:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
        if with_kid:
            jwk = {**jwk, "kid": jwk_thumbprint(jwk), "alg": "EdDSA", "use": "sig"}
        return jwk

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _b64url(hashlib.sha256(canonical).digest())


def fingerprint(jwk: dict[str, str]) -> str:
    """A short, human-comparable form of the thumbprint, for operators checking keys by phone."""
    thumb = jwk_thumbprint(jwk)
    return ":".join(thumb[i : i + 4] for i in range(0, 24, 4))


def public_key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "x" not in jwk:
        raise ValueError("expected an Ed25519 public key as a JWK (kty OKP, crv Ed25519)")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def create_key_file(path: Path, passphrase: bytes | None = None) -> SigningKey:
    """Write a new key to `path` (mode 0600); refuses to overwrite an existing file."""
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return SigningKey(key)


def load_key_file(path: Path, passphrase: bytes | None = None) -> SigningKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"signing key file {path} not found: run `lnob node init` or set LNOB_KEY_FILE"
        ) from None
    status = path.stat()
    # As PostgreSQL does for its ssl_key_file: a root-owned file may be group-readable (a
    # Kubernetes Secret mounted 0440 with fsGroup); any other owner's file must be 0600.
    loose = status.st_mode & (0o037 if status.st_uid == 0 else 0o077)
    if loose:
        raise ConfigError(f"signing key file {path} is readable by others: chmod 600 it")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError):
        # Never echo the key material or the passphrase.
        raise ConfigError(
            f"signing key file {path} could not be read (wrong passphrase or not a PEM key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key file {path} does not hold an Ed25519 key")
    return SigningKey(key)


def load_or_create_key_file(path: Path, passphrase: bytes | None = None) -> tuple[SigningKey, bool]:
    """The node's key, created on first use. Returns the key and whether it was created now."""
    if path.exists():
        return load_key_file(path, passphrase), False
    return create_key_file(path, passphrase), True
