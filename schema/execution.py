"""Faster completion of objects whose selected fields are all plain attributes.

graphql-core completes every field of every object one at a time: a resolve-info object, a
path, the resolver, `complete_value`. For a page of 1,000 cells of 20 leaf fields that is most of
an answer's time. `LeafFastPathContext` completes such an object in one loop instead: when every
field selected on its type is a plain strawberry attribute (no resolver, no arguments, no field
extensions, no directive other than `@skip`/`@include`, which field collection has already
applied) of a scalar or enum type, or of an object type whose selected fields qualify in turn,
or a list of them, each value is read and coerced as graphql-core would. A page of cells, its
edges and its page info are then one loop each; so is a list of such objects that a resolver
returns (a stocktake's thousands of entries), item after item, each checked as a plain object
field's list is (an allowed null, never an error or an awaitable). Strings, IDs,
booleans and 32-bit ints of exactly their type, and lists of non-null strings, go into the
answer as they are.

A long list whose selected fields are all strings, IDs, 32-bit ints and booleans (or lists of
them), read by `getattr` from objects that can never be awaited, is converted in C by msgspec:
each object's attributes read into a struct of exactly the selected fields, every value's type
checked, then turned into the answer's dictionaries, keys in the order of the selection. Any
value msgspec would not take as it is (a null where none is allowed, an int beyond 32 bits, a
string subclass) sends the list to the loop above, which answers it as graphql-core would.
Within `answered_as_json` (the HTTP endpoint, which writes every answer with `encode_json`) such
a list is answered as its JSON text instead (`JsonText`, written by msgspec in C): the same JSON
in the response, without building thousands of dictionaries only to write them out.

Anything else takes graphql-core's own path for the whole object: resolvers, `__typename`,
fragment variables, deferred fragments, resolver middleware, a null in a non-null field, a value
that does not coerce or may be awaitable. Reading a plain attribute has no side effects, so
starting over on that path gives the same answer and reports errors exactly as before.
"""

from __future__ import annotations

import contextlib
import enum
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from math import isfinite
from types import CoroutineType, GeneratorType
from typing import Annotated, Any, cast

import msgspec
import strawberry
from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType
from strawberry.types.field import StrawberryField

from service.http_errors import JsonText

# Directives that field collection evaluates; a field still selected after them is plain.
_COLLECTION_DIRECTIVES = frozenset({"skip", "include"})
# Values that are never awaitable, checked by type before asking `is_awaitable`.
_PLAIN_VALUES = frozenset({str, int, float, bool})
# Scalars whose output coercion returns a value of exactly this type unchanged.
_ANSWERED_AS_THEY_ARE: dict[GraphQLNamedType, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
}
_MISS: Any = object()  # what a quick coercion returns for a value it leaves to the full one
# Scalars msgspec checks as graphql-core answers them when a value is exactly of this type.
_WIRE_KINDS: dict[GraphQLNamedType, str] = {
    GraphQLString: "str",
    GraphQLID: "str",
    GraphQLInt: "int",
    GraphQLBoolean: "bool",
}
# A field as msgspec reads it: its scalar's kind, non-null, list, items non-null.
_Wire = tuple[str, bool, bool, bool]


class _Field:
    """How to complete one selected plain attribute whose value is not answered as it is:
    coerce it (a scalar or enum, `quick` first) or complete it with `plan` (an object), item by
    item when it is a list."""

    __slots__ = (
        "coerce", "is_list", "item_as_is", "item_non_null", "non_null", "plan", "quick", "wire",
    )  # fmt: skip

    def __init__(
        self,
        *,
        coerce: Callable[[Any], Any] | None,
        quick: Callable[[Any], Any] | None,
        plan: _Plan | None,
        non_null: bool,
        is_list: bool,
        item_non_null: bool,
        item_as_is: type | None = None,
        wire: _Wire | None = None,
    ) -> None:
        self.coerce = coerce
        self.quick = quick
        self.plan = plan
        self.non_null = non_null
        self.is_list = is_list
        self.item_non_null = item_non_null
        # Items of exactly this type go into the answer unchanged (a list of non-null strings).
        self.item_as_is = item_as_is
        # How msgspec reads the field (`_projection`), when it can check it as graphql-core does.
        self.wire = wire


# One selected field: response key, attribute, how to read it, the types of the values that are
# answered as they are, and how to complete any other value.
_Step = tuple[str, str, Callable[[Any, str], object], frozenset[type], _Field]
_Plan = tuple[_Step, ...]


class _FallBack(Exception):
    """This object needs graphql-core's own path."""


class LeafFastPathContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, with objects of plain fields completed in one loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed like graphql-core's own memo: by the identity of the collected field set, which
        # is kept alive beside its plan so that the id cannot be reused during execution.
        self._leaf_plans: dict[
            tuple[GraphQLObjectType, int], tuple[GroupedFieldSet, _Plan | None]
        ] = {}
        manager = self.middleware_manager
        self._has_middleware = (
            manager is not None and getattr(manager, "_middleware_resolvers", None) is not None
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        if position_context is None and not self._has_middleware:
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                try:
                    return self._complete(plan, source_value)
                except _FallBack:
                    pass
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        # A list of objects from a resolver (a stocktake's thousands of entries): each object
        # in one loop, instead of graphql-core's completion machinery around every item.
        if (
            position_context is None
            and not self._has_middleware
            and (type(items) is list or type(items) is tuple)
        ):
            completed = self._complete_objects(item_type, field_details_list, path, items)
            if completed is not None:
                return completed
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _complete_objects(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
        items: list[Any] | tuple[Any, ...],
    ) -> list[dict[str, Any] | None] | JsonText | None:
        """`items` completed with the plan of their object type, or None for graphql-core's
        path: an item it cannot complete (null where not allowed, awaitable, an error), a type
        that checks its objects, a selection that needs resolvers, or a streamed list."""
        non_null = isinstance(item_type, GraphQLNonNull)
        named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(named, GraphQLObjectType) or named.is_type_of is not None:
            return None
        if self.get_stream_usage(field_details_list, path) is not None:
            return None
        grouped, defer_usages, _forbidden = self.collect_subfields(named, field_details_list)
        if defer_usages:
            return None
        plan = self._plan(named, grouped)
        if plan is None:
            return None
        projection = _projection(plan)
        if projection is not None:
            projected = _projected(projection, items, non_null)
            if projected is not None:
                return projected
        # The list as a plain field's list of objects: each item checked and completed as
        # `_complete_value` does for one (a null where none is allowed, an error or an awaitable
        # sends the whole list back to graphql-core).
        as_field = _Field(
            coerce=None, quick=None, plan=plan, non_null=True, is_list=True, item_non_null=non_null
        )
        try:
            completed: list[dict[str, Any] | None] = self._complete_value(as_field, items)
        except _FallBack:
            return None
        return completed

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> _Plan | None:
        """The plan of `grouped` on `parent_type`, or None if a field needs the stock path."""
        key = (parent_type, id(grouped))
        memo = self._leaf_plans.get(key)
        if memo is None:
            steps = []
            for response_name, details in grouped.items():
                step = self._step(response_name, parent_type, details)
                if step is None:
                    break
                steps.append(step)
            plan = tuple(steps) if len(steps) == len(grouped) else None
            memo = (grouped, plan)
            self._leaf_plans[key] = memo
        return memo[1]

    def _step(
        self, response_name: str, parent_type: GraphQLObjectType, details: FieldDetailsList
    ) -> _Step | None:
        strawberry_field = _plain_attribute(parent_type, details)
        if strawberry_field is None:
            return None
        shape = _shape(parent_type.fields[details[0].node.name.value].type)
        if shape is None:
            return None
        named, non_null, is_list, item_non_null = shape
        coerce, quick, plan = None, None, None
        answered_as_is: frozenset[type] = frozenset()
        item_as_is: type | None = None
        if is_leaf_type(named):
            coerce = named.coerce_output_value
            quick = _quick_coercion(named)
            plain = _ANSWERED_AS_THEY_ARE.get(named)
            if plain is None and named is GraphQLInt:
                plain = int  # answered as it is within GraphQL's 32 bits (checked in `_complete`)
            if plain is not None and not is_list:
                answered_as_is = frozenset({plain} if non_null else {plain, type(None)})
            if plain is not None and plain is not int and is_list and item_non_null:
                item_as_is = plain
        elif isinstance(named, GraphQLObjectType) and named.is_type_of is None:
            grouped, defer_usages, _forbidden = self.collect_subfields(named, details)
            if defer_usages:
                return None
            plan = self._plan(named, grouped)
            if plan is None:
                return None
        else:
            return None
        read = strawberry_field.default_resolver
        kind = _WIRE_KINDS.get(named)
        field = _Field(
            coerce=coerce,
            quick=quick,
            plan=plan,
            non_null=non_null,
            is_list=is_list,
            item_non_null=item_non_null,
            item_as_is=item_as_is,
            wire=(kind, non_null, is_list, item_non_null) if kind and read is getattr else None,
        )
        return (response_name, strawberry_field.python_name, read, answered_as_is, field)

    def _complete(self, plan: _Plan, source: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for response_name, attribute, read, answered_as_is, field in plan:
            try:
                value = read(source, attribute)
            except Exception:  # reported by graphql-core, at the field that could not be read
                raise _FallBack from None
            kind = type(value)
            if kind in answered_as_is and (
                kind is not int or GRAPHQL_MIN_INT <= cast(int, value) <= GRAPHQL_MAX_INT
            ):
                results[response_name] = value
            else:
                results[response_name] = self._complete_value(field, value)
        return results

    def _complete_value(self, field: _Field, value: Any) -> Any:
        if value is None or value is Undefined:
            if field.non_null:
                raise _FallBack
            return None
        if field.is_list:
            if type(value) is not list and type(value) is not tuple:
                raise _FallBack
            plain = field.item_as_is
            if plain is not None:
                for item in value:
                    if type(item) is not plain:
                        break
                else:
                    return list(value)
            return [self._item(field, item) for item in value]
        return self._value(field, value)

    def _item(self, field: _Field, item: Any) -> Any:
        if item is None or item is Undefined:
            if field.item_non_null:
                raise _FallBack
            return None
        return self._value(field, item)

    def _value(self, field: _Field, value: Any) -> Any:
        if field.quick is not None:
            coerced = field.quick(value)
            if coerced is not _MISS:
                return coerced
        kind = type(value)
        if (
            kind not in _PLAIN_VALUES
            and not _never_awaitable(kind)
            and (
                isinstance(value, Exception)
                or (not isinstance(value, enum.Enum) and self.is_awaitable(value))
            )
        ):
            raise _FallBack
        if field.plan is not None:
            return self._complete(field.plan, value)
        assert field.coerce is not None
        try:
            coerced = field.coerce(value)
        except Exception:
            raise _FallBack from None
        if coerced is None or coerced is Undefined:
            raise _FallBack
        return coerced


_INT32 = Annotated[int, msgspec.Meta(ge=GRAPHQL_MIN_INT, le=GRAPHQL_MAX_INT)]
_WIRE_TYPES: dict[str, Any] = {"str": str, "int": _INT32, "bool": bool}


def _projection(plan: _Plan) -> type[msgspec.Struct] | None:
    """The struct msgspec reads an object of `plan` into, or None when a field is not a
    string, ID, int or boolean (or a list of them) read by `getattr`."""
    fields = []
    for response_name, attribute, _read, _as_is, field in plan:
        if field.wire is None:
            return None
        fields.append((response_name, attribute, field.wire))
    return _projection_type(tuple(fields))


@functools.lru_cache(maxsize=256)
def _projection_type(fields: tuple[tuple[str, str, _Wire], ...]) -> type[msgspec.Struct] | None:
    """A struct of `fields` (response key, attribute, wire), in this order, each attribute's
    value checked by msgspec and answered under its response key. Shared by every request
    that selects the same fields; None if two response keys read one attribute."""
    if len({attribute for _, attribute, _ in fields}) != len(fields):
        return None
    members = []
    for _key, attribute, (kind, non_null, is_list, item_non_null) in fields:
        wire: Any = _WIRE_TYPES[kind]
        if is_list:
            wire = list[wire] if item_non_null else list[wire | None]
        members.append((attribute, wire if non_null else wire | None))
    try:
        return msgspec.defstruct(
            "Projection",
            members,
            rename={attribute: key for key, attribute, _ in fields},
            frozen=True,
            gc=False,
        )
    except (TypeError, ValueError):  # an attribute name msgspec does not take for a field
        return None


_AS_JSON: ContextVar[bool] = ContextVar("answered_as_json", default=False)
_JSON = msgspec.json.Encoder()


@contextlib.contextmanager
def answered_as_json() -> Iterator[None]:
    """Within the block, a list msgspec reads is answered as its JSON text (`JsonText`): for a
    caller that writes the whole answer with `encode_json`, and reads nothing of it before."""
    token = _AS_JSON.set(True)
    try:
        yield
    finally:
        _AS_JSON.reset(token)


# Values msgspec would read as something other than an object of attributes (a mapping's keys,
# an array's items), or that never are the object of a GraphQL type.
_NOT_ATTRIBUTE_OBJECTS = (Mapping, str, bytes, bytearray, int, float, list, tuple, set, frozenset)


def _projected(
    projection: type[msgspec.Struct], items: list[Any] | tuple[Any, ...], non_null: bool
) -> list[dict[str, Any] | None] | JsonText | None:
    """`items` read into `projection` and answered as dictionaries (as JSON text within
    `answered_as_json`), or None if any item is not an object of attributes that can never be
    awaited, or any value is not exactly what its field takes."""
    kinds = set(map(type, items))
    kinds.discard(type(None))
    for kind in kinds:
        if issubclass(kind, _NOT_ATTRIBUTE_OBJECTS) or not _never_awaitable(kind):
            return None
    try:
        read = msgspec.convert(items, _list_of(projection, non_null), from_attributes=True)
        if _AS_JSON.get():
            return JsonText(_JSON.encode(read))
        answered: list[dict[str, Any] | None] = msgspec.to_builtins(read)
    except Exception:  # not answered as it is (a string subclass, a missing attribute): the loop
        return None
    return answered


@functools.lru_cache(maxsize=256)
def _list_of(projection: type[msgspec.Struct], non_null: bool) -> Any:
    return list[projection] if non_null else list[projection | None]  # type: ignore[valid-type]


def _quick_coercion(named: GraphQLNamedType) -> Callable[[Any], Any] | None:
    """What `named.coerce_output_value` does to the values it most often gets, without its
    checks and calls; `_MISS` for any other value."""
    if named is GraphQLFloat:
        return _quick_float
    if named is GraphQLInt:
        return _quick_int
    if isinstance(named, CustomGraphQLEnumType):
        return _quick_enum(named)
    return None


def _quick_float(value: Any) -> Any:
    return value if type(value) is float and isfinite(value) else _MISS


def _quick_int(value: Any) -> Any:
    return value if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT else _MISS


def _quick_enum(enum_type: CustomGraphQLEnumType) -> Callable[[Any], Any] | None:
    """A member of the strawberry enum's own class by a dictionary: strawberry's coercion answers
    the first name whose value equals the member's."""
    members: type[enum.Enum] = cast(type[enum.Enum], enum_type.wrapped_cls)
    if not _never_awaitable(members):
        return None
    names: dict[Any, str] = {}
    for member in members:
        for name, value in enum_type.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def quick(value: Any) -> Any:
        return names.get(value, _MISS) if type(value) is members else _MISS

    return quick


def _never_awaitable(kind: type) -> bool:
    """Whether no instance of `kind` is an exception or may be awaitable, whatever it holds: no
    `__await__` in its class, and no instance dictionary or attribute hook that could add one."""
    known = _NEVER_AWAITABLE.get(kind)
    if known is None:
        known = _NEVER_AWAITABLE[kind] = _inert(kind)
    return known


_NEVER_AWAITABLE: dict[type, bool] = {}


def _inert(kind: type) -> bool:
    return (
        not issubclass(kind, (Exception, CoroutineType, GeneratorType))
        and not hasattr(kind, "__await__")
        and not hasattr(kind, "__getattr__")
        and kind.__getattribute__ in (object.__getattribute__, tuple.__getattribute__)
        and kind.__dictoffset__ == 0
    )


def _plain_attribute(
    parent_type: GraphQLObjectType, details: FieldDetailsList
) -> StrawberryField | None:
    """The strawberry field behind `details` if it only reads an attribute, else None."""
    for detail in details:
        if detail.fragment_variable_values is not None or detail.defer_usage is not None:
            return None
        node = detail.node
        if node.arguments:
            return None
        if any(d.name.value not in _COLLECTION_DIRECTIVES for d in node.directives or ()):
            return None
    name = details[0].node.name.value
    if name.startswith("__"):
        return None
    field_def = parent_type.fields.get(name)
    if field_def is None or field_def.args:
        return None
    strawberry_field = field_def.extensions.get("strawberry-definition")
    if not isinstance(strawberry_field, StrawberryField):
        return None
    if (
        strawberry_field.base_resolver is not None
        or strawberry_field.extensions
        or not getattr(field_def.resolve, "_is_default", False)
    ):
        return None
    return strawberry_field


def _shape(output_type: GraphQLOutputType) -> tuple[Any, bool, bool, bool] | None:
    """(named type, non-null, list, items non-null) for `T`, `T!`, `[T]`, `[T!]!` and the like;
    None for lists of lists."""
    inner: Any = output_type
    non_null = isinstance(inner, GraphQLNonNull)
    if non_null:
        inner = inner.of_type
    is_list = isinstance(inner, GraphQLList)
    item_non_null = False
    if is_list:
        inner = inner.of_type
        item_non_null = isinstance(inner, GraphQLNonNull)
        if item_non_null:
            inner = inner.of_type
    if isinstance(inner, GraphQLList):
        return None
    return inner, non_null, is_list, item_non_null


# Documents are parsed and validated once per distinct text, not once per request: strawberry's
# caches live at module level, keyed by their size, so a factory per request still shares them.
_DOCUMENT_CACHE_SIZE = 256


def _parser_cache() -> SchemaExtension:
    return ParserCache(maxsize=_DOCUMENT_CACHE_SIZE)


def _validation_cache() -> SchemaExtension:
    return ValidationCache(maxsize=_DOCUMENT_CACHE_SIZE)


def fast_schema(query: type) -> strawberry.Schema:
    """A strawberry schema over `query` with the leaf fast path and the document caches."""
    return strawberry.Schema(
        query=query,
        execution_context_class=LeafFastPathContext,
        extensions=[_parser_cache, _validation_cache],
    )
