"""Users, teams and tokens for tests, made through the admin API as an operator would."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import arkitekt
from arkitekt.api.enums import Role, Scope


def unique(prefix: str) -> str:
    """A name no other test uses (tests share one platform per session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def add_team(admin: arkitekt.Client, prefix: str = "team") -> str:
    name = unique(prefix)
    await admin.api.create_team(name=name)
    return name


async def add_user(
    admin: arkitekt.Client,
    prefix: str = "user",
    *,
    teams: Sequence[str] = (),
    admin_of: Sequence[str] = (),
    scopes: Sequence[Scope] = (Scope.AGENT, Scope.CALL),
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    """A new user in `teams` (and an admin of `admin_of`); returns (name, token)."""
    name = unique(prefix)
    await admin.api.create_user(name=name)
    for team in teams:
        await admin.api.add_member(team=team, user=name)
    for team in admin_of:
        await admin.api.add_member(team=team, user=name, role=Role.ADMIN)
    created = await admin.api.create_token(
        name="test", user=name, scopes=list(scopes), expires_at=expires_at
    )
    return name, created.secret
