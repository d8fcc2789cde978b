"""Reservation: a caller's standing claim on a node, and its live status."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import agents_visible_to
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import InvalidInput, NotFound
from arkitekt.server.platform import AGENTS_TOPIC, Platform, reservations_topic
from arkitekt.server.tables import new_id, now

from .base import event_source, mutation, query
from .nodes import cached_node, load_visible_node, node_by_id

reservation_type = ObjectType("Reservation")


def live_instances(platform: Platform, reservation: Any, user: User) -> int:
    """How many agents could serve the reservation's owner (`user`) now."""
    return len(platform.router.live(reservation.node_id, user, reservation.agents))


def status_of(platform: Platform, reservation: Any, user: User) -> str:
    if reservation.ended_at is not None:
        return "ENDED"
    return (
        "ACTIVE"
        if live_instances(platform, reservation, user) >= reservation.min_instances
        else "WAITING"
    )


def load_reservation(connection: Connection, reservation_id: str, user_id: str) -> Any:
    r = tables.reservations
    statement = sa.select(r).where(r.c.id == reservation_id, r.c.user_id == user_id)
    return connection.execute(statement).first()


async def implicit_reservation(platform: Platform, user: User, node_id: str) -> str:
    """The user's implicit reservation of a node, created on first use."""
    user_id = user.id
    key = (user_id, node_id)
    if key in platform.implicit_reservations:
        return platform.implicit_reservations[key]
    r = tables.reservations

    def job(connection: Connection) -> str:
        if load_visible_node(connection, node_id, user) is None:
            raise NotFound("node", node_id)
        existing = (
            connection.execute(
                sa.select(r.c.id).where(
                    r.c.user_id == user_id, r.c.node_id == node_id, r.c.implicit
                )
            )
        ).scalar()
        if existing is not None:
            return str(existing)
        reservation_id = new_id()
        connection.execute(
            r.insert().values(
                id=reservation_id,
                user_id=user_id,
                node_id=node_id,
                strategy="ROUND_ROBIN",
                min_instances=1,
                agents=[],
                implicit=True,
            )
        )
        return reservation_id

    reservation_id = await platform.db.write(job)
    platform.implicit_reservations[key] = reservation_id
    return reservation_id


@mutation.field("reserve")
async def resolve_reserve(
    _: None,
    info: GraphQLResolveInfo,
    node: str,
    strategy: str = "ROUND_ROBIN",
    min_instances: int = 1,
    agents: list[str] | None = None,
) -> Any:
    context = require(info, "CALL")
    platform, user = context.platform, context.user
    if min_instances < 1:
        raise InvalidInput("minInstances", "must be at least 1")
    agents = list(dict.fromkeys(agents or []))
    r, a = tables.reservations, tables.agents

    def job(connection: Connection) -> Any:
        if load_visible_node(connection, node, user) is None:
            raise NotFound("node", node)
        if agents:
            known = set(
                (
                    connection.execute(
                        sa.select(a.c.id).where(a.c.id.in_(agents), agents_visible_to(user))
                    )
                ).scalars()
            )
            for agent_id in agents:
                if agent_id not in known:
                    raise NotFound("agent", agent_id)
        reservation_id = new_id()
        connection.execute(
            r.insert().values(
                id=reservation_id,
                user_id=user.id,
                node_id=node,
                strategy=strategy,
                min_instances=min_instances,
                agents=agents,
            )
        )
        return connection.execute(sa.select(r).where(r.c.id == reservation_id)).one()

    reservation = await platform.db.write(job)
    platform.bus.publish(reservations_topic(user.id), reservation.id)
    return reservation


@mutation.field("unreserve")
async def resolve_unreserve(_: None, info: GraphQLResolveInfo, reservation: str) -> Any:
    context = require(info, "CALL")
    platform, user = context.platform, context.user
    r = tables.reservations

    def job(connection: Connection) -> Any:
        row = load_reservation(connection, reservation, user.id)
        if row is None:
            raise NotFound("reservation", reservation)
        if row.ended_at is None:
            connection.execute(r.update().where(r.c.id == row.id).values(ended_at=now()))
            platform.announce(reservations_topic(user.id), row.id)
        return load_reservation(connection, reservation, user.id)

    row = await platform.db.write(job)
    platform.reservations.pop(row.id)
    platform.bus.publish(reservations_topic(user.id), row.id)
    return row


async def _reservations(platform: Platform, user_id: str, reservation: str | None) -> list[Any]:
    r = tables.reservations
    statement = sa.select(r).where(r.c.user_id == user_id).order_by(r.c.created_at)
    if reservation is not None:
        statement = statement.where(r.c.id == reservation)
    else:
        statement = statement.where(sa.not_(r.c.implicit))
    return await platform.db.read(lambda connection: list(connection.execute(statement).all()))


@query.field("reservations")
async def resolve_reservations(_: None, info: GraphQLResolveInfo) -> list[Any]:
    context = context_of(info)
    return await _reservations(context.platform, context.user.id, None)


@query.field("reservation")
async def resolve_reservation(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_reservation(connection, id, context.user.id)
    )


@event_source("watchReservations")
async def watch_reservations(
    _: None, info: GraphQLResolveInfo, reservation: str | None = None
) -> AsyncGenerator[Any, None]:
    context = context_of(info)
    platform, user = context.platform, context.user
    seen: dict[str, tuple[str, int]] = {}
    with platform.bus.subscribe(AGENTS_TOPIC, reservations_topic(user.id)) as changes:
        rows = await _reservations(platform, user.id, reservation)
        if reservation is not None and not rows:
            raise NotFound("reservation", reservation)
        while True:
            for row in rows:
                # The user's teams may change meanwhile: read them afresh each time.
                viewer = context.user
                state = (status_of(platform, row, viewer), live_instances(platform, row, viewer))
                if seen.get(row.id) != state:
                    seen[row.id] = state
                    await cached_node(platform, row.node_id)  # its fields resolve from memory
                    yield row
            await changes.batch()
            rows = await _reservations(platform, user.id, reservation)


@reservation_type.field("status")
def resolve_status(reservation: Any, info: GraphQLResolveInfo) -> str:
    context = context_of(info)
    return status_of(context.platform, reservation, context.user)


@reservation_type.field("liveInstances")
def resolve_live_instances(reservation: Any, info: GraphQLResolveInfo) -> int:
    context = context_of(info)
    return live_instances(context.platform, reservation, context.user)


@reservation_type.field("node")
def resolve_node(reservation: Any, info: GraphQLResolveInfo) -> Any:
    return node_by_id(context_of(info).platform, reservation.node_id)


@reservation_type.field("agents")
def resolve_agents(reservation: Any, info: GraphQLResolveInfo) -> Any:
    if not reservation.agents:
        return []
    return _agents_of(reservation, info)


async def _agents_of(reservation: Any, info: GraphQLResolveInfo) -> list[Any]:
    a = tables.agents
    user = context_of(info).user
    statement = sa.select(a).where(a.c.id.in_(reservation.agents), agents_visible_to(user))
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


bindables = [reservation_type]
