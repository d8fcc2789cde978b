"""Projected subscription events equal graphql-core's execution of them, for the SDK's own
subscriptions and events of every shape, well-formed or not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import ExecutionResult, execute, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from arkitekt.server.projection import Unprojectable, compile_projection
from arkitekt.server.resolvers import build_schema

SCHEMA = build_schema()
DOCUMENT = parse("".join(p.read_text() for p in sorted(Path("graphql").glob("*.graphql"))))
HOT = ["Call", "WatchAssignationEvents", "WatchAssignations"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
# Field values as they come from the database, and some no row would hold.
values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["YIELD", "DONE", "ASSIGN", "INFO", "x", "7"]),
    st.lists(st.lists(json_values, max_size=2), max_size=2),
    st.just(datetime(2026, 1, 2, tzinfo=UTC)),
)
KEYS = [
    "assignation", "sequence", "kind", "yields", "message", "progress", "level",
    "error_type", "traceback", "created_at", "epoch", "interface", "args",
]  # fmt: skip
events = st.lists(st.dictionaries(st.sampled_from(KEYS), values), max_size=3)


def _executed(operation: str, event: Any) -> Any:
    """What graphql-core makes of one event: `subscribe` executes each one this way."""
    variables = {"agent": "a", "assignation": "b", "args": {}}
    result = execute(SCHEMA, DOCUMENT, event, None, variables, operation)
    assert isinstance(result, ExecutionResult)
    return result.data, result.errors


@pytest.mark.parametrize("operation", HOT)
def test_the_hot_subscriptions_compile(operation: str) -> None:
    assert compile_projection(SCHEMA, DOCUMENT, operation) is not None


@pytest.mark.parametrize("operation", HOT)
@settings(max_examples=150, deadline=None)
@given(event=events)
def test_a_projection_is_graphql_cores_result(operation: str, event: list[dict[str, Any]]) -> None:
    project = compile_projection(SCHEMA, DOCUMENT, operation)
    assert project is not None
    data, errors = _executed(operation, event)
    try:
        projected = project(event)
    except Unprojectable:
        assert errors  # only what graphql-core would refuse is left to it
        return
    assert not errors
    assert projected == data


def test_operations_it_cannot_project_are_not_compiled() -> None:
    document = parse(
        "subscription A($x: Boolean!) { call(args: {}) { kind @include(if: $x) } }"
        "subscription B { call(args: {}) { ... on Node { id } kind } }"
        "query C { nodes { id } }"
    )
    for name in ("A", "B", "C"):
        assert compile_projection(SCHEMA, document, name) is None
