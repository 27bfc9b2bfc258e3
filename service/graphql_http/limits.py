"""What one request may ask, and documents parsed and validated against it.

Beyond graphql-core's own rules (and the two strawberry adds), a document is refused when it is
nested deeper, uses more aliases or has more tokens than the limits allow, or asks for
`__schema`/`__type` where introspection is off. Each refusal names its `extensions.code`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import ASTValidationRule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from service.http_errors import PARSE_FAILED, graphql_error
from service.settings import Settings

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"

_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
_CHECKED_DOCUMENTS = 256  # distinct document texts whose parse and validation are kept


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """What one request may ask; the defaults are those documented for `LNOB_…` settings."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_body_bytes: int = 1_000_000
    introspection: bool = True
    graphiql: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphQLLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_body_bytes=settings.max_body_bytes,
            introspection=settings.introspection,
            graphiql=settings.graphiql,
        )


# A document as checked: parsed (or why it did not parse) and its validation errors.
CheckedDocument = tuple[DocumentNode | None, dict[str, Any] | None, tuple[GraphQLError, ...]]


class DocumentChecker:
    """Parses and validates document texts against `schema` and `limits`, once per text: the
    outcome depends only on the text, the schema and the rules."""

    def __init__(self, schema: GraphQLSchema, limits: GraphQLLimits) -> None:
        self._schema = schema
        self._limits = limits
        rules: list[type[ASTValidationRule]] = [
            *specified_rules,
            MaybeNullValidationRule,  # strawberry validates with these two as well
            OneOfInputValidationRule,
            _depth_limit(limits.max_depth),
            _alias_limit(limits.max_aliases),
        ]
        if not limits.introspection:
            rules.append(_NoIntrospection)
        self._rules = tuple(rules)
        self.check = functools.lru_cache(maxsize=_CHECKED_DOCUMENTS)(self._check)

    def _check(self, query: str) -> CheckedDocument:
        limits = self._limits
        try:
            document = parse(
                query, max_lexical_tokens=limits.max_tokens, max_comments=limits.max_tokens
            )
        except GraphQLError as error:
            return None, _parse_failure(error, limits), ()
        errors = validate(
            self._schema, document, self._rules, hide_suggestions=not limits.introspection
        )
        return document, None, tuple(errors)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _parse_failure(error: GraphQLError, limits: GraphQLLimits) -> dict[str, Any]:
    if "Document contains more than" in error.message:
        message = f"The document has more than {limits.max_tokens} tokens, the most accepted."
        return _error(TOO_MANY_TOKENS, message)
    if "nested too deeply" in error.message:
        return _error(QUERY_TOO_DEEP, "The document is nested too deeply to parse.")
    return graphql_error(error, PARSE_FAILED, trusted=True)


def _depth_limit(max_depth: int) -> type[ValidationRule]:
    class QueryDepth(ValidationRule):
        """Refuses an operation nested deeper than `max_depth` fields, fragments followed."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            try:
                depth = _depth(node.selection_set, self.context, {}, frozenset(), max_depth)
            except RecursionError:
                depth = max_depth + 1
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"The operation is nested more than {max_depth} fields deep, "
                        "the most accepted.",
                        node,
                        extensions={"code": QUERY_TOO_DEEP},
                    )
                )

    return QueryDepth


def _depth(
    selection_set: SelectionSetNode,
    context: ValidationContext,
    fragment_depths: dict[str, int],
    visiting: frozenset[str],
    budget: int,
) -> int:
    """Fields nested below `selection_set`; stops counting once past `budget`.

    Introspection fields are not counted: the introspection switch and graphql-core's
    MaxIntrospectionDepthRule govern them, and GraphiQL's own query is deeper than 12.
    """
    if budget < 0:
        return 0  # already past the limit: the caller's count exceeds it, which is all we need
    deepest = 0
    for selection in selection_set.selections:
        if deepest > budget:
            break
        if isinstance(selection, FieldNode):
            if selection.name.value in _INTROSPECTION_FIELDS:
                continue
            below = 0
            if selection.selection_set is not None:
                below = _depth(
                    selection.selection_set, context, fragment_depths, visiting, budget - 1
                )
            deepest = max(deepest, 1 + below)
        elif isinstance(selection, InlineFragmentNode):
            below = _depth(selection.selection_set, context, fragment_depths, visiting, budget)
            deepest = max(deepest, below)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visiting:
                continue  # a cycle, which NoFragmentCyclesRule reports
            if name not in fragment_depths:
                fragment = context.get_fragment(name)
                fragment_depths[name] = (
                    0
                    if fragment is None
                    else _depth(
                        fragment.selection_set, context, fragment_depths, visiting | {name}, budget
                    )
                )
            deepest = max(deepest, fragment_depths[name])
    return deepest


def _alias_limit(max_aliases: int) -> type[ValidationRule]:
    class AliasCount(ValidationRule):
        """Refuses a document with more than `max_aliases` aliases (each a field run again)."""

        aliases = 0

        def enter_field(self, node: FieldNode, *_args: object) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, node: DocumentNode, *_args: object) -> None:
            if self.aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"The document uses {self.aliases} aliases; at most {max_aliases} "
                        "are accepted.",
                        extensions={"code": TOO_MANY_ALIASES},
                    )
                )

    return AliasCount


class _NoIntrospection(ValidationRule):
    """Refuses `__schema` and `__type` when introspection is off; `__typename` stays."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in _INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(
                    "Introspection is disabled on this server (`__typename` is allowed).",
                    node,
                    extensions={"code": INTROSPECTION_DISABLED},
                )
            )
