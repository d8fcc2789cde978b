"""User: who uses the platform, and the names users and teams go by."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import teams_visible_to
from arkitekt.server.context import Context, context_of, require
from arkitekt.server.errors import Conflict, Forbidden, InvalidInput
from arkitekt.server.tables import new_id

from .base import mutation, query

user_type = ObjectType("User")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


def checked_name(name: str, field: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            field,
            f"{name[:40]!r} is not a name: 1 to 100 letters, digits, dots, dashes, "
            "underscores or @, starting with a letter or digit",
        )
    return name


def require_platform_admin(info: GraphQLResolveInfo) -> Context:
    context = require(info, "ADMIN")
    if not context.user.is_admin:
        raise Forbidden("Only the platform's admins may do that.")
    return context


def load_user_by_name(connection: Connection, name: str) -> Any:
    u = tables.users
    return connection.execute(sa.select(u).where(u.c.name == name)).first()


@query.field("me")
def resolve_me(_: None, info: GraphQLResolveInfo) -> Any:
    return context_of(info).user


@user_type.field("storedBytes")
async def resolve_stored_bytes(user: Any, info: GraphQLResolveInfo) -> float | None:
    context = context_of(info)
    if user.id != context.user.id and not context.user.is_admin:
        return None
    stored = getattr(user, "stored_bytes", None)
    if stored is None:  # a user of a token, not a row
        u = tables.users
        statement = sa.select(u.c.stored_bytes).where(u.c.id == user.id)
        stored = await context.platform.db.read(lambda c: c.execute(statement).scalar())
    return float(stored or 0)


@query.field("users")
async def resolve_users(_: None, info: GraphQLResolveInfo) -> list[Any]:
    context = context_of(info)
    if not context.user.is_admin:
        raise Forbidden("Only the platform's admins list users.")
    u = tables.users
    return await context.platform.db.read(
        lambda connection: list(connection.execute(sa.select(u).order_by(u.c.name)).all())
    )


@mutation.field("createUser")
async def resolve_create_user(
    _: None, info: GraphQLResolveInfo, name: str, admin: bool = False
) -> Any:
    context = require_platform_admin(info)
    checked_name(name, "name")
    u = tables.users

    def job(connection: Connection) -> Any:
        if load_user_by_name(connection, name) is not None:
            raise Conflict(f"A user named {name!r} exists already.")
        user_id = new_id()
        connection.execute(u.insert().values(id=user_id, name=name, is_admin=admin))
        return connection.execute(sa.select(u).where(u.c.id == user_id)).one()

    try:
        return await context.platform.db.write(job)
    except sa.exc.IntegrityError:
        raise Conflict(f"A user named {name!r} exists already.") from None


@user_type.field("memberships")
async def resolve_memberships(user: Any, info: GraphQLResolveInfo) -> list[Any]:
    context = context_of(info)
    m, t = tables.memberships, tables.teams
    statement = (
        sa.select(m)
        .join(t, t.c.id == m.c.team_id)
        .where(m.c.user_id == user.id, teams_visible_to(context.user))
        .order_by(t.c.name)
    )
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


bindables = [user_type]
