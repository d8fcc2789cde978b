"""Users and tokens: tokens are random, shown once, and stored only as a sha256 digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .db import Database
from .errors import Unauthenticated
from .tables import new_id, now

TOKEN_PREFIX = "ark_"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_authorization(value: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` value."""
    if not value:
        raise Unauthenticated(
            "No token: send `Authorization: Bearer <token>` (see `arkitekt token create`)."
        )
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Malformed Authorization header: expected `Bearer <token>`.")
    return token.strip()


async def authenticate(db: Database, token: str) -> User:
    query = (
        sa.select(
            tables.users.c.id,
            tables.users.c.name,
            tables.users.c.is_admin,
            tables.tokens.c.expires_at,
            tables.tokens.c.revoked_at,
        )
        .join(tables.users, tables.users.c.id == tables.tokens.c.user_id)
        .where(tables.tokens.c.digest == digest(token))
    )
    async with db.read() as connection:
        row = (await connection.execute(query)).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Unknown or revoked token.")
    if row.expires_at is not None and row.expires_at <= now():
        raise Unauthenticated("The token has expired; create a new one.")
    return User(id=row.id, name=row.name, is_admin=row.is_admin)


async def create_token(connection: AsyncConnection, user_id: str, name: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await connection.execute(
        tables.tokens.insert().values(id=new_id(), user_id=user_id, name=name, digest=digest(token))
    )
    return token


async def ensure_admin_token(db: Database, token: str | None) -> str | None:
    """Makes sure an admin exists; returns a new admin token unless `token` still works."""
    if token is not None:
        try:
            if (await authenticate(db, token)).is_admin:
                return None
        except Unauthenticated:
            pass

    async def job(connection: AsyncConnection) -> str:
        admin = (
            await connection.execute(sa.select(tables.users.c.id).where(tables.users.c.is_admin))
        ).scalar()
        if admin is None:
            admin = new_id()
            await connection.execute(
                tables.users.insert().values(id=admin, name="admin", is_admin=True)
            )
        return await create_token(connection, admin, "local")

    return await db.write(job)
