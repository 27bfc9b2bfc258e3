"""GraphQL answers encoded as the standard library would write them: same JSON, keys in order."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, cast

import httpx
import pytest
import strawberry
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.scalars import JSON

from service.graphql_http import GraphQLHTTP, GraphQLLimits
from service.http_errors import JsonText, encode_json


def standard(body: dict[str, Any]) -> bytes:
    """What the HTTP layer wrote before orjson."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def pairs(raw: bytes) -> Any:
    """The parsed JSON with every object as a list of pairs, so that key order counts."""
    return json.loads(raw, object_pairs_hook=list)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_json_body_is_encoded_as_the_standard_library_does(body: dict[str, Any]) -> None:
    assert pairs(encode_json(body)) == pairs(standard(body))


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"label": 'Zürich — 東京 \u2028 </script> "quoted" \\ \t'}},
        {"z": 1, "a": 2, "m": {"y": None, "b": [1.5, True, "x"]}},
        {"data": {"tiny": 1e-05, "huge": 1e16, "whole": 2.0, "negative": -0.0}},
        {"beyond 64 bits": 2**70},  # orjson refuses; the standard library writes it
        {"errors": [{"path": ["observations", 3, "value"]}], "data": None},
    ],
    ids=["unicode", "key order", "float forms", "big integer", "errors"],
)
def test_bodies_mean_the_same_json(body: dict[str, Any]) -> None:
    encoded = encode_json(body)
    assert pairs(encoded) == pairs(standard(body))
    assert encoded.decode("utf-8")  # UTF-8, non-ASCII written as it is
    assert b"\\u00fc" not in encoded


def test_keys_that_are_not_strings_are_written_as_the_standard_library_writes_them() -> None:
    body: dict[Any, Any] = {"data": {1: "one", None: "none"}}
    assert encode_json(body) == standard(body)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_float_never_appears_as_a_token(value: float) -> None:
    encoded = encode_json({"data": {"figure": value, "kept": 1.25}})
    for token in (b"NaN", b"Infinity"):
        assert token not in encoded
    assert json.loads(encoded) == {"data": {"figure": None, "kept": 1.25}}


def test_json_text_is_placed_as_it_is() -> None:
    # Written as it is by orjson (its spaces kept); read back when the standard library writes
    # the body (an integer orjson refuses beside it).
    text = JsonText(b'[{"a": 1}, "Z\xc3\xbcrich"]')
    assert encode_json({"data": {"rows": text}}) == b'{"data":{"rows":[{"a": 1}, "Z\xc3\xbcrich"]}}'
    beside_a_big_integer = encode_json({"data": {"rows": text, "n": 2**70}})
    assert beside_a_big_integer == standard({"data": {"rows": [{"a": 1}, "Zürich"], "n": 2**70}})


def test_a_string_that_is_not_unicode_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_json({"data": {"broken": "\ud800"}})


@strawberry.type
class Query:
    @strawberry.field
    def figure(self, kind: str) -> float:
        return {"nan": math.nan, "finite": 2.5}[kind]

    @strawberry.field
    def blob(self) -> JSON:
        return cast(JSON, {"ratio": math.inf, "name": "Zürich", "z": 1, "a": 2})


def answer(query: str) -> httpx.Response:
    endpoint: GraphQLHTTP[None] = GraphQLHTTP(
        strawberry.Schema(query=Query), get_context=_no_context, limits=GraphQLLimits()
    )
    app = Starlette(routes=[Route("/graphql", endpoint, methods=["GET", "POST"])])

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.post("/graphql", json={"query": query})

    return asyncio.run(post())


async def _no_context(_request: object) -> None:
    return None


def test_a_non_finite_float_field_is_a_field_error_not_a_token() -> None:
    response = answer('{ ok: figure(kind: "finite") bad: figure(kind: "nan") }')
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None  # `bad` is non-null, so its error nulls the whole answer
    assert body["errors"][0]["path"] == ["bad"]
    assert b"NaN" not in response.content


def test_a_json_scalar_keeps_its_key_order_and_has_no_infinity() -> None:
    response = answer("{ blob }")
    assert response.status_code == 200
    assert b"Infinity" not in response.content
    assert pairs(response.content) == [
        ("data", [("blob", [("ratio", None), ("name", "Zürich"), ("z", 1), ("a", 2)])])
    ]
    assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
