"""What every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from .auth import User
from .platform import Platform


@dataclass(frozen=True)
class Context:
    platform: Platform
    user: User


def context_of(info: GraphQLResolveInfo) -> Context:
    context: Any = info.context
    assert isinstance(context, Context)
    return context
