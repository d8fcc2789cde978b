"""Users and tokens: tokens are random, shown once, and stored only as a sha256 digest.

A valid token is a `Grant`: the user (with the teams they belong to) and the token's
scopes. Grants are remembered, so that a request costs no database read; revoking a token,
or changing a user's teams, makes every replica forget (`Tokens.forget`, `forget_user`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import tables
from .db import Database
from .errors import Unauthenticated
from .tables import new_id, now

TOKEN_PREFIX = "ark_"
SCOPES = ("ADMIN", "AGENT", "CALL")
"""What a token may do: manage (ADMIN), serve functions (AGENT), call them (CALL)."""
DEFAULT_SCOPES = ("AGENT", "CALL")
HOST = "HOST"
"""Runs a host and nothing else: held alone, and granted by any token that may manage."""


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool
    teams: frozenset[str] = frozenset()
    """The ids of the teams the user is a member of."""


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: who it speaks for, and what it may do."""

    user: User
    scopes: frozenset[str]
    expires_at: datetime | None
    digest: str


class Principal:
    """Who asks: for one HTTP request, or for a websocket as long as it is open. A change
    to the user's teams replaces the grant in place, so open subscriptions see it."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant


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


def parse_scopes(value: str) -> frozenset[str]:
    return frozenset(value.split())


def format_scopes(scopes: Iterable[str]) -> str:
    return " ".join(sorted(set(scopes)))


def teams_of(connection: Connection, user_id: str) -> frozenset[str]:
    m = tables.memberships
    rows = connection.execute(sa.select(m.c.team_id).where(m.c.user_id == user_id)).scalars()
    return frozenset(rows)


class Tokens:
    """Checks tokens, remembering valid ones: a request costs no database read.

    Revoking a token must call `forget` (on every replica), so that it stops working at once.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._grants: dict[str, Grant] = {}

    async def authenticate(self, token: str) -> Grant:
        return await self.grant(digest(token))

    async def grant(self, key: str) -> Grant:
        """The grant of a token, by digest."""
        grant = self._grants.get(key) or await self._load(key)
        if grant.expires_at is not None and grant.expires_at <= now():
            self._grants.pop(key, None)
            raise Unauthenticated("The token has expired; create a new one.")
        return grant

    async def _load(self, key: str) -> Grant:
        t, u = tables.tokens, tables.users
        query = (
            sa.select(u.c.id, u.c.name, u.c.is_admin, t.c.scopes, t.c.expires_at, t.c.revoked_at)
            .join(u, u.c.id == t.c.user_id)
            .where(t.c.digest == key)
        )

        def job(connection: Connection) -> Grant | None:
            row = connection.execute(query).first()
            if row is None or row.revoked_at is not None:
                return None
            user = User(row.id, row.name, row.is_admin, teams_of(connection, row.id))
            return Grant(user, parse_scopes(row.scopes), row.expires_at, key)

        grant = await self.db.read(job)
        if grant is None:
            raise Unauthenticated("Unknown or revoked token.")
        self._grants[key] = grant
        return grant

    def forget(self, key: str) -> None:
        self._grants.pop(key, None)

    def forget_user(self, user_id: str) -> None:
        """Forgets the grants of a user whose teams changed: they load afresh."""
        for key in [key for key, grant in self._grants.items() if grant.user.id == user_id]:
            del self._grants[key]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def insert_token(
    connection: Connection,
    user_id: str,
    name: str,
    token: str,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    expires_at: datetime | None = None,
) -> str:
    """Stores a token's digest; returns the token's id."""
    token_id = new_id()
    connection.execute(
        tables.tokens.insert().values(
            id=token_id,
            user_id=user_id,
            name=name,
            digest=digest(token),
            scopes=format_scopes(scopes),
            expires_at=expires_at,
        )
    )
    return token_id


async def ensure_admin_token(
    tokens: Tokens, token: str | None, *, keep: bool = False
) -> str | None:
    """Makes sure an admin exists; returns a new admin token unless `token` still works.

    With `keep` (production: the operator chose the token), an unknown `token` becomes the
    admin's, and none is made up.
    """
    if token is not None:
        try:
            grant = await tokens.authenticate(token)
            if grant.user.is_admin and "ADMIN" in grant.scopes:
                return None
        except Unauthenticated:
            pass

    def job(connection: Connection) -> str:
        users = tables.users
        admin = connection.execute(sa.select(users.c.id).where(users.c.is_admin)).scalar()
        if admin is None:
            admin = new_id()
            connection.execute(users.insert().values(id=admin, name="admin", is_admin=True))
        if keep and token is not None:
            known = connection.execute(
                sa.select(tables.tokens.c.id).where(tables.tokens.c.digest == digest(token))
            ).first()
            if known is not None:
                raise Unauthenticated(
                    "The configured admin token was revoked, has expired or belongs to "
                    "another user; configure a new one."
                )
            insert_token(connection, admin, "operator", token, SCOPES)
            return token
        made = new_token()
        insert_token(connection, admin, "local", made, SCOPES)
        return made

    made = await tokens.db.write(job)
    return None if keep else made
