"""What every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from .auth import Principal, User
from .errors import Forbidden
from .platform import Platform


@dataclass(frozen=True)
class Context:
    platform: Platform
    principal: Principal

    @property
    def user(self) -> User:
        return self.principal.grant.user

    @property
    def scopes(self) -> frozenset[str]:
        return self.principal.grant.scopes


HOST_FIELDS = frozenset(
    {
        "me",
        "registerHost",
        "watchHost",
        "deploymentToken",
        "retireDeploymentToken",
        "reportDeployment",
    }
)
"""What a host token may ask for: nothing but hosting (and who it is)."""


def context_of(info: GraphQLResolveInfo) -> Context:
    """The context; FORBIDDEN for a host token asking for anything but hosting."""
    context: Any = info.context
    assert isinstance(context, Context)
    if (
        "HOST" in context.scopes
        and info.path.prev is None  # a root field: what it nests is checked there
        and info.field_name not in HOST_FIELDS
    ):
        raise Forbidden("A host token may only run a host (`arkitekt host`).")
    return context


def require(info: GraphQLResolveInfo, *scopes: str) -> Context:
    """The context, when the token holds one of `scopes`; FORBIDDEN otherwise."""
    context = context_of(info)
    if context.scopes.isdisjoint(scopes):
        wanted = " or ".join(scope.lower() for scope in scopes)
        raise Forbidden(
            f"This token may not do that: it needs the {wanted} scope "
            f"(`arkitekt token create --scope {scopes[0].lower()}`)."
        )
    return context
