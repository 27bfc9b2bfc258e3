"""The structured-field parser of signed answers agrees with the RFC 8941 algorithm, step by step.

`auth.signatures` parses `Signature-Input`, `Signature` and `Content-Digest` on every node answer,
by regular expressions over positions. The reference below is the plain character-by-character
reading of the same strict subset. On any text, both accept with the same members (same types:
a token is not a string, `?1` is not `1`) or both refuse with the same message, which is what a
coordinator records beside an UNTRUSTED source.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from auth.signatures import Token, _parse_dictionary, _serialize_bare

# --- The reference: RFC 8941 read one character at a time ----------------------------------------

Bare = int | str | bytes | bool
Item = tuple[Bare, list[tuple[str, Bare]]]
Member = tuple[Bare | list[Item], list[tuple[str, Bare]]]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


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


def reference_parse_dictionary(text: str) -> dict[str, Member]:
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


def reference_serialize_string(value: str) -> str:
    if not all(" " <= char <= "~" for char in value):
        raise ValueError("a structured-field string holds printable ASCII only")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- Structured-field text: valid dictionaries, then damaged ones --------------------------------

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,5}", fullmatch=True)
integers = st.integers(-(10**15) + 1, 10**15 - 1).map(str) | st.from_regex(
    r"-?0[0-9]{0,14}", fullmatch=True
)
strings = st.text(PRINTABLE, max_size=12).map(
    lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
)
tokens = st.from_regex(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]{0,8}", fullmatch=True)
byte_sequences = st.binary(max_size=24).map(
    lambda raw: ":" + base64.b64encode(raw).decode("ascii") + ":"
)
booleans = st.sampled_from(["?0", "?1"])
bare_items = st.one_of(integers, strings, tokens, byte_sequences, booleans)
# Near misses: too many digits, base64 with bad padding or bits, a boolean that is not one.
near_misses = st.one_of(
    st.from_regex(r"-?[0-9]{14,17}", fullmatch=True),
    st.from_regex(r":[A-Za-z0-9+/=]{0,10}:", fullmatch=True),
    st.from_regex(r"\?[0-9a-z]", fullmatch=True),
)
spaces = st.sampled_from(["", "", " ", "  "])
whitespace = st.sampled_from(["", "", " ", "\t", " \t "])


@st.composite
def parameters(draw: st.DrawFn, bare: st.SearchStrategy[str]) -> str:
    text = ""
    for name, value, gap in draw(
        st.lists(st.tuples(keys | st.sampled_from(["a", "b"]), st.none() | bare, spaces))
    ):
        text += f";{gap}{name}" + ("" if value is None else f"={value}")
    return text


@st.composite
def inner_lists(draw: st.DrawFn, bare: st.SearchStrategy[str]) -> str:
    items = [draw(bare) + draw(parameters(bare)) for _ in range(draw(st.integers(0, 4)))]
    separators = [draw(st.sampled_from([" ", " ", "  "])) for _ in items]
    body = "".join(sep + item for sep, item in zip(separators, items, strict=True))
    return "(" + draw(spaces) + body.lstrip(" ") + draw(spaces) + ")" + draw(parameters(bare))


# What a signer puts in Signature-Input: component names, one space apart.
component_lists = st.lists(
    st.sampled_from(['"@status"', '"content-type"', '"content-digest"', '"@method"']) | strings,
    max_size=4,
).map(lambda names: "(" + " ".join(names) + ")")


@st.composite
def dictionaries(draw: st.DrawFn, bare: st.SearchStrategy[str] = bare_items) -> str:
    members = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(keys | st.sampled_from(["lnob", "sha-256", "sha-512"]))
        value = draw(st.none() | bare | inner_lists(bare) | component_lists)
        members.append(name + ("" if value is None else f"={value}") + draw(parameters(bare)))
    separators = [draw(whitespace) + "," + draw(whitespace) for _ in members[1:]]
    text = members[0] if members else ""
    for separator, member in zip(separators, members[1:], strict=True):
        text += separator + member
    return draw(spaces) + text + draw(spaces)


# Characters that change the meaning of the text, and some that no structured field may hold.
SPECIAL = [
    *'"\\;,=()?:-*/+ \t0919azAZ',
    "\n",
    "\r",
    "\x00",
    "\x7f",
    "é",
    "\u0663",
    "\u00b2",
    "\u2028",
]
damage_characters = st.sampled_from(SPECIAL) | st.characters()


@st.composite
def damaged_dictionaries(draw: st.DrawFn) -> str:
    text = draw(dictionaries(bare_items | near_misses))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        damage = draw(st.sampled_from(["truncate", "insert", "delete", "replace", "tab", "comma"]))
        if damage == "truncate":
            text = text[:at]
        elif damage == "insert":
            text = text[:at] + draw(damage_characters) + text[at:]
        elif damage == "delete":
            text = text[:at] + text[at + 1 :]
        elif damage == "replace":
            text = text[:at] + draw(damage_characters) + text[at + 1 :]
        elif damage == "tab":
            # Tabs are whitespace between members only, not in lists or parameters.
            space = text.find(" ", at)
            text = text if space < 0 else text[:space] + "\t" + text[space + 1 :]
        else:
            text += draw(st.sampled_from([",", ", ", ",\t", " ,"]))
    return text


def outcome(parse: Callable[[str], dict[str, Member]], text: str) -> tuple[str, object]:
    """`("accepted", members with the type of every value)` or `("refused", the message)`."""
    try:
        members = parse(text)
    except ValueError as exc:
        return "refused", str(exc)
    return "accepted", _typed(list(members.items()))


def _typed(value: object) -> object:
    if isinstance(value, list | tuple):
        return [_typed(part) for part in value]
    return type(value).__name__, value


def agrees(text: str) -> None:
    assert outcome(_parse_dictionary, text) == outcome(reference_parse_dictionary, text)


# --- The properties ------------------------------------------------------------------------------


@given(dictionaries())
@settings(max_examples=150)
@example(
    'lnob=("@status" "content-type" "content-digest");created=1750000000'
    ';keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519"'
)
@example('  a=( "x";p=1  "y" ) ;q ,\tb=:Zg==:;c="\\"\\\\" , d  ')
@example("a;b=1;a;b=?0")
@example("a=1, a=?1, b, a=tok/en:x")
def test_valid_dictionaries_parse_as_the_reference_does(text: str) -> None:
    agrees(text)


@given(damaged_dictionaries())
@settings(max_examples=200)
@example("")
@example("a=")
@example("a=(")
@example('a="abc')
@example('a="\\')
@example('a="\\x"')
@example('a="é"')
@example('a="\x00"')
@example("a=\u0663")
@example("a=-")
@example("a=1234567890123456")
@example("a=:Zg=:")
@example("a=:=:")
@example("a=:Zg==Zg==:")
@example("a=?2")
@example("a,")
@example("a, \t")
@example("a;")
@example("a; ")
@example("a;  b")
@example("a;\tb")
@example("a=(1\t2)")
@example("a=(\t1)")
@example('a=("x""y")')
@example('a=("x" "y" )')
@example('a=("x"  "y")')
@example('a=("x" "\\"")')
@example('a=("x";p "y")')
@example("a=()")
@example('a=("")')
@example("a=((1))")
@example("A=1")
@example("a=1 b")
@example("a=1\t,")
@example("a=1\n, b")
@example("a=1 \n, b")
@example("a=1,\nb")
def test_damaged_dictionaries_are_read_as_the_reference_reads_them(text: str) -> None:
    agrees(text)


@given(
    st.sampled_from(["", "a=", "a=(", 'a="', "a;p=", "a=1;", "a=(1 ", "a=1,"]),
    st.text(damage_characters, max_size=30),
)
@settings(max_examples=300)
def test_any_text_is_read_as_the_reference_reads_it(start: str, text: str) -> None:
    agrees(start + text)


@given(st.text(st.sampled_from(SPECIAL) | PRINTABLE | st.characters()))
def test_strings_serialise_as_the_reference_serialises_them(text: str) -> None:
    try:
        expected = reference_serialize_string(text)
    except ValueError:
        expected = "refused"
    try:
        actual = _serialize_bare(text)
    except ValueError:
        actual = "refused"
    assert actual == expected
