"""An operation's variables coerced by a function compiled once per operation.

graphql-core coerces variables afresh on every request: it converts each variable's type
from the document, dispatches on the kind of each type, and builds a path for each value it
visits. An agent's `reportEvents` is a list of input objects, sent many times a second; its
coercion was nearly half of the mutation's cost on the server.

The compiled coercion is graphql-core's result or nothing: the moment a value is anything but
well-formed (a null where a non-null is expected, an unknown field, a value a scalar
refuses), it raises `Uncoercible`, and graphql-core coerces the request again and words the
errors. `tests/server/test_variables.py` checks this against graphql-core itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionContext,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    get_operation_ast,
    is_input_type,
    type_from_ast,
    value_from_ast,
)
from graphql.execution.execute import (
    CollectedErrors,
    default_field_resolver,
    default_type_resolver,
)

from .journal import Recent

Coerce = Callable[[Any], Any]
Variables = Callable[[dict[str, Any]], dict[str, Any]]

_SCALAR_JSON = (str, int, float, bool, dict)
"""What a list coerces as a list of one (graphql-core: anything not iterable, and mappings)."""


class Uncoercible(Exception):
    """graphql-core must coerce this request (and word its errors)."""


def _fail(_: Any = None) -> Any:
    raise Uncoercible


def compile_variables(schema: GraphQLSchema, operation: OperationDefinitionNode) -> Variables:
    """The coerced variables of `operation` as a function of the request's raw variables."""
    steps: list[tuple[str, Coerce, bool, Any]] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        found = type_from_ast(schema, definition.type)
        if found is None or not is_input_type(found):
            return _fail
        type_ = cast(GraphQLInputType, found)
        default = Undefined
        if definition.default_value is not None:
            default = value_from_ast(definition.default_value, type_)
            if default is Undefined:
                return _fail
        steps.append((name, _coercer(type_), isinstance(type_, GraphQLNonNull), default))

    def coerce(raw: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, coerce_value, required, default in steps:
            if name in raw:
                values[name] = coerce_value(raw[name])
            elif default is not Undefined:
                values[name] = copy.deepcopy(default)
            elif required:
                raise Uncoercible
        return values

    return coerce


def _coercer(type_: GraphQLInputType) -> Coerce:
    """Coerces a value of `type_`, None included."""
    if isinstance(type_, GraphQLNonNull):
        inner = _value_coercer(type_.of_type)

        def non_null(value: Any) -> Any:
            if value is None:
                raise Uncoercible
            return inner(value)

        return non_null
    nullable = _value_coercer(type_)
    return lambda value: None if value is None else nullable(value)


def _value_coercer(type_: GraphQLInputType) -> Coerce:
    """Coerces a value of `type_` that is not None."""
    if isinstance(type_, GraphQLList):
        item = _coercer(type_.of_type)

        def coerce_list(value: Any) -> Any:
            if isinstance(value, list):
                return [item(v) for v in value]
            if isinstance(value, _SCALAR_JSON):
                return [item(value)]
            raise Uncoercible

        return coerce_list
    if isinstance(type_, GraphQLInputObjectType):
        return _object_coercer(type_)
    if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
        parse = type_.parse_value

        def coerce_leaf(value: Any) -> Any:
            try:
                parsed = parse(value)
            except Exception:
                raise Uncoercible from None
            if parsed is Undefined:
                raise Uncoercible
            return parsed

        return coerce_leaf
    return _fail


def _object_coercer(type_: GraphQLInputObjectType) -> Coerce:
    if getattr(type_, "is_one_of", False):
        return _fail
    # Fields are looked up when first used: input types may refer to themselves.
    compiled: list[tuple[str, str, Coerce, bool, Any]] = []

    def fields() -> list[tuple[str, str, Coerce, bool, Any]]:
        if not compiled:
            for name, field in type_.fields.items():
                required = isinstance(field.type, GraphQLNonNull)
                coerce = _coercer(field.type)
                out_name = field.out_name or name
                compiled.append((name, out_name, coerce, required, field.default_value))
        return compiled

    known = frozenset(type_.fields)
    out_type = type_.out_type

    def coerce_object(value: Any) -> Any:
        if not isinstance(value, dict) or not known.issuperset(value):
            raise Uncoercible
        coerced: dict[str, Any] = {}
        for name, out_name, coerce, required, default in fields():
            if name in value:
                coerced[out_name] = coerce(value[name])
            elif default is not Undefined:
                coerced[out_name] = default
            elif required:
                raise Uncoercible
        return out_type(coerced)

    return coerce_object


class CompiledExecutionContext(ExecutionContext):
    """graphql-core's execution, with variables coerced by a compiled function."""

    _compiled: Recent[int, tuple[GraphQLSchema, OperationDefinitionNode, Variables]] = Recent(512)

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        field_resolver: Any = None,
        type_resolver: Any = None,
        subscribe_field_resolver: Any = None,
        max_coercion_errors: int = 50,
        middleware: Any = None,
        is_awaitable: Any = None,
    ) -> Any:
        found = None if middleware is not None else _operation(document, operation_name)
        if found is not None:
            operation, fragments = found
            try:
                variables = cls._variables(schema, operation)(raw_variable_values or {})
            except Uncoercible:
                pass
            else:
                return cls(
                    schema,
                    fragments,
                    root_value,
                    context_value,
                    operation,
                    variables,
                    field_resolver or default_field_resolver,
                    type_resolver or default_type_resolver,
                    subscribe_field_resolver or default_field_resolver,
                    CollectedErrors(),
                    None,
                    is_awaitable,
                )
        return super().build(
            schema,
            document,
            root_value,
            context_value,
            raw_variable_values,
            operation_name,
            field_resolver,
            type_resolver,
            subscribe_field_resolver,
            max_coercion_errors,
            middleware,
            is_awaitable,
        )

    @classmethod
    def _variables(cls, schema: GraphQLSchema, operation: OperationDefinitionNode) -> Variables:
        entry = cls._compiled.get(id(operation))
        if entry is None or entry[0] is not schema or entry[1] is not operation:  # ids recur
            compiled = compile_variables(schema, operation)
            entry = cls._compiled.put(id(operation), (schema, operation, compiled))
        return entry[2]


def _operation(
    document: DocumentNode, operation_name: str | None
) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]] | None:
    """The operation to run and the document's fragments; None where graphql-core must
    say what is wrong."""
    # Validation has rejected documents with two operations of one name.
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments
