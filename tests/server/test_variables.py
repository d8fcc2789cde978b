"""Compiled variable coercion equals graphql-core's, for every operation of the SDK and
variables of every shape, well-formed or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    OperationDefinitionNode,
    parse,
    type_from_ast,
)
from graphql.execution.values import get_variable_values
from hypothesis import given, settings
from hypothesis import strategies as st

from arkitekt.server.resolvers import build_schema
from arkitekt.server.variables import Uncoercible, compile_variables

SCHEMA = build_schema()
DOCUMENT = parse("".join(p.read_text() for p in sorted(Path("graphql").glob("*.graphql"))))
OPERATIONS = {
    d.name.value: d
    for d in DOCUMENT.definitions
    if isinstance(d, OperationDefinitionNode) and d.name and d.variable_definitions
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
SCALARS = {
    "Int": st.integers(-(2**31), 2**31 - 1) | st.integers() | st.floats(allow_nan=False),
    "Float": st.floats() | st.integers(),
    "String": st.text(max_size=5),
    "Boolean": st.booleans(),
    "ID": st.text(max_size=5) | st.integers(),
    "JSON": json_values,
    "DateTime": st.sampled_from(["2026-12-05T10:00:00+00:00", "2026-12-05", "yesterday"]),
}


def valid(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type, mostly well-formed."""
    if isinstance(type_, GraphQLNonNull):
        return valid(type_.of_type, depth)
    if isinstance(type_, GraphQLList):
        item = valid(type_.of_type, depth + 1)
        return st.lists(item, max_size=3) | item  # graphql-core takes one value as a list
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from(list(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return SCALARS[type_.name]
    assert isinstance(type_, GraphQLInputObjectType)
    if depth > 3:
        return st.just({})
    fields = type_.fields
    required = {n: valid(f.type, depth + 1) for n, f in fields.items() if _required(f.type)}
    optional = {n: any_value(f.type, depth + 1) for n, f in fields.items() if n not in required}
    well_formed = st.fixed_dictionaries(required, optional=optional)
    unknown_field = st.fixed_dictionaries({**required, "unknownField": json_values})
    return st.one_of(well_formed, well_formed, unknown_field)


def _required(type_: Any) -> bool:
    return isinstance(type_, GraphQLNonNull)


def any_value(type_: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type, or null, or any JSON at all."""
    return st.one_of(valid(type_, depth), valid(type_, depth), st.none(), json_values)


@st.composite
def variables_of(draw: st.DrawFn, operation: OperationDefinitionNode) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for definition in operation.variable_definitions:
        type_ = type_from_ast(SCHEMA, definition.type)
        assert type_ is not None
        choice = draw(st.sampled_from(["valid", "valid", "valid", "any", "missing"]))
        if choice != "missing":
            strategy = valid(type_) if choice == "valid" else any_value(type_)  # type: ignore[arg-type]
            raw[definition.variable.name.value] = draw(strategy)
    return raw


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_compiled_coercion_is_graphql_cores(name: str, data: st.DataObject) -> None:
    operation = OPERATIONS[name]
    raw = data.draw(variables_of(operation))
    expected = get_variable_values(SCHEMA, operation.variable_definitions, raw)
    try:
        coerced = compile_variables(SCHEMA, operation)(raw)
    except Uncoercible:
        assert isinstance(expected, list)  # only what graphql-core refuses is left to it
        return
    assert coerced == expected


def test_the_agents_reports_compile() -> None:
    """The hot mutation's well-formed variables never fall back."""
    operation = OPERATIONS["ReportEvents"]
    coerce = compile_variables(SCHEMA, operation)
    raw = {
        "agent": "a",
        "epoch": 3,
        "events": [{"assignation": "b", "index": 1, "kind": "YIELD", "yields": [[1]]}],
        "acknowledge": ["b"],
    }
    coerced = coerce(raw)
    assert coerced == get_variable_values(
        SCHEMA, OPERATIONS["ReportEvents"].variable_definitions, raw
    )
    with pytest.raises(Uncoercible):
        coerce({**raw, "epoch": "3"})
