"""Scalars, and the root types every module extends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ariadne import MutationType, QueryType, ScalarType, SubscriptionType
from graphql import ValueNode, value_from_ast_untyped

from arkitekt.server.errors import InvalidInput
from arkitekt.server.projection import each_event

Source = TypeVar("Source", bound=Callable[..., Any])

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()


def event_source(field: str) -> Callable[[Source], Source]:
    """Registers a subscription field's source: an async generator whose every value is one
    event, sent as it is (see `projection`)."""

    def register(source: Source) -> Source:
        subscription.set_field(field, each_event)
        subscription.set_source(field, source)
        return source

    return register


json_scalar = ScalarType("JSON")


@json_scalar.literal_parser
def _parse_json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


datetime_scalar = ScalarType("DateTime")


@datetime_scalar.serializer
def _serialize_datetime(value: datetime) -> str:
    return value.isoformat()


@datetime_scalar.value_parser
def _parse_datetime(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise InvalidInput("DateTime", f"{value!r} is not an ISO 8601 date and time") from error
    if parsed.tzinfo is None:
        raise InvalidInput("DateTime", f"{value!r} has no timezone")
    return parsed


bindables = [query, mutation, subscription, json_scalar, datetime_scalar]
