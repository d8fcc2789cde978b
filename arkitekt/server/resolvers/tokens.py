"""Token: what lets a client in. The secret is shown once; the platform keeps its hash.

A token is made with at most the scopes (and the lifetime) of the token asking, so that a
token never mints a stronger one. Revoking takes effect on every replica at once: the
revocation is announced, grants are forgotten, and the token's websockets close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.auth import DEFAULT_SCOPES, HOST, insert_token, new_token, parse_scopes
from arkitekt.server.context import Context, context_of, require
from arkitekt.server.errors import Forbidden, InvalidInput, NotFound
from arkitekt.server.platform import revoked_topic
from arkitekt.server.tables import now

from .base import mutation, query
from .users import load_user_by_name

token_type = ObjectType("Token")

k, u = tables.tokens, tables.users


def _owner(connection: Connection, context: Context, name: str | None) -> Any:
    """The user whose tokens are meant: the caller, or (platform admins) any user."""
    if name is None or name == context.user.name:
        return connection.execute(sa.select(u).where(u.c.id == context.user.id)).one()
    if not context.user.is_admin:
        raise Forbidden("Only the platform's admins manage other users' tokens.")
    owner = load_user_by_name(connection, name)
    if owner is None:
        raise NotFound("user", name, by="name")
    return owner


def _expiry(context: Context, expires_at: datetime | None) -> datetime | None:
    limit = context.principal.grant.expires_at
    if expires_at is not None and expires_at <= now():
        raise InvalidInput("expiresAt", "must be in the future")
    if limit is not None and (expires_at is None or expires_at > limit):
        if expires_at is not None:
            raise InvalidInput("expiresAt", f"must not be later than this token's ({limit})")
        return limit
    return expires_at


@query.field("tokens")
async def resolve_tokens(
    _: None, info: GraphQLResolveInfo, user: str | None = None, all: bool = False
) -> list[Any]:
    context = context_of(info)

    def job(connection: Connection) -> list[Any]:
        owner = _owner(connection, context, user)
        statement = sa.select(k).where(k.c.user_id == owner.id).order_by(k.c.created_at)
        if not all:
            statement = statement.where(
                k.c.revoked_at.is_(None), sa.or_(k.c.expires_at.is_(None), k.c.expires_at > now())
            )
        return list(connection.execute(statement).all())

    return await context.platform.db.read(job)


@mutation.field("createToken")
async def resolve_create_token(
    _: None,
    info: GraphQLResolveInfo,
    name: str,
    user: str | None = None,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    context = require(info, "ADMIN")
    if not 0 < len(name.strip()) <= 100:
        raise InvalidInput("name", "must be 1 to 100 characters")
    wanted = frozenset(scopes) if scopes is not None else context.scopes & set(DEFAULT_SCOPES)
    if not wanted:
        raise InvalidInput("scopes", "give at least one scope")
    if HOST in wanted and len(wanted) > 1:
        raise InvalidInput("scopes", "a host token holds the host scope alone")
    # A host token is weaker than any: whoever may manage may make one.
    held = context.scopes | {HOST}
    if not wanted <= held:
        extra = ", ".join(sorted(wanted - held))
        raise Forbidden(f"This token may not grant {extra}: it does not hold it.")
    expiry = _expiry(context, expires_at)
    secret = new_token()

    def job(connection: Connection) -> Any:
        owner = _owner(connection, context, user)
        token_id = insert_token(connection, owner.id, name.strip(), secret, wanted, expiry)
        return connection.execute(sa.select(k).where(k.c.id == token_id)).one()

    return {"token": await context.platform.db.write(job), "secret": secret}


@mutation.field("revokeToken")
async def resolve_revoke_token(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = require(info, "ADMIN")
    platform = context.platform
    mine = sa.true() if context.user.is_admin else k.c.user_id == context.user.id

    def job(connection: Connection) -> Any:
        row = connection.execute(sa.select(k).where(k.c.id == id, mine)).first()
        if row is None:
            raise NotFound("token", id)
        if row.revoked_at is None:
            connection.execute(k.update().where(k.c.id == id).values(revoked_at=now()))
            platform.announce(revoked_topic(row.digest), None)
        return connection.execute(sa.select(k).where(k.c.id == id)).one()

    row = await platform.db.write(job)
    await platform.revoked(row.digest)
    return row


@token_type.field("scopes")
def resolve_scopes(token: Any, info: GraphQLResolveInfo) -> list[str]:
    return sorted(parse_scopes(token.scopes))


@token_type.field("user")
async def resolve_token_user(token: Any, info: GraphQLResolveInfo) -> Any:
    statement = sa.select(u).where(u.c.id == token.user_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


bindables = [token_type]
