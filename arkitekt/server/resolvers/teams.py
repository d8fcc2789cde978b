"""Team and Membership: who shares which functions.

A change of memberships changes what the user sees at once, on every replica: their
grants are reloaded, and their open websockets get the new teams (`Platform.access_changed`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import teams_visible_to
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import Conflict, Forbidden, NotFound
from arkitekt.server.platform import ACCESS_TOPIC, AGENTS_TOPIC
from arkitekt.server.tables import new_id

from .base import mutation, query
from .users import checked_name, load_user_by_name, require_platform_admin

team_type = ObjectType("Team")
membership_type = ObjectType("Membership")

t, m, g, at = tables.teams, tables.memberships, tables.agents, tables.agent_teams


def _managed_team(connection: Connection, user: User, name: str) -> Any:
    """A team the user may manage: a platform admin any, a team admin their own."""
    team = connection.execute(sa.select(t).where(t.c.name == name)).first()
    if team is None or not (user.is_admin or team.id in user.teams):
        raise NotFound("team", name, by="name")
    if not user.is_admin:
        role = connection.execute(
            sa.select(m.c.role).where(m.c.team_id == team.id, m.c.user_id == user.id)
        ).scalar()
        if role != "ADMIN":
            raise Forbidden(f"Only the admins of team {name!r} manage its members.")
    return team


def _member(connection: Connection, name: str) -> Any:
    member = load_user_by_name(connection, name)
    if member is None:
        raise NotFound("user", name, by="name")
    return member


@query.field("teams")
async def resolve_teams(_: None, info: GraphQLResolveInfo) -> list[Any]:
    context = context_of(info)
    statement = sa.select(t).where(teams_visible_to(context.user)).order_by(t.c.name)
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@mutation.field("createTeam")
async def resolve_create_team(_: None, info: GraphQLResolveInfo, name: str) -> Any:
    context = require_platform_admin(info)
    checked_name(name, "name")

    def job(connection: Connection) -> Any:
        if connection.execute(sa.select(t.c.id).where(t.c.name == name)).first() is not None:
            raise Conflict(f"A team named {name!r} exists already.")
        team_id = new_id()
        connection.execute(t.insert().values(id=team_id, name=name))
        return connection.execute(sa.select(t).where(t.c.id == team_id)).one()

    try:
        return await context.platform.db.write(job)
    except sa.exc.IntegrityError:
        raise Conflict(f"A team named {name!r} exists already.") from None


@mutation.field("addMember")
async def resolve_add_member(
    _: None, info: GraphQLResolveInfo, team: str, user: str, role: str = "MEMBER"
) -> Any:
    context = require(info, "ADMIN")
    platform = context.platform

    def job(connection: Connection) -> Any:
        found = _managed_team(connection, context.user, team)
        member = _member(connection, user)
        where = sa.and_(m.c.team_id == found.id, m.c.user_id == member.id)
        if connection.execute(sa.select(m.c.role).where(where)).first() is None:
            connection.execute(m.insert().values(team_id=found.id, user_id=member.id, role=role))
        else:
            connection.execute(m.update().where(where).values(role=role))
        platform.announce(ACCESS_TOPIC, member.id)
        return connection.execute(sa.select(m).where(where)).one()

    membership = await platform.db.write(job)
    await platform.access_changed(membership.user_id)
    return membership


@mutation.field("removeMember")
async def resolve_remove_member(_: None, info: GraphQLResolveInfo, team: str, user: str) -> Any:
    context = require(info, "ADMIN")
    platform = context.platform

    def job(connection: Connection) -> tuple[Any, str, list[str]]:
        found = _managed_team(connection, context.user, team)
        member = _member(connection, user)
        connection.execute(m.delete().where(m.c.team_id == found.id, m.c.user_id == member.id))
        # The member's agents stop serving the team they left.
        owned = sa.select(g.c.id).where(g.c.user_id == member.id)
        served = sa.and_(at.c.team_id == found.id, at.c.agent_id.in_(owned))
        agents = list(connection.execute(sa.select(at.c.agent_id).where(served)).scalars())
        connection.execute(at.delete().where(served))
        platform.announce(ACCESS_TOPIC, member.id)
        for agent_id in agents:
            platform.announce(AGENTS_TOPIC, agent_id)
        if agents:
            platform.announce(ACCESS_TOPIC, None)
        return found, member.id, agents

    found, member_id, agents = await platform.db.write(job)
    await platform.access_changed(member_id)
    for agent_id in agents:
        if platform.router.is_connected(agent_id):
            platform.router.offer(agent_id, await platform.offers(agent_id))
        platform.bus.publish(AGENTS_TOPIC, agent_id)
    if agents:
        await platform.access_changed(None)
    return found


@team_type.field("members")
async def resolve_members(team: Any, info: GraphQLResolveInfo) -> list[Any]:
    u = tables.users
    statement = (
        sa.select(m).join(u, u.c.id == m.c.user_id).where(m.c.team_id == team.id).order_by(u.c.name)
    )
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@membership_type.field("user")
async def resolve_membership_user(membership: Any, info: GraphQLResolveInfo) -> Any:
    u = tables.users
    statement = sa.select(u).where(u.c.id == membership.user_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@membership_type.field("team")
async def resolve_membership_team(membership: Any, info: GraphQLResolveInfo) -> Any:
    statement = sa.select(t).where(t.c.id == membership.team_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


bindables = [team_type, membership_type]
