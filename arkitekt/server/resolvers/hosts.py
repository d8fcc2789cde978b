"""Host: a machine that runs releases, and its connection, which carries its work.

A host holds a lease while its `watchHost` subscription is open, as an agent does: a newer
connection of the same host takes a higher epoch, and the older one ends. Each message is
the whole of what the host must run, so a host that reconnects, or missed a message,
needs nothing but the next one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import hosts_visible_to, linked_teams
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import Conflict, InvalidInput, NotFound
from arkitekt.server.leases import take_lease
from arkitekt.server.platform import Platform, host_topic
from arkitekt.server.tables import new_id, now

from .agents import team_ids
from .base import event_source, mutation, query

host_type = ObjectType("Host")

h, ht, d = tables.hosts, tables.host_teams, tables.deployments
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
ACTIVE = ("STARTING", "RUNNING", "CRASHED", "STOPPING")
"""The deployments a host must hear about: all but the STOPPED ones."""


def load_visible_host(connection: Connection, user: User, *conditions: Any) -> Any:
    statement = sa.select(h).where(hosts_visible_to(user), *conditions)
    return connection.execute(statement).first()


def load_own_host(connection: Connection, host_id: str, user: User) -> Any:
    """A host the user's host token runs."""
    statement = sa.select(h).where(h.c.id == host_id, h.c.user_id == user.id)
    return connection.execute(statement).first()


@mutation.field("registerHost")
async def resolve_register_host(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    context = require(info, "HOST")
    user = context.user
    name = input["name"].strip()
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "input.name", "use 1 to 100 letters, digits and . _ - (from a letter or digit)"
        )
    for field in ("cpus", "memory"):
        if (input.get(field) or 0) < 0:
            raise InvalidInput(f"input.{field}", "must not be negative")
    names = list(dict.fromkeys(input.get("teams") or []))
    values = {
        "hostname": (input.get("hostname") or "")[:200] or None,
        "cpus": input.get("cpus"),
        "memory": input.get("memory"),
        "gpus": [gpu[:200] for gpu in input.get("gpus") or []][:64],
        "platform": (input.get("platform") or "")[:200] or None,
    }

    def job(connection: Connection) -> Any:
        teams = team_ids(connection, user, names)
        host = connection.execute(sa.select(h).where(h.c.name == name)).first()
        if host is not None and host.user_id != user.id:
            raise Conflict(f"Host name {name!r} is taken; choose another (`--name`).")
        host_id = host.id if host is not None else new_id()
        if host is None:
            connection.execute(h.insert().values(id=host_id, user_id=user.id, name=name, **values))
        else:
            connection.execute(h.update().where(h.c.id == host_id).values(**values))
        connection.execute(ht.delete().where(ht.c.host_id == host_id))
        if teams:
            connection.execute(ht.insert(), [{"host_id": host_id, "team_id": t} for t in teams])
        return connection.execute(sa.select(h).where(h.c.id == host_id)).one()

    return await context.platform.db.write(job)


@query.field("hosts")
async def resolve_hosts(_: None, info: GraphQLResolveInfo) -> list[Any]:
    context = context_of(info)
    statement = sa.select(h).where(hosts_visible_to(context.user)).order_by(h.c.name)
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@query.field("host")
async def resolve_host(
    _: None, info: GraphQLResolveInfo, id: str | None = None, name: str | None = None
) -> Any:
    context = context_of(info)
    if (id is None) == (name is None):
        raise InvalidInput("id", "give either id or name")
    condition = h.c.id == id if id is not None else h.c.name == name
    return await context.platform.db.read(
        lambda connection: load_visible_host(connection, context.user, condition)
    )


@host_type.field("owner")
async def resolve_host_owner(host: Any, info: GraphQLResolveInfo) -> Any:
    u = tables.users
    statement = sa.select(u).where(u.c.id == host.user_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@host_type.field("teams")
async def resolve_host_teams(host: Any, info: GraphQLResolveInfo) -> list[Any]:
    statement = linked_teams(ht, ht.c.host_id, host.id, context_of(info).user)
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@host_type.field("deployments")
async def resolve_host_deployments(host: Any, info: GraphQLResolveInfo) -> list[Any]:
    return await context_of(info).platform.db.read(
        lambda connection: active_deployments(connection, host.id)
    )


def active_deployments(connection: Connection, host_id: str) -> list[Any]:
    statement = sa.select(d).where(d.c.host_id == host_id, d.c.status.in_(ACTIVE)).order_by(d.c.app)
    return list(connection.execute(statement).all())


async def _connect(platform: Platform, host_id: str) -> int:
    """Takes a new lease for the host on this replica; returns its epoch."""

    def job(connection: Connection) -> int:
        epoch = take_lease(connection, h, host_id, platform.replica)
        platform.announce(host_topic(host_id), {"kind": "LEASE", "epoch": epoch})
        return epoch

    epoch = await platform.db.write(job)
    platform.bus.publish(host_topic(host_id), {"kind": "LEASE", "epoch": epoch})
    return epoch


async def _disconnect(platform: Platform, host_id: str, epoch: int) -> None:
    def job(connection: Connection) -> None:
        connection.execute(
            h.update()
            .where(h.c.id == host_id, h.c.epoch == epoch)  # not if it reconnected since
            .values(status="DISCONNECTED", last_seen=now())
        )

    await platform.db.write(job)


@event_source("watchHost")
async def watch_host(
    _: None, info: GraphQLResolveInfo, host: str
) -> AsyncGenerator[dict[str, Any], None]:
    context = require(info, "HOST")
    platform = context.platform
    row = await platform.db.read(lambda connection: load_own_host(connection, host, context.user))
    if row is None:
        raise NotFound("host", host)
    with platform.bus.subscribe(host_topic(host)) as changes:
        epoch = await _connect(platform, host)
        try:
            while True:
                work = await platform.db.read(
                    lambda connection: active_deployments(connection, host)
                )
                yield {"epoch": epoch, "deployments": work}
                batch: list[Any] = []
                while not any(m.get("kind") != "LEASE" for m in batch):
                    batch = await changes.batch()
                    if any(m.get("kind") == "LEASE" and m["epoch"] > epoch for m in batch):
                        return  # a newer connection of this host holds the lease now
        finally:
            await asyncio.shield(_disconnect(platform, host, epoch))


def poke(platform: Platform, host_id: str) -> None:
    """Inside a write job: the host must hear what it runs now (on whichever replica)."""
    platform.announce(host_topic(host_id), None)


bindables = [host_type]
