"""Signed answers: RFC 9421 HTTP Message Signatures over a node's responses, Ed25519.

A node signs `@status`, `content-type` and `content-digest` (RFC 9530, sha-256) with the
parameters `created`, `keyid` (the key's RFC 7638 thumbprint) and `alg="ed25519"`. The body is
covered through its digest, so whoever holds the three header values and the signature can check
that the node said "this status, this media type, content with this digest" — with or without the
body itself.

Structured fields (RFC 8941) are parsed here by a small strict parser: only what these three
headers use. Every refusal is a `SignatureRejected` (a `SignatureInvalid`) carrying a `Rejection`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auth.errors import SignatureInvalid
from auth.keys import SigningKey

COVERED_COMPONENTS = ("@status", "content-type", "content-digest")
ALGORITHM = "ed25519"
DEFAULT_LABEL = "lnob"
CLOCK_SKEW_SECONDS = 60
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


class Rejection(StrEnum):
    """Why a signature was refused: what a coordinator records beside an UNTRUSTED source."""

    MISSING_HEADER = "missing-header"
    MALFORMED = "malformed"
    WRONG_COMPONENTS = "wrong-components"
    WRONG_ALGORITHM = "wrong-algorithm"
    DIGEST_MISMATCH = "digest-mismatch"
    UNKNOWN_KEY = "unknown-key"
    TOO_OLD = "too-old"
    FROM_THE_FUTURE = "from-the-future"
    BAD_SIGNATURE = "bad-signature"
    WRONG_NODE = "wrong-node"


class SignatureRejected(SignatureInvalid):
    """A signature was refused; `reason` says why in one code, the message in words."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{detail} ({reason})")


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that verified; `headers()` is what a coordinator passes on as provenance."""

    label: str
    key_id: str
    created: int
    covered: tuple[str, ...]
    content_digest: str
    signature_input: str
    signature: str

    def headers(self) -> dict[str, str]:
        return {
            "Content-Digest": self.content_digest,
            "Signature-Input": self.signature_input,
            "Signature": self.signature,
        }


def content_digest(body: bytes) -> str:
    """The RFC 9530 `Content-Digest` value of `body`: `sha-256=:<base64>:`."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def signature_params(
    components: Sequence[str], *, created: int, keyid: str, alg: str | None = ALGORITHM
) -> str:
    """The `@signature-params` value: the covered components and the parameters, in this order."""
    params: list[tuple[str, Bare]] = [("created", created), ("keyid", keyid)]
    if alg is not None:
        params.append(("alg", alg))
    return _serialize_inner_list(list(components), params)


def signature_base(components: Sequence[tuple[str, str]], signature_params: str) -> bytes:
    """RFC 9421 section 2.5: one `"<identifier>": <value>` line per covered component, in order,
    then the `@signature-params` line with no newline after it."""
    lines = [f"{_serialize_bare(name)}: {value}" for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    text = "\n".join(lines)
    if not text.isascii() or "\r" in text:
        raise ValueError("a signature base holds printable ASCII only")
    return text.encode("ascii")


def sign_response(
    key: SigningKey,
    *,
    status: int,
    content_type: str,
    body: bytes,
    created: int | None = None,
    label: str = DEFAULT_LABEL,
) -> dict[str, str]:
    """The `Content-Digest`, `Signature-Input` and `Signature` headers for one response."""
    if not 100 <= status <= 999:
        raise ValueError(f"HTTP status {status} is not three digits")
    if not _KEY.fullmatch(label):
        raise ValueError(f"signature label {label!r} is not a structured-field key")
    if not content_type.strip():
        raise ValueError("a signed response needs a Content-Type")
    digest = content_digest(body)
    created = int(time.time()) if created is None else created
    params = signature_params(COVERED_COMPONENTS, created=created, keyid=key.key_id)
    base = signature_base(
        [
            ("@status", str(status)),
            ("content-type", content_type.strip()),
            ("content-digest", digest),
        ],
        params,
    )
    signature = base64.b64encode(key.sign(base)).decode("ascii")
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{label}={params}",
        "Signature": f"{label}=:{signature}:",
    }


def verify_response(
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    max_age_seconds: int | None = 300,
    now: int | None = None,
    label: str = DEFAULT_LABEL,
    clock_skew_seconds: int = CLOCK_SKEW_SECONDS,
) -> VerifiedSignature:
    """Check a response's `label` signature against `public_keys` (by keyid) and its body against
    its Content-Digest. Raises `SignatureRejected` with the first reason found.

    `max_age_seconds=None` skips the age check: for provenance checked long after the answer.
    """
    fields = _lowercase(headers)
    for name in ("signature-input", "signature", "content-digest"):
        if name not in fields:
            raise SignatureRejected(Rejection.MISSING_HEADER, f"the answer has no {name} header")
    inputs = _parse_header(fields, "signature-input")
    signatures = _parse_header(fields, "signature")
    if label not in inputs or label not in signatures:
        raise SignatureRejected(Rejection.MISSING_HEADER, f"the answer has no signature {label!r}")
    (items, param_list), (signature, _) = inputs[label], signatures[label]
    if not isinstance(items, list) or not isinstance(signature, bytes):
        raise SignatureRejected(Rejection.MALFORMED, f"signature {label!r} is malformed")
    covered = _covered(items)
    params = dict(param_list)
    key_id = params.get("keyid")
    created = params.get("created")
    if not isinstance(key_id, str) or type(created) is not int:
        raise SignatureRejected(Rejection.MALFORMED, "the signature needs a keyid and a created")
    if params.get("alg", ALGORITHM) != ALGORITHM:
        raise SignatureRejected(Rejection.WRONG_ALGORITHM, f"alg {params['alg']!r} is not ed25519")
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise SignatureRejected(Rejection.UNKNOWN_KEY, f"key {key_id!r} is not one we hold")
    _check_time(created, params.get("expires"), max_age_seconds, now, clock_skew_seconds)
    _check_digest(fields["content-digest"], body)
    values = {**fields, "@status": str(status)}
    absent = [name for name in covered if name not in values]
    if absent:
        raise SignatureRejected(
            Rejection.MISSING_HEADER, "covered but absent: " + ", ".join(absent)
        )
    serialized = _serialize_inner_list(items, param_list)
    try:
        base = signature_base([(name, values[name]) for name in covered], serialized)
        public_key.verify(signature, base)
    except ValueError as exc:
        raise SignatureRejected(Rejection.MALFORMED, str(exc)) from None
    except InvalidSignature:
        raise SignatureRejected(
            Rejection.BAD_SIGNATURE, f"the signature does not verify with key {key_id!r}"
        ) from None
    return VerifiedSignature(
        label=label,
        key_id=key_id,
        created=created,
        covered=covered,
        content_digest=fields["content-digest"],
        signature_input=f"{label}={serialized}",
        signature=f"{label}=:{base64.b64encode(signature).decode('ascii')}:",
    )


def _lowercase(headers: Mapping[str, str]) -> dict[str, str]:
    """RFC 9421 section 2.1: names are case-insensitive, values trimmed, repeated lines joined."""
    fields: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
    return fields


def _parse_header(fields: Mapping[str, str], name: str) -> dict[str, Member]:
    try:
        return _parse_dictionary(fields[name])
    except ValueError as exc:
        raise SignatureRejected(Rejection.MALFORMED, f"{name}: {exc}") from None


def _covered(items: list[Item]) -> tuple[str, ...]:
    names: list[str] = []
    for value, params in items:
        if not isinstance(value, str) or isinstance(value, Token) or params:
            raise SignatureRejected(Rejection.MALFORMED, "covered components must be plain names")
        if value.startswith("@") and value != "@status":
            raise SignatureRejected(
                Rejection.WRONG_COMPONENTS, f"{value} cannot be checked on a response alone"
            )
        names.append(value)
    if len(set(names)) != len(names):
        raise SignatureRejected(Rejection.MALFORMED, "a component is covered twice")
    missing = [name for name in COVERED_COMPONENTS if name not in names]
    if missing:
        raise SignatureRejected(
            Rejection.WRONG_COMPONENTS, "the signature does not cover " + ", ".join(missing)
        )
    return tuple(names)


def _check_time(
    created: int, expires: Bare | None, max_age: int | None, now: int | None, skew: int
) -> None:
    now = int(time.time()) if now is None else now
    if created > now + skew:
        raise SignatureRejected(
            Rejection.FROM_THE_FUTURE, f"created {created - now} s in the future"
        )
    if max_age is not None and now - created > max_age:
        raise SignatureRejected(
            Rejection.TOO_OLD, f"created {now - created} s ago, more than {max_age} s"
        )
    if expires is not None and (type(expires) is not int or now > expires):
        raise SignatureRejected(Rejection.TOO_OLD, "the signature has expired")


def _check_digest(header: str, body: bytes) -> None:
    try:
        digests = _parse_dictionary(header)
    except ValueError as exc:
        raise SignatureRejected(Rejection.MALFORMED, f"content-digest: {exc}") from None
    known = {name: value for name, (value, _) in digests.items() if name in _DIGESTS}
    if not known:
        raise SignatureRejected(Rejection.DIGEST_MISMATCH, "no sha-256 or sha-512 content digest")
    for name, value in known.items():
        actual = _DIGESTS[name](body).digest()
        if not isinstance(value, bytes) or not hmac.compare_digest(value, actual):
            raise SignatureRejected(
                Rejection.DIGEST_MISMATCH, f"the body does not match its {name} content digest"
            )


# --- RFC 8941 structured fields: the subset signatures and digests use --------------------------


class Token(str):
    """A structured-field token (unquoted), kept apart from a string for re-serialisation."""

    __slots__ = ()


Bare = int | str | bytes | bool
Item = tuple[Bare, list[tuple[str, Bare]]]
Member = tuple[Bare | list[Item], list[tuple[str, Bare]]]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


def _serialize_bare(value: Bare) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    if not all(" " <= char <= "~" for char in value):
        raise ValueError("a structured-field string holds printable ASCII only")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_params(params: Sequence[tuple[str, Bare]]) -> str:
    return "".join(
        f";{name}" if value is True else f";{name}={_serialize_bare(value)}"
        for name, value in params
    )


def _serialize_inner_list(items: Sequence[str | Item], params: Sequence[tuple[str, Bare]]) -> str:
    parts = [
        _serialize_bare(item)
        if isinstance(item, str)
        else _serialize_bare(item[0]) + _serialize_params(item[1])
        for item in items
    ]
    return "(" + " ".join(parts) + ")" + _serialize_params(params)


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        return self.text[self.at : self.at + 1]

    def take(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        match = pattern.match(self.text, self.at)
        if match is None:
            raise ValueError(f"expected {what} at character {self.at}")
        self.at = match.end()
        return match

    def skip(self, spaces: str = " ") -> None:
        while self.peek() and self.peek() in spaces:
            self.at += 1


def _parse_dictionary(text: str) -> dict[str, Member]:
    cursor = _Cursor(text.strip(" "))
    members: dict[str, Member] = {}
    while cursor.peek():
        name = cursor.take(_KEY, "a key").group()
        if cursor.peek() == "=":
            cursor.at += 1
            value: Bare | list[Item] = (
                _parse_inner_list(cursor) if cursor.peek() == "(" else _parse_bare(cursor)
            )
        else:
            value = True
        members[name] = (value, _parse_params(cursor))
        cursor.skip(" \t")
        if not cursor.peek():
            break
        if cursor.peek() != ",":
            raise ValueError(f"expected ',' at character {cursor.at}")
        cursor.at += 1
        cursor.skip(" \t")
        if not cursor.peek():
            raise ValueError("trailing comma")
    return members


def _parse_inner_list(cursor: _Cursor) -> list[Item]:
    cursor.at += 1
    items: list[Item] = []
    while True:
        cursor.skip()
        if cursor.peek() == ")":
            cursor.at += 1
            return items
        items.append((_parse_bare(cursor), _parse_params(cursor)))
        if cursor.peek() not in (" ", ")"):
            raise ValueError(f"expected ' ' or ')' at character {cursor.at}")


def _parse_params(cursor: _Cursor) -> list[tuple[str, Bare]]:
    params: list[tuple[str, Bare]] = []
    while cursor.peek() == ";":
        cursor.at += 1
        cursor.skip()
        name = cursor.take(_KEY, "a parameter name").group()
        value: Bare = True
        if cursor.peek() == "=":
            cursor.at += 1
            value = _parse_bare(cursor)
        params = [(key, old) for key, old in params if key != name] + [(name, value)]
    return params


def _parse_bare(cursor: _Cursor) -> Bare:
    first = cursor.peek()
    if first == '"':
        return _parse_string(cursor)
    if first == ":":
        try:
            return base64.b64decode(cursor.take(_BYTES, "bytes").group(1), validate=True)
        except binascii.Error:
            raise ValueError(f"bad base64 before character {cursor.at}") from None
    if first == "?":
        return cursor.take(re.compile(r"\?[01]"), "a boolean").group() == "?1"
    if first == "-" or first.isdigit():
        return int(cursor.take(_INTEGER, "an integer").group())
    return Token(cursor.take(_TOKEN, "a value").group())


def _parse_string(cursor: _Cursor) -> str:
    cursor.at += 1
    chars: list[str] = []
    while True:
        char = cursor.peek()
        cursor.at += 1
        if char == "\\":
            escaped = cursor.peek()
            if escaped not in ('"', "\\") or not escaped:
                raise ValueError(f"bad escape at character {cursor.at}")
            chars.append(escaped)
            cursor.at += 1
        elif char == '"':
            return "".join(chars)
        elif not char or not " " <= char <= "~":
            raise ValueError(f"unterminated or non-ASCII string at character {cursor.at}")
        else:
            chars.append(char)
