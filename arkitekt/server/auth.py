"""Users and tokens: tokens are random, shown once, and stored only as a sha256 digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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


@dataclass(frozen=True)
class _Grant:
    user: User
    expires_at: datetime | None


class Tokens:
    """Checks tokens, remembering valid ones: a request costs no database read.

    Revoking a token must call `forget` (on every replica), so that it stops working at once.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._grants: dict[str, _Grant] = {}

    async def authenticate(self, token: str) -> User:
        key = digest(token)
        grant = self._grants.get(key) or await self._load(key)
        if grant.expires_at is not None and grant.expires_at <= now():
            self._grants.pop(key, None)
            raise Unauthenticated("The token has expired; create a new one.")
        return grant.user

    async def _load(self, key: str) -> _Grant:
        t, u = tables.tokens, tables.users
        query = (
            sa.select(u.c.id, u.c.name, u.c.is_admin, t.c.expires_at, t.c.revoked_at)
            .join(u, u.c.id == t.c.user_id)
            .where(t.c.digest == key)
        )
        row = await self.db.read(lambda connection: connection.execute(query).first())
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("Unknown or revoked token.")
        grant = _Grant(User(id=row.id, name=row.name, is_admin=row.is_admin), row.expires_at)
        self._grants[key] = grant
        return grant

    def forget(self, key: str) -> None:
        self._grants.pop(key, None)


def create_token(connection: Connection, user_id: str, name: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        tables.tokens.insert().values(id=new_id(), user_id=user_id, name=name, digest=digest(token))
    )
    return token


async def ensure_admin_token(tokens: Tokens, token: str | None) -> str | None:
    """Makes sure an admin exists; returns a new admin token unless `token` still works."""
    if token is not None:
        try:
            if (await tokens.authenticate(token)).is_admin:
                return None
        except Unauthenticated:
            pass

    def job(connection: Connection) -> str:
        users = tables.users
        admin = connection.execute(sa.select(users.c.id).where(users.c.is_admin)).scalar()
        if admin is None:
            admin = new_id()
            connection.execute(users.insert().values(id=admin, name="admin", is_admin=True))
        return create_token(connection, admin, "local")

    return await tokens.db.write(job)
