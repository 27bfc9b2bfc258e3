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
import functools
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
    return _signature_base(
        [(_serialize_bare(name), value) for name, value in components], signature_params
    )


def _signature_base(lines: Sequence[tuple[str, str]], signature_params: str) -> bytes:
    """The signature base of components whose identifiers are already serialised."""
    text = "".join([f"{identifier}: {value}\n" for identifier, value in lines])
    text += f'"@signature-params": {signature_params}'
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
    # `_covered` has checked that the items are plain names: each serialises as its name does,
    # the same in the signature parameters and in the lines of the signature base.
    identifiers = _identifiers(covered)
    serialized = "(" + " ".join(identifiers) + ")" + _serialize_params(param_list)
    try:
        base = _signature_base(
            [
                (identifier, values[name])
                for identifier, name in zip(identifiers, covered, strict=True)
            ],
            serialized,
        )
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
    distinct = set(names)
    if len(distinct) != len(names):
        raise SignatureRejected(Rejection.MALFORMED, "a component is covered twice")
    if not distinct.issuperset(COVERED_COMPONENTS):
        missing = [name for name in COVERED_COMPONENTS if name not in distinct]
        raise SignatureRejected(
            Rejection.WRONG_COMPONENTS, "the signature does not cover " + ", ".join(missing)
        )
    return tuple(names)


@functools.lru_cache(maxsize=64)
def _identifiers(covered: tuple[str, ...]) -> tuple[str, ...]:
    """The serialised names of covered components: the same few on every answer."""
    return tuple(_serialize_bare(name) for name in covered)


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
    checked = False
    for name, (value, _) in digests.items():
        digest = _DIGESTS.get(name)
        if digest is None:
            continue
        if not isinstance(value, bytes) or not hmac.compare_digest(value, digest(body).digest()):
            raise SignatureRejected(
                Rejection.DIGEST_MISMATCH, f"the body does not match its {name} content digest"
            )
        checked = True
    if not checked:
        raise SignatureRejected(Rejection.DIGEST_MISMATCH, "no sha-256 or sha-512 content digest")


# --- RFC 8941 structured fields: the subset signatures and digests use --------------------------


class Token(str):
    """A structured-field token (unquoted), kept apart from a string for re-serialisation."""

    __slots__ = ()


Bare = int | str | bytes | bool
Item = tuple[Bare, list[tuple[str, Bare]]]
Member = tuple[Bare | list[Item], list[tuple[str, Bare]]]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
# Printable ASCII but `"` and `\`, which an sf-string holds escaped.
_PLAIN = r"[ !#-\[\]-~]"
# An sf-string's content, as far as it is valid. The quantifiers are possessive so that an
# unterminated string fails in one pass, not by backtracking.
_STRING_CONTENT = rf'{_PLAIN}*+(?:\\["\\]{_PLAIN}*+)*+'
# A bare item: its first character picks the one alternative that can match. The groups are, in
# order: string content (escapes kept), integer, token, base64 of a byte sequence, boolean.
_BARE_ITEM = (
    rf'"({_STRING_CONTENT})"'
    r"|(-?[0-9]{1,15})"
    r"|([A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)"
    r"|:([A-Za-z0-9+/=]*):"
    r"|\?([01])"
)
_BARE = re.compile(_BARE_ITEM)
# A dictionary member's key, then: the content of an inner list of strings without escapes, one
# space apart (the covered components of every signature), the start of any other inner list,
# or a whole bare item (groups 4 to 8).
_MEMBER = re.compile(
    rf'({_KEY.pattern})(?:=(?:\(((?:"{_PLAIN}*"(?: "{_PLAIN}*")*)?)\)|(\()|{_BARE_ITEM}))?'
)
# A parameter and its value, if the value is a valid bare item (groups 2 to 6).
_PARAMETER = re.compile(rf"; *({_KEY.pattern})(?:=(?:{_BARE_ITEM}))?")
_STRING_START = re.compile(rf'"{_STRING_CONTENT}')
_ESCAPED = re.compile(r'\\(["\\])')
_SPACES = re.compile(r" *")
_OPTIONAL_WHITESPACE = re.compile(r"[ \t]*")


def _serialize_bare(value: Bare) -> str:
    if isinstance(value, str):
        if isinstance(value, Token):
            return str(value)
        # Of ASCII, `isprintable` accepts exactly the printable range, space to tilde.
        if not (value.isascii() and value.isprintable()):
            raise ValueError("a structured-field string holds printable ASCII only")
        if "\\" in value or '"' in value:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{value}"'
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    return ":" + base64.b64encode(value).decode("ascii") + ":"


def _serialize_params(params: Sequence[tuple[str, Bare]]) -> str:
    return "".join(
        [
            f";{name}" if value is True else f";{name}={_serialize_bare(value)}"
            for name, value in params
        ]
    )


def _serialize_inner_list(items: Sequence[str | Item], params: Sequence[tuple[str, Bare]]) -> str:
    parts = [
        _serialize_bare(item)
        if isinstance(item, str)
        else _serialize_bare(item[0]) + _serialize_params(item[1])
        for item in items
    ]
    return "(" + " ".join(parts) + ")" + _serialize_params(params)


# The parser runs on every node answer: each step reads a whole token (a key with its value, a
# parameter with its value, a list of plain strings) with one regular expression. A refusal names
# the character where the text stops being valid, counted in the value stripped of its
# surrounding spaces.


def _parse_dictionary(text: str) -> dict[str, Member]:
    text = text.strip(" ")
    end = len(text)
    at = 0
    members: dict[str, Member] = {}
    while at < end:
        member = _MEMBER.match(text, at)
        if member is None:
            raise ValueError(f"expected a key at character {at}")
        at = member.end()
        value: Bare | list[Item] = True
        kind = member.lastindex
        if kind == 2:
            # These strings hold no quote, so `" "` is only ever the space between two of them.
            strings = member[2]
            value = [(name, []) for name in strings[1:-1].split('" "')] if strings else []
        elif kind == 3:
            value, at = _parse_inner_list(text, at - 1)
        elif kind != 1:
            value = _bare_value(member, 4)
        elif text.startswith("=", at):
            value, at = _parse_bare(text, at + 1)  # not a bare item: refused there
        params: list[tuple[str, Bare]] = []
        if text.startswith(";", at):
            params, at = _parse_params(text, at)
        members[member[1]] = (value, params)
        if text.startswith((" ", "\t"), at):
            at = _skip(_OPTIONAL_WHITESPACE, text, at)
        if at == end:
            break
        if text[at] != ",":
            raise ValueError(f"expected ',' at character {at}")
        at = _skip(_OPTIONAL_WHITESPACE, text, at + 1)
        if at == end:
            raise ValueError("trailing comma")
    return members


def _skip(spaces: re.Pattern[str], text: str, at: int) -> int:
    match = spaces.match(text, at)
    return at if match is None else match.end()


def _parse_inner_list(text: str, at: int) -> tuple[list[Item], int]:
    """The inner list whose opening parenthesis is at `at`, and the position after it."""
    items: list[Item] = []
    at += 1
    while True:
        if text.startswith(" ", at):
            at = _skip(_SPACES, text, at)
        if text.startswith(")", at):
            return items, at + 1
        value, at = _parse_bare(text, at)
        params: list[tuple[str, Bare]] = []
        if text.startswith(";", at):
            params, at = _parse_params(text, at)
        items.append((value, params))
        if not text.startswith((" ", ")"), at):
            raise ValueError(f"expected ' ' or ')' at character {at}")


def _parse_params(text: str, at: int) -> tuple[list[tuple[str, Bare]], int]:
    # A repeated parameter keeps its last value, placed last.
    params: dict[str, Bare] = {}
    while text.startswith(";", at):
        match = _PARAMETER.match(text, at)
        if match is None:
            at = _skip(_SPACES, text, at + 1)
            raise ValueError(f"expected a parameter name at character {at}")
        name, at = match[1], match.end()
        value: Bare = True
        if match.lastindex != 1:
            value = _bare_value(match, 2)
        elif text.startswith("=", at):
            value, at = _parse_bare(text, at + 1)  # not a bare item: refused there
        params.pop(name, None)
        params[name] = value
    return list(params.items()), at


def _parse_bare(text: str, at: int) -> tuple[Bare, int]:
    match = _BARE.match(text, at)
    if match is None:
        raise _bare_refused(text, at)
    return _bare_value(match, 1), match.end()


def _bare_value(match: re.Match[str], first: int) -> Bare:
    """The value of a bare item that `match` ends with, its alternatives numbered from `first`."""
    group = match.lastindex or first
    found = match[group]
    kind = group - first
    if kind == 0:
        return _ESCAPED.sub(r"\1", found) if "\\" in found else found
    if kind == 1:
        return int(found)
    if kind == 2:
        return Token(found)
    if kind == 3:
        try:
            return binascii.a2b_base64(found, strict_mode=True)
        except binascii.Error:
            raise ValueError(f"bad base64 before character {match.end()}") from None
    return found == "1"


def _bare_refused(text: str, at: int) -> ValueError:
    """Why no bare item starts at `at`: the kind its first character announces, and where."""
    first = text[at : at + 1]
    if first == '"':
        start = _STRING_START.match(text, at)
        assert start is not None
        # The string stops at a bad escape, a character that is not printable ASCII, or the end.
        stop = start.end()
        if text.startswith("\\", stop):
            return ValueError(f"bad escape at character {stop + 1}")
        return ValueError(f"unterminated or non-ASCII string at character {stop + 1}")
    if first == ":":
        return ValueError(f"expected bytes at character {at}")
    if first == "?":
        return ValueError(f"expected a boolean at character {at}")
    if first == "-" or first.isdigit():
        return ValueError(f"expected an integer at character {at}")
    return ValueError(f"expected a value at character {at}")
