"""The leaf fast path answers exactly as graphql-core's own path: same data, same errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import math
from collections.abc import Iterator
from typing import Any, NamedTuple, cast

import pytest
import strawberry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from strawberry.scalars import JSON

from auth.caller import Caller
from auth.levels import Level
from federation import registry
from schema import coordinator as coordinator_schema
from schema import node as node_schema
from schema.context import NodeContext
from schema.coordinator_context import CoordinatorContext
from schema.execution import (
    LeafFastPathContext,
    _never_awaitable,
    answered_as_json,
    fast_schema,
)
from service import migrate
from service.db import make_engine, make_session_factory
from service.http_errors import JsonText, encode_json
from service.node.disclosure import DisclosurePolicy
from service.node.identity import load_signing_key
from service.node.observations import ReleasedCell
from service.reference import load_reference
from tests.federation.conftest import coordinator_settings, federation_over, standin_identity
from tests.node.conftest import NodeUnderTest, sex_table


class Recording(LeafFastPathContext):
    """Counts the objects the fast path completed, so a test can tell it ran."""

    completed = 0

    def _complete(self, plan: Any, source: Any) -> dict[str, Any]:
        result = super()._complete(plan, source)
        type(self).completed += 1
        return result


def answer(schema: strawberry.Schema, query: str, context: object, **variables: Any) -> Any:
    result = schema.execute_sync(query, variable_values=variables, context_value=context)
    errors = [
        (e.message, e.path, [(loc.line, loc.column) for loc in e.locations or ()])
        for e in result.errors or ()
    ]
    return result.data, errors


NODE_QUERIES = {
    "every cell field": """{ observations(first: 50) { totalCount suppressedCount
        edges { cursor node { id dataset organisation indicator series refArea subArea timePeriod
          sex age disabilityStatus urbanisation incomeWealthQuantile group unit value n numerator
          lower upper obsStatus note suppressed suppressionReason } }
        pageInfo { hasNextPage endCursor } } }""",
    "aliases and a field twice": """{ observations(first: 50) { edges { node {
        v: value value count: n area: refArea refArea why: suppressionReason } } } }""",
    "fragments and __typename": """query { observations(first: 50) { edges { node {
        ...Cell ... on Observation { unit } __typename } } } }
        fragment Cell on Observation { id value suppressed }""",
    "skip and include": """query Q($yes: Boolean!, $no: Boolean!) {
        observations(first: 50) { edges { node {
          id value @include(if: $yes) n @skip(if: $yes) sex @include(if: $no)
          ... on Observation @skip(if: $no) { unit } } } } }""",
    "enums and lists": """{ codelists(ids: ["GROUP", "SEX"]) { id name
        codes { code name parent description sdmx { dimension codes note } } }
        coverage { dataset group breakdown cellCount firstYear latestYear valuesVisible }
        datasets { slug releaseLevel discoveryLevel published version cellCount updatedAt } }""",
    "nulls in nullable fields": """{ observations(first: 50, filter: {refAreas: ["NPL"]}) {
        edges { node { id value n numerator lower upper obsStatus note suppressionReason } } } }""",
    "resolver error beside plain fields": """{ observations(first: 1) { totalCount }
        codelists(ids: ["NOPE"]) { id } }""",
    "node and policy": """{ node { id name schemaVersion keyId caller { identity level }
        disclosurePolicy { complementarySuppression levels { level threshold rounding } } } }""",
}


@pytest.fixture
def loaded_node(test_node: NodeUnderTest) -> NodeUnderTest:
    test_node.load("small-counts", sex_table(female=(3, 3), male=(40, 40), total=(43, 43)))
    figures = {"F": (11.2, 120), "M": (9.5, 8), "_T": (10.3, 128)}
    percentages = sex_table(
        area="KEN", unit="PERCENT", female=figures["F"], male=figures["M"], total=figures["_T"]
    )
    for row in percentages:
        value = figures[str(row["sex"])][0]
        row.update(lower=value - 1, upper=value + 1, note="survey")
    test_node.load("percentages", percentages)
    test_node.load(
        "official",
        sex_table(area="NPL", female=(51, None), male=(49, None), total=(100, None)),  # type: ignore[arg-type]
        published=True,
    )
    return test_node


@pytest.fixture
def node_context(loaded_node: NodeUnderTest) -> Iterator[NodeContext]:
    settings = loaded_node.settings
    with Session(loaded_node.engine) as session:
        yield NodeContext(
            caller=Caller("test-public", level=Level.PUBLIC),
            session=session,
            settings=settings,
            policy=DisclosurePolicy.from_settings(settings),
            reference=load_reference(),
            signing_key=load_signing_key(settings),
        )


@pytest.mark.parametrize("query", list(NODE_QUERIES.values()), ids=list(NODE_QUERIES))
def test_node_schema_answers_as_graphql_core(node_context: NodeContext, query: str) -> None:
    stock = strawberry.Schema(query=node_schema.Query)
    fast = node_schema.build_node_schema()
    variables = {"yes": True, "no": False} if "$yes" in query else {}
    expected = answer(stock, query, node_context, **variables)
    assert expected[0] is not None or expected[1]  # an answer or an error, never nothing
    assert answer(fast, query, node_context, **variables) == expected


def test_fast_path_completes_the_cells(node_context: NodeContext) -> None:
    schema = strawberry.Schema(query=node_schema.Query, execution_context_class=Recording)
    Recording.completed = 0
    data, errors = answer(schema, NODE_QUERIES["every cell field"], node_context)
    assert errors == []
    cells = len(data["observations"]["edges"])
    assert cells == 9
    # The connection, each edge and its cell, and the page info.
    assert Recording.completed == 1 + 2 * cells + 1


def test_typename_and_arguments_take_the_stock_path(node_context: NodeContext) -> None:
    schema = strawberry.Schema(query=node_schema.Query, execution_context_class=Recording)
    Recording.completed = 0
    answer(schema, "{ observations(first: 5) { edges { node { id __typename } } } }", node_context)
    assert Recording.completed == 0


@pytest.fixture
def coordinator_sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(database_url)
    migrate.upgrade(engine, "coordinator")
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for index in range(3):
            registry.register(
                session,
                f"http://127.0.0.1:{9000 + index}/graphql",
                standin_identity(f"node-{index}"),
            )
    yield sessions
    engine.dispose()


COORDINATOR_QUERIES = {
    "registry": """{ nodes { id name organisation url keyId keyFingerprint schemaVersion addedAt
        lastStatus lastLatencyMs lastMessage lastCheckedAt } }""",
    "aliases, fragments, typename": """{ a: nodes { ...N } b: nodes { id __typename } }
        fragment N on RegisteredNode { id url addedAt lastStatus }""",
}


@pytest.mark.parametrize("query", list(COORDINATOR_QUERIES.values()), ids=list(COORDINATOR_QUERIES))
def test_coordinator_schema_answers_as_graphql_core(
    coordinator_sessions: sessionmaker[Session], database_url: str, query: str
) -> None:
    stock = strawberry.Schema(query=coordinator_schema.Query)
    fast = coordinator_schema.build_coordinator_schema()

    async def both() -> tuple[Any, Any]:
        results = []
        async with federation_over(coordinator_sessions) as federation:
            context = CoordinatorContext(
                federation=federation,
                authorization=None,
                settings=coordinator_settings(database_url),
                sessions=coordinator_sessions,
                reference=load_reference(),
            )
            for schema in (stock, fast):
                result = await schema.execute(query, context_value=context)
                results.append((result.data, [(e.message, e.path) for e in result.errors or ()]))
        return results[0], results[1]

    expected, got = asyncio.run(both())
    assert expected[0] is not None and len(expected[0]["a" if "a:" in query else "nodes"]) == 3
    assert got == expected


# Values no product resolver returns, to show that errors come out as graphql-core reports them.
@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


class Shade(enum.StrEnum):
    RED = "red"


class Label(str):
    """A string that is not exactly a `str`."""


@strawberry.type
class Odd:
    name: str
    count: int | None
    colour: Colour | None
    tags: list[str]
    maybe_tags: list[str | None] | None
    at: dt.datetime | None
    ratio: float | None
    key: strawberry.ID | None
    flag: bool | None


# case -> (attributes set on the middle object, whether graphql-core reports an error)
ODD_VALUES: dict[str, tuple[dict[str, Any], bool]] = {
    "plain": ({}, False),
    "null in a non-null field": ({"name": None}, True),
    "a string for an int": ({"count": "many"}, True),
    "an int beyond 32 bits": ({"count": 2**40}, True),
    "a float for an int": ({"count": 2.5}, True),
    "not an enum member": ({"colour": "blue"}, True),
    "null in a non-null list item": ({"tags": ["a", None]}, True),
    "a string for a list": ({"tags": "abc"}, True),
    "a null list item allowed": ({"maybe_tags": ["a", None]}, False),
    "a set for a list": ({"maybe_tags": {"only"}}, False),
    "a datetime": ({"at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}, False),
    "a string for a datetime": ({"at": "yesterday"}, True),
    "not a number for a float": ({"ratio": math.nan}, True),
    "infinity for a float": ({"ratio": -math.inf}, True),
    "an int for a float": ({"ratio": 3}, False),
    "a bool for a float": ({"ratio": True}, False),
    "a numeric string for a float": ({"ratio": "2.5"}, False),
    "a bool for an int": ({"count": True}, False),
    "the largest 32-bit int": ({"count": 2**31 - 1}, False),
    "one past the largest 32-bit int": ({"count": 2**31}, True),
    "an int for an ID": ({"key": 12}, False),
    "a str subclass for a string": ({"name": Label("labelled")}, False),
    "an int for a string": ({"name": 5}, False),
    "an int for a boolean": ({"flag": 1}, False),
    "a string for a boolean": ({"flag": "yes"}, True),
    "another enum's member of the same value": ({"colour": Shade.RED}, False),
    "the enum's value for its member": ({"colour": "red"}, False),
}


def _odd(**values: Any) -> Odd:
    base: dict[str, Any] = {
        "name": "x",
        "count": 3,
        "colour": Colour.RED,
        "tags": ["a", "b"],
        "maybe_tags": None,
        "at": None,
        "ratio": 0.5,
        "key": "k",
        "flag": False,
    }
    odd = Odd(**base)
    for name, value in values.items():
        object.__setattr__(odd, name, value)
    return odd


@pytest.mark.parametrize(("values", "fails"), list(ODD_VALUES.values()), ids=list(ODD_VALUES))
def test_errors_are_reported_as_graphql_core_reports_them(
    values: dict[str, Any], fails: bool
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def odds(self) -> list[Odd]:
            return [_odd(), _odd(**values), _odd()]

        @strawberry.field
        def odd(self) -> Odd | None:
            return _odd(**values)

    fields = "name count colour tags maybeTags at ratio key flag"
    query = f"{{ odds {{ {fields} }} odd {{ {fields} }} }}"
    stock = strawberry.Schema(query=Query)
    fast = fast_schema(Query)
    expected = answer(stock, query, None)
    assert answer(fast, query, None) == expected
    assert bool(expected[1]) is fails
    Recording.completed = 0
    recorded = strawberry.Schema(query=Query, execution_context_class=Recording)
    assert answer(recorded, query, None) == expected
    # A set is no list or tuple: the fast path leaves it, and its object, to graphql-core.
    if not fails and not isinstance(values.get("maybe_tags"), set):
        assert Recording.completed == 4  # the fast path answered every object itself


class Waiting:
    def __await__(self) -> Any:
        yield


class Hooked(NamedTuple):
    name: str

    def __getattr__(self, name: str) -> Any:
        return name


class Slotted:
    __slots__ = ("name",)


@pytest.mark.parametrize(
    ("kind", "inert"),
    [
        (Slotted, True),
        (NodeUnderTest, False),  # an instance dictionary could gain `__await__`
        (Odd, False),
        (Hooked, False),
        (Waiting, False),
        (ValueError, False),
        (ReleasedCell, True),
    ],
)
def test_only_types_that_can_never_be_awaited_skip_the_check(kind: type, inert: bool) -> None:
    assert _never_awaitable(kind) is inert


class Row:
    """An `Odd` in a class with slots: no instance could be awaitable, so a resolver's list of
    them is completed by the fast path's own list loop."""

    __slots__ = ("at", "colour", "count", "flag", "key", "maybe_tags", "name", "ratio", "tags")

    def __init__(self, odd: Odd) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(odd, name))


def test_a_row_class_takes_the_list_loop() -> None:
    assert _never_awaitable(Row)


@pytest.mark.parametrize(("values", "fails"), list(ODD_VALUES.values()), ids=list(ODD_VALUES))
def test_lists_of_objects_are_answered_as_graphql_core_answers_them(
    values: dict[str, Any], fails: bool
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Odd]:
            return cast(list[Odd], [Row(_odd()), Row(_odd(**values)), Row(_odd())])

        @strawberry.field
        def maybe_rows(self) -> list[Odd | None]:
            return cast(list[Odd | None], (None, Row(_odd(**values))))

    fields = "name count colour tags maybeTags at ratio key flag"
    query = f"{{ rows {{ {fields} }} maybeRows {{ {fields} }} }}"
    expected = answer(strawberry.Schema(query=Query), query, None)
    assert answer(fast_schema(Query), query, None) == expected
    assert bool(expected[1]) is fails
    Recording.completed = 0
    recorded = strawberry.Schema(query=Query, execution_context_class=Recording)
    assert answer(recorded, query, None) == expected
    if not fails and not isinstance(values.get("maybe_tags"), set):
        assert Recording.completed == 4  # three rows, and the one row beside a null


def test_lists_the_loop_cannot_answer_take_graphql_cores_path() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def null_row(self) -> list[Odd]:  # a null where the list allows none
            return cast(list[Odd], [Row(_odd()), None, Row(_odd())])

        @strawberry.field
        def generated(self) -> list[Odd]:  # not a list or tuple: iterated by graphql-core
            return cast(list[Odd], (Row(_odd()) for _ in range(2)))

        @strawberry.field
        def mixed(self) -> list[Odd]:  # an object with an instance dictionary among rows
            return [cast(Odd, Row(_odd())), _odd(), cast(Odd, Row(_odd()))]

        @strawberry.field
        def failing(self) -> list[Odd]:  # an error as an item
            return cast(list[Odd], [Row(_odd()), ValueError("no row")])

    for field in ("nullRow", "generated", "mixed", "failing"):
        query = f"{{ {field} {{ name count tags }} }}"
        expected = answer(strawberry.Schema(query=Query), query, None)
        assert answer(fast_schema(Query), query, None) == expected


@strawberry.type
class Plain:
    """Only strings, IDs, ints and booleans, and lists of them: read by msgspec in one call."""

    name: str
    code: strawberry.ID
    note: str | None
    count: int
    flag: bool
    tags: list[str]
    maybe_tags: list[str | None] | None


class PlainRow:
    __slots__ = ("code", "count", "flag", "maybe_tags", "name", "note", "tags")

    def __init__(self, **values: Any) -> None:
        base: dict[str, Any] = {
            "name": "x", "code": "c1", "note": None, "count": 3, "flag": True,
            "tags": ("a", "b"), "maybe_tags": None,
        }  # fmt: skip
        for name, value in {**base, **values}.items():
            setattr(self, name, value)


class PlainRecord(dict[str, Any]):
    """A mapping with every field as a key: graphql-core reads attributes, not keys."""


# case -> (attributes set on the middle row, whether graphql-core reports an error, whether
# msgspec reads the list: only when every value is exactly of the type its field takes)
PLAIN_VALUES: dict[str, tuple[dict[str, Any], bool, bool]] = {
    "plain": ({}, False, True),
    "a text in a nullable field": ({"note": "n"}, False, True),
    "null in a non-null field": ({"name": None}, True, False),
    "null in a non-null int": ({"count": None}, True, False),
    "the smallest 32-bit int": ({"count": -(2**31)}, False, True),
    "one below the smallest 32-bit int": ({"count": -(2**31) - 1}, True, False),
    "an int beyond 32 bits": ({"count": 2**40}, True, False),
    "a bool for an int": ({"count": False}, False, False),
    "a float for an int": ({"count": 3.0}, False, False),
    "an int for an ID": ({"code": 12}, False, False),
    "an int for a string": ({"name": 5}, False, False),
    "a str subclass for a string": ({"name": Label("labelled")}, False, False),
    "a str enum for a string": ({"name": Shade.RED}, False, True),
    "an int for a boolean": ({"flag": 1}, False, False),
    "a list for a list": ({"tags": ["only"]}, False, True),
    "a set for a list": ({"maybe_tags": {"only"}}, False, True),
    "null in a non-null list item": ({"tags": ("a", None)}, True, False),
    "a null list item allowed": ({"maybe_tags": ["a", None]}, False, True),
    "a string for a list": ({"tags": "abc"}, True, False),
}


class Counting(Recording):
    """Counts the lists msgspec read, beside the objects the loop completed."""

    projected = 0

    def _complete_objects(self, *args: Any) -> Any:
        completed = super()._complete_objects(*args)
        if completed is not None and type(self).completed == 0:
            type(self).projected += 1
        return completed


@pytest.mark.parametrize(
    ("values", "fails", "read_by_msgspec"), list(PLAIN_VALUES.values()), ids=list(PLAIN_VALUES)
)
def test_lists_of_plain_objects_are_read_as_graphql_core_reads_them(
    values: dict[str, Any], fails: bool, read_by_msgspec: bool
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Plain]:
            return cast(list[Plain], [PlainRow(), PlainRow(**values), PlainRow()])

        @strawberry.field
        def maybe_rows(self) -> list[Plain | None] | None:
            return cast(list[Plain | None], (None, PlainRow(**values)))

    fields = "name code note count flag tags maybeTags"
    query = f"{{ rows {{ {fields} }} maybeRows {{ labels: tags label: name count }} }}"
    expected = answer(strawberry.Schema(query=Query), query, None)
    assert answer(fast_schema(Query), query, None) == expected
    assert bool(expected[1]) is fails
    Counting.completed = Counting.projected = 0
    counted = strawberry.Schema(query=Query, execution_context_class=Counting)
    assert answer(counted, query, None) == expected
    if read_by_msgspec:
        assert (Counting.projected, Counting.completed) == (2, 0)
    else:  # the list went to the loop (and, for an error, from there to graphql-core)
        assert Counting.projected < 2


def test_lists_msgspec_cannot_read_as_graphql_core_does_take_the_loop() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def records(self) -> list[Plain]:  # mappings: graphql-core reads no keys
            record = PlainRecord(
                name="x", code="c", note=None, count=1, flag=True, tags=[], maybe_tags=None
            )
            return cast(list[Plain], [record])

        @strawberry.field
        def missing(self) -> list[Plain]:  # an object without one of the attributes
            row = PlainRow()
            delattr(row, "note")
            return cast(list[Plain], [PlainRow(), row])

        @strawberry.field
        def instances(self) -> list[Plain]:  # an instance dictionary: could hold `__await__`
            plain = Plain(
                name="x",
                code=strawberry.ID("c"),
                note=None,
                count=1,
                flag=True,
                tags=[],
                maybe_tags=None,
            )
            return [plain]

    for field, selection in (
        ("records", "name count"),
        ("missing", "name note"),
        ("instances", "name count tags"),
        ("missing", "a: name b: name"),
        ("instances", "name __typename"),
    ):
        query = f"{{ {field} {{ {selection} }} }}"
        expected = answer(strawberry.Schema(query=Query), query, None)
        Counting.completed = Counting.projected = 0
        counted = strawberry.Schema(query=Query, execution_context_class=Counting)
        assert answer(counted, query, None) == expected
        assert answer(fast_schema(Query), query, None) == expected
        assert Counting.projected == 0


def test_a_list_answered_as_json_text_writes_the_same_json() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Plain]:
            values: list[dict[str, Any]] = [case for case, _, read in PLAIN_VALUES.values() if read]
            return cast(list[Plain], [PlainRow(**case) for case in values])

        @strawberry.field
        def labelled(self) -> list[Plain]:  # a value msgspec does not write: the loop answers
            return cast(list[Plain], [PlainRow(name=Label("labelled"))])

        @strawberry.field
        def huge(self) -> JSON:  # what orjson does not write: the standard library writes all
            return cast(JSON, {"n": 2**70})

    schema = fast_schema(Query)
    fields = "name code note count flag tags maybeTags"
    for query in (f"{{ rows {{ {fields} }} labelled {{ name }} }}", "{ rows { name } huge }"):
        plain = schema.execute_sync(query)
        with answered_as_json():
            as_json = schema.execute_sync(query)
        assert plain.errors is None and as_json.errors is None
        assert as_json.data is not None and plain.data is not None
        assert isinstance(as_json.data["rows"], JsonText)
        assert json.loads(encode_json(as_json.data)) == plain.data
        assert plain.data["rows"][0]["name"] == "x"
