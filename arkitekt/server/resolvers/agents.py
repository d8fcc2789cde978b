"""Agent and Implementation: app instances, their catalogues, and their connection."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import leases, tables
from arkitekt.server.access import agents_visible_to, linked_teams
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import Conflict, InvalidInput, NotFound
from arkitekt.server.platform import (
    ACCESS_TOPIC,
    AGENTS_TOPIC,
    Platform,
    agent_topic,
    definition_hash,
    stop,
    stopped,
    teams_of_agents,
)
from arkitekt.server.tables import new_id, now

from .base import event_source, mutation, query
from .nodes import canonical_node, node_by_id, upsert_nodes

agent_type = ObjectType("Agent")
implementation_type = ObjectType("Implementation")


def catalogue_hash(pairs: list[tuple[str, str]]) -> str:
    return hashlib.sha256(repr(sorted(pairs)).encode()).hexdigest()


def load_agent(connection: Connection, agent_id: str, user_id: str) -> Any:
    """An agent of the user's own (the one who serves it)."""
    a = tables.agents
    statement = sa.select(a).where(a.c.id == agent_id, a.c.user_id == user_id)
    return connection.execute(statement).first()


def load_visible_agent(connection: Connection, agent_id: str, user: User) -> Any:
    a = tables.agents
    statement = sa.select(a).where(a.c.id == agent_id, agents_visible_to(user))
    return connection.execute(statement).first()


def team_ids(connection: Connection, user: User, names: list[str]) -> frozenset[str]:
    """The ids of the named teams, which must be teams of the user's."""
    t = tables.teams
    found = dict(
        connection.execute(
            sa.select(t.c.name, t.c.id).where(t.c.name.in_(names), t.c.id.in_(user.teams))
        ).all()
    )
    for name in names:
        if name not in found:
            raise NotFound("team of yours", name, by="name")
    return frozenset(found.values())


def _set_teams(connection: Connection, agent_id: str, teams: frozenset[str]) -> None:
    t = tables.agent_teams
    connection.execute(t.delete().where(t.c.agent_id == agent_id))
    if teams:
        connection.execute(t.insert(), [{"agent_id": agent_id, "team_id": i} for i in teams])


@mutation.field("registerAgent")
async def resolve_register_agent(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    context = require(info, "AGENT")
    platform, user = context.platform, context.user
    name, instance = input["name"].strip(), input["instance"].strip()
    if not name:
        raise InvalidInput("input.name", "must not be empty")
    if not instance:
        raise InvalidInput("input.instance", "must not be empty")
    interfaces = [impl["interface"] for impl in input["implementations"]]
    if len(set(interfaces)) != len(interfaces):
        raise InvalidInput("input.implementations", "interfaces must be unique")
    definitions = {
        impl["interface"]: canonical_node(
            impl["node"], f"input.implementations[{impl['interface']}].node"
        )
        for impl in input["implementations"]
    }
    wanted = {interface: definition_hash(d) for interface, d in definitions.items()}
    catalogue = catalogue_hash(list(wanted.items()))

    a = tables.agents
    names = list(dict.fromkeys(input.get("teams") or []))

    def read(connection: Connection) -> tuple[Any, frozenset[str], frozenset[str]]:
        agent = connection.execute(sa.select(a).where(a.c.instance == instance)).first()
        served = teams_of_agents(connection, {agent.id}) if agent is not None else {}
        current = served.get(agent.id, frozenset()) if agent is not None else frozenset()
        return agent, team_ids(connection, user, names), current

    agent, teams, current_teams = await platform.db.read(read)
    teams_changed = agent is not None and teams != current_teams
    if agent is not None and agent.user_id != user.id:
        raise Conflict(
            f"Instance {instance!r} belongs to another user; choose another instance id."
        )
    session = input.get("session")
    if agent is not None and session and agent.session and session < agent.session:
        raise Conflict(
            f"Instance {instance!r} is served by a newer process now; this one must register "
            "under another instance id."
        )
    if agent is not None and session and agent.session and session > agent.session:
        # A newer process took over the instance: the old one's unfinished work is lost.
        await leases.give_up(platform, agent.id)
    if (
        agent is not None
        and agent.catalogue == catalogue
        and agent.name == name
        and not teams_changed
        and (not session or agent.session == session)
    ):
        return agent  # unchanged: nothing to write
    renewed = bool(session) and agent is not None and agent.session != session

    def job(connection: Connection) -> tuple[Any, list[list[Any]]]:
        node_ids = upsert_nodes(connection, list(definitions.values()))
        agent_id = agent.id if agent is not None else new_id()
        values = {
            "name": name,
            "hostname": input.get("hostname"),
            "catalogue": catalogue,
            "session": session or (agent.session if agent is not None else None),
        }
        if agent is None:
            connection.execute(
                a.insert().values(id=agent_id, user_id=user.id, instance=instance, **values)
            )
        else:
            connection.execute(a.update().where(a.c.id == agent_id).values(**values))
        offered = {i: node_ids[h] for i, h in wanted.items()}
        retired = _replace_implementations(connection, agent_id, offered, anew=renewed)
        orphaned = _cancel_orphaned(platform, connection, retired)
        if agent is None or teams_changed:
            _set_teams(connection, agent_id, teams)
        if teams_changed:
            platform.announce(ACCESS_TOPIC, None)
        platform.announce(AGENTS_TOPIC, agent_id)
        return connection.execute(sa.select(a).where(a.c.id == agent_id)).one(), orphaned

    row, orphaned = await platform.db.write(job)
    for recorded in orphaned:
        stopped(platform, None, recorded)
    if teams_changed:
        await platform.access_changed(None)
    if platform.router.is_connected(row.id):
        platform.router.offer(row.id, await platform.offers(row.id))
        await platform.dispatch_queued(row.id)
        platform.bus.publish(AGENTS_TOPIC, row.id)
    return row


@mutation.field("disconnectAgent")
async def resolve_disconnect_agent(_: None, info: GraphQLResolveInfo, agent: str) -> Any:
    context = require(info, "AGENT")
    platform = context.platform
    row = await platform.db.read(lambda connection: load_agent(connection, agent, context.user.id))
    if row is None:
        raise NotFound("agent", agent)
    platform.router.withdraw(agent)
    platform.bus.publish(AGENTS_TOPIC, agent)
    return row


def _replace_implementations(
    connection: Connection, agent_id: str, wanted: dict[str, str], *, anew: bool
) -> list[str]:
    """Retires implementations no longer offered, and adds (or revives) the new ones. A
    new process of the agent (`anew`) offers them all again: the latest start of an app
    decides which version of its functions is current. Returns the retired nodes' ids."""
    i = tables.implementations
    rows = connection.execute(sa.select(i).where(i.c.agent_id == agent_id)).all()
    current = {(row.interface, row.node_id): row for row in rows}
    keep = set(wanted.items())
    retired = [row for key, row in current.items() if row.active and key not in keep]
    # Revived, or, from a new process, offered again: either way offered now.
    renew = [
        current[key].id for key in keep if key in current and (anew or not current[key].active)
    ]
    if retired:
        connection.execute(
            i.update().where(i.c.id.in_([row.id for row in retired])).values(active=False)
        )
    if renew:
        connection.execute(
            i.update().where(i.c.id.in_(renew)).values(active=True, offered_at=now())
        )
    new = [
        {"id": new_id(), "agent_id": agent_id, "interface": interface, "node_id": node_id}
        for interface, node_id in keep
        if (interface, node_id) not in current
    ]
    if new:
        connection.execute(i.insert(), new)
    return [row.node_id for row in retired]


ORPHANED = (
    "Cancelled: the function changed before an agent took this call, and no agent offers "
    "this version any more. Call it again."
)


def _cancel_orphaned(
    platform: Platform, connection: Connection, node_ids: list[str]
) -> list[list[Any]]:
    """Cancels the queued calls of these nodes when no agent offers them any more (its app
    moved on to a new version while they waited): nothing would ever run them."""
    if not node_ids:
        return []
    i, a = tables.implementations, tables.assignations
    offered = sa.select(i.c.node_id).where(i.c.node_id.in_(node_ids), i.c.active)
    rows = connection.execute(
        sa.select(a)
        .where(a.c.node_id.in_(node_ids), a.c.node_id.not_in(offered), a.c.status == "QUEUED")
        .with_for_update(of=a, skip_locked=True)
    ).all()
    return [stop(platform, connection, row, ORPHANED) for row in rows]


@query.field("agents")
async def resolve_agents(_: None, info: GraphQLResolveInfo, status: str | None = None) -> list[Any]:
    context = context_of(info)
    a = tables.agents
    statement = sa.select(a).where(agents_visible_to(context.user)).order_by(a.c.created_at.desc())
    if status is not None:
        statement = statement.where(a.c.status == status)
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@query.field("agent")
async def resolve_agent(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_visible_agent(connection, id, context.user)
    )


@agent_type.field("implementations")
async def resolve_agent_implementations(agent: Any, info: GraphQLResolveInfo) -> list[Any]:
    i = tables.implementations
    statement = sa.select(i).where(i.c.agent_id == agent.id, i.c.active).order_by(i.c.interface)
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@agent_type.field("teams")
async def resolve_agent_teams(agent: Any, info: GraphQLResolveInfo) -> list[Any]:
    at = tables.agent_teams
    statement = linked_teams(at, at.c.agent_id, agent.id, context_of(info).user)
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@agent_type.field("running")
def resolve_agent_running(agent: Any, info: GraphQLResolveInfo) -> int:
    return context_of(info).platform.router.load[agent.id]


@implementation_type.field("node")
def resolve_implementation_node(implementation: Any, info: GraphQLResolveInfo) -> Any:
    return node_by_id(context_of(info).platform, implementation.node_id)


@implementation_type.field("agent")
async def resolve_implementation_agent(implementation: Any, info: GraphQLResolveInfo) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_visible_agent(connection, implementation.agent_id, context.user)
    )


@event_source("watchAgents")
async def watch_agents(_: None, info: GraphQLResolveInfo) -> AsyncGenerator[Any, None]:
    context = context_of(info)
    with context.platform.bus.subscribe(AGENTS_TOPIC) as changes:
        while True:
            for agent_id in dict.fromkeys(await changes.batch()):
                agent = await context.platform.db.read(
                    lambda connection, agent_id=agent_id: load_visible_agent(  # type: ignore[misc]
                        connection, agent_id, context.user
                    )
                )
                if agent is not None:
                    yield agent


@event_source("watchAssignations")
async def watch_assignations(
    _: None, info: GraphQLResolveInfo, agent: str
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """The agent's connection: it holds the lease while subscribed; work arrives in batches."""
    context = require(info, "AGENT")
    platform = context.platform
    row = await platform.db.read(lambda connection: load_agent(connection, agent, context.user.id))
    if row is None:
        raise NotFound("agent", agent)
    connection_token = object()
    with platform.bus.subscribe(agent_topic(agent)) as work:
        epoch = await leases.connect(platform, agent, connection_token)
        try:
            yield [{"kind": "LEASE", "epoch": epoch}, *await leases.unfinished(platform, agent)]
            await platform.dispatch_queued(agent)
            while True:
                batch = await work.batch()
                if any(m["kind"] == "LEASE" and m["epoch"] > epoch for m in batch):
                    return  # a newer connection of this agent holds the lease now
                if any(m["kind"] == "POKE" for m in batch):  # news from another replica
                    batch = await leases.unfinished(platform, agent)
                work_items = [m for m in batch if m["kind"] != "LEASE"]
                if work_items:
                    yield work_items
        finally:
            await leases.disconnect(platform, agent, connection_token, epoch)


bindables = [agent_type, implementation_type]
