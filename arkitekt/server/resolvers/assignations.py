"""Assignation and its events: one call, from assign to its terminal event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import relay, tables
from arkitekt.server.bus import Subscription
from arkitekt.server.context import context_of, require
from arkitekt.server.db import Inserts
from arkitekt.server.errors import Conflict, InvalidInput, NotFound
from arkitekt.server.lifecycle import TERMINAL
from arkitekt.server.platform import (
    INSERT_EVENTS,
    Platform,
    agent_topic,
    assignation_topic,
    event_columns,
    event_row,
    next_events,
    record_reports,
    stop,
    stopped,
)
from arkitekt.server.router import Live
from arkitekt.server.tables import new_id, now

from .agents import load_visible_agent
from .base import event_source, mutation, query
from .nodes import node_by_id
from .reservations import implicit_reservation, load_reservation

assignation_type = ObjectType("Assignation")

INSERT_ASSIGNATION = tables.assignations.insert()
_a = tables.assignations
# Rows are locked while events are appended: sequence numbers stay gapless across replicas.
# By id alone: with `agent_id = ?` beside it, SQLite (without statistics) may prefer the
# agent's index and read every assignation the agent ever had. The caller checks the agent.
REPORTED = (
    sa.select(_a.c.id, _a.c.sequence, _a.c.status, _a.c.reported, _a.c.agent_id)
    .where(_a.c.id.in_(sa.bindparam("ids", expanding=True)))
    .with_for_update()
)
ACKNOWLEDGE = (
    _a.update()
    .where(
        _a.c.id.in_(sa.bindparam("ids", expanding=True)),
        _a.c.agent_id == sa.bindparam("agent"),
        _a.c.status == "ASSIGNED",
    )
    .values(status="RUNNING", attempts=_a.c.attempts + 1, updated_at=sa.bindparam("at"))
)
RUNNING_HERE = sa.select(_a.c.id).where(
    _a.c.id.in_(sa.bindparam("ids", expanding=True)),
    _a.c.agent_id == sa.bindparam("agent"),
    _a.c.status == "RUNNING",
)
LEASE = sa.select(tables.agents.c.epoch).where(
    tables.agents.c.id == sa.bindparam("agent"), tables.agents.c.user_id == sa.bindparam("user")
)
AGENT_EVENTS = {"PROGRESS", "LOG", "YIELD", "DONE", "ERROR", "CRITICAL", "CANCELLED"}
SMALL_REPORT = 16
"""Events and acknowledgements in a report whose write may commit on the event loop."""
EVENT_PAGE = 1_000
"""Events a follower reads from the database at a time."""
BACKLOG = 256
"""Batches of events a follower may leave waiting before it reads on from the database."""


def load_assignation(
    connection: Connection, assignation_id: str, user_id: str, *, lock: bool = False
) -> Any:
    a = tables.assignations
    statement = sa.select(a).where(a.c.id == assignation_id, a.c.user_id == user_id)
    return connection.execute(statement.with_for_update() if lock else statement).first()


async def _reservation_for(
    info: GraphQLResolveInfo, node: str | None, reservation: str | None
) -> Any:
    context = context_of(info)
    platform, user = context.platform, context.user
    if (node is None) == (reservation is None):
        raise InvalidInput("assign", "give exactly one of node and reservation")
    if reservation is None:
        assert node is not None
        reservation = await implicit_reservation(platform, user, node)
    row = platform.reservations.get(reservation)
    if row is None or row.user_id != user.id:
        row = await platform.db.read(
            lambda connection: load_reservation(connection, reservation, user.id)
        )
        if row is None:
            raise NotFound("reservation", reservation)
        platform.reservations.put(row.id, row)
    if row.ended_at is not None:
        raise Conflict(f"Reservation {reservation} has ended; reserve the node again.")
    return row


@mutation.field("assign")
async def resolve_assign(
    _: None,
    info: GraphQLResolveInfo,
    args: Any,
    node: str | None = None,
    reservation: str | None = None,
    reference: str | None = None,
    detached: bool = False,
) -> Any:
    return await _assign(info, args, node, reservation, reference, detached)


async def _assign(
    info: GraphQLResolveInfo,
    args: Any,
    node: str | None,
    reservation: str | None,
    reference: str | None,
    detached: bool,
) -> Any:
    """Stores (or, by reference, finds) an assignation and routes it; returns its row."""
    context = require(info, "CALL")
    platform, user = context.platform, context.user
    if not isinstance(args, dict):
        raise InvalidInput("args", "must be an object keyed by port")
    if reference is not None and not 0 < len(reference) <= 200:
        raise InvalidInput("reference", "must be 1 to 200 characters")
    held = await _reservation_for(info, node, reservation)
    live = platform.router.choose(held.id, held.node_id, held.strategy, user, held.agents)
    assignation_id = new_id()
    store = _storing(platform, user.id, held, live, assignation_id, args, reference, detached)

    def find_or_store(connection: Connection) -> tuple[Any, list[dict[str, Any]]]:
        a = tables.assignations
        existing = connection.execute(
            sa.select(a).where(a.c.user_id == user.id, a.c.reference == reference)
        ).first()
        return (existing, []) if existing is not None else store(connection)

    # Without a reference, the write is inserts only: merged with other calls' (`Inserts`).
    written = platform.db.write.submit(store if reference is None else find_or_store, small=True)
    # With one writer (embedded), the agent may have the call while it is being stored:
    # the agent's acknowledgement queues behind this write, so it cannot overtake it.
    early = live if live is not None and reference is None and not platform.clustered else None
    if early is not None:
        platform.deliver(early.agent_id, assignation_id, early.interface, args)
    try:
        row, recorded = await written
    except BaseException:
        if early is not None:  # not stored: the agent drops it
            platform.router.finished(assignation_id)
            platform.cancel_on_agent(early.agent_id, assignation_id)
        raise
    if recorded:
        platform.journal.start(row.id, user.id)
    if recorded and live is not None and early is None:
        platform.deliver(live.agent_id, row.id, live.interface, args)
    platform.publish_events(recorded)
    return row


def _storing(
    platform: Platform,
    user_id: str,
    held: Any,
    live: Live | None,
    assignation_id: str,
    args: dict[str, Any],
    reference: str | None,
    detached: bool,
) -> Inserts:
    """The write that stores a new assignation, routed to `live` (or queued), and its first
    event; its result is the row and the recorded events."""
    status = "ASSIGNED" if live else "QUEUED"
    moment = now()
    values = {
        "id": assignation_id,
        "user_id": user_id,
        "node_id": held.node_id,
        "reservation_id": held.id,
        "agent_id": live.agent_id if live else None,
        "interface": live.interface if live else None,
        "args": args,
        "reference": reference,
        "detached": detached,
        "followed_at": None,
        "status": status,
        "sequence": 1,
        "created_at": moment,
        "updated_at": moment,
    }
    first = [{"kind": status, "message": live.agent_id if live else None}]
    recorded, _ = next_events(assignation_id, 0, "QUEUED", first, moment)

    def announce() -> None:
        platform.announce_events(recorded)
        if live is not None:
            platform.announce(agent_topic(live.agent_id), relay.POKE)

    return Inserts(
        [(INSERT_ASSIGNATION, values), *((INSERT_EVENTS, e) for e in event_columns(recorded))],
        result=(SimpleNamespace(**values), recorded),
        then=announce,
    )


@mutation.field("cancel")
async def resolve_cancel(_: None, info: GraphQLResolveInfo, assignation: str) -> Any:
    context = require(info, "CALL")
    platform, user = context.platform, context.user

    def job(connection: Connection) -> tuple[Any, list[dict[str, Any]]]:
        row = load_assignation(connection, assignation, user.id, lock=True)
        if row is None:
            raise NotFound("assignation", assignation)
        if row.status in TERMINAL or row.status == "CANCELLING":
            return row, []
        recorded = stop(platform, connection, row, f"Cancelled by {user.name}.")
        return load_assignation(connection, assignation, user.id), recorded

    row, recorded = await platform.db.write(job)
    stopped(platform, row.agent_id, recorded)
    return row


@mutation.field("reportEvents")
async def resolve_report_events(
    _: None,
    info: GraphQLResolveInfo,
    agent: str,
    epoch: int,
    events: list[dict[str, Any]],
    acknowledge: list[str] | None = None,
) -> dict[str, Any]:
    context = require(info, "AGENT")
    platform, user = context.platform, context.user
    by_assignation: dict[str, list[dict[str, Any]]] = {}
    for index, event in enumerate(events):
        if event["kind"] not in AGENT_EVENTS:
            raise InvalidInput(f"events[{index}].kind", f"agents cannot report {event['kind']}")
        by_assignation.setdefault(event["assignation"], []).append(event)

    def job(connection: Connection) -> tuple[list[list[dict[str, Any]]], list[str]]:
        _check_lease(connection, agent, epoch, user.id)
        acknowledged = []
        if acknowledge:
            parameters = {"ids": acknowledge, "agent": agent}
            connection.execute(ACKNOWLEDGE, {**parameters, "at": now()})
            # Running for this agent: just acknowledged, or before (a repeated report).
            acknowledged = list(connection.execute(RUNNING_HERE, parameters).scalars())
        if not by_assignation:
            return [], acknowledged
        found = connection.execute(REPORTED, {"ids": list(by_assignation)})
        rows = {row.id: row for row in found if row.agent_id == agent}
        reports = []
        for assignation_id, reported in by_assignation.items():
            row = rows.get(assignation_id)
            if row is None:
                continue  # given up on, or given to another instance meanwhile
            fresh = [event for event in reported if event["index"] > row.reported]
            last = max((event["index"] for event in fresh), default=row.reported)
            reports.append((row, fresh, last))
        batches = record_reports(connection, reports)
        for recorded in batches:
            platform.announce_events(recorded)
        return batches, acknowledged

    small = len(events) + len(acknowledge or ()) <= SMALL_REPORT
    batches, acknowledged = await platform.db.write(job, small=small)
    for recorded in batches:
        platform.publish_events(recorded)
    return {"recorded": sum(len(r) for r in batches), "acknowledged": acknowledged}


def _check_lease(connection: Connection, agent: str, epoch: int, user_id: str) -> None:
    current = connection.execute(LEASE, {"agent": agent, "user": user_id}).scalar()
    if current is None:
        raise NotFound("agent", agent)
    if current != epoch:
        raise Conflict(
            f"Agent {agent} lost its lease: connection {epoch} was replaced by {current}. "
            "Reconnect before reporting."
        )


@query.field("assignations")
async def resolve_assignations(
    _: None,
    info: GraphQLResolveInfo,
    status: str | None = None,
    node: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[Any]:
    context = context_of(info)
    a, n = tables.assignations, tables.nodes
    mine = a.c.user_id == context.user.id
    statement = (
        sa.select(a)
        .where(mine)
        .order_by(a.c.created_at.desc(), a.c.id)
        .limit(max(1, min(limit, 1000)))
    )
    if status is not None:
        statement = statement.where(a.c.status == status)
    if node is not None:
        statement = statement.where(a.c.node_id.in_(sa.select(n.c.id).where(n.c.name == node)))
    anchor = sa.select(a.c.created_at).where(a.c.id == before, mine)
    if before is not None:  # after it in that order: older, or as old with a larger id
        last = anchor.scalar_subquery()
        tied = sa.and_(a.c.created_at == last, a.c.id > before)
        statement = statement.where(sa.or_(a.c.created_at < last, tied))

    def job(connection: Connection) -> list[Any]:
        if before is not None and connection.execute(anchor).first() is None:
            raise NotFound("assignation", before)
        return list(connection.execute(statement).all())

    return await context.platform.db.read(job)


@query.field("assignation")
async def resolve_assignation(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_assignation(connection, id, context.user.id)
    )


def _events_after(
    connection: Connection,
    assignation_id: str,
    after: int,
    limit: int | None = None,
    *,
    newest: bool = False,
) -> list[Any]:
    e = tables.events
    order = e.c.sequence.desc() if newest else e.c.sequence
    statement = (
        sa.select(e)
        .where(e.c.assignation_id == assignation_id, e.c.sequence > after)
        .order_by(order)
        .limit(limit)
    )
    rows = connection.execute(statement).all()
    return [event_row(row) for row in (reversed(rows) if newest else rows)]


@assignation_type.field("events")
async def resolve_events(
    assignation: Any,
    info: GraphQLResolveInfo,
    after: int = 0,
    limit: int = 1000,
    last: int | None = None,
) -> list[Any]:
    page = max(1, min(limit if last is None else last, 10_000))
    return await context_of(info).platform.db.read(
        lambda connection: _events_after(
            connection, assignation.id, after, page, newest=last is not None
        )
    )


@assignation_type.field("yieldCount")
async def resolve_yield_count(
    assignation: Any, info: GraphQLResolveInfo, through: int | None = None
) -> int:
    e = tables.events
    # Sums a column of short JSON lists: one pass over the call's events, on demand.
    statement = sa.select(sa.func.sum(sa.func.json_array_length(e.c.yields))).where(
        e.c.assignation_id == assignation.id, e.c.kind == "YIELD"
    )
    if through is not None:
        statement = statement.where(e.c.sequence <= through)
    counted = await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).scalar()
    )
    return int(counted or 0)


@assignation_type.field("node")
def resolve_node(assignation: Any, info: GraphQLResolveInfo) -> Any:
    return node_by_id(context_of(info).platform, assignation.node_id)


@assignation_type.field("reservation")
async def resolve_reservation(assignation: Any, info: GraphQLResolveInfo) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_reservation(connection, assignation.reservation_id, context.user.id)
    )


@assignation_type.field("agent")
async def resolve_agent(assignation: Any, info: GraphQLResolveInfo) -> Any:
    if assignation.agent_id is None:
        return None
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_visible_agent(connection, assignation.agent_id, context.user)
    )


@event_source("watchAssignationEvents")
async def watch_assignation_events(
    _: None, info: GraphQLResolveInfo, assignation: str, after: int = 0
) -> AsyncGenerator[list[dict[str, Any]], None]:
    context = context_of(info)
    async for batch in _follow(context.platform, context.user.id, assignation, after):
        yield batch


@event_source("call")
async def call(
    _: None,
    info: GraphQLResolveInfo,
    args: Any,
    node: str | None = None,
    reservation: str | None = None,
    reference: str | None = None,
    detached: bool = False,
    after: int = 0,
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """`assign` and `watchAssignationEvents` in one operation: one message to start a call."""
    context = context_of(info)
    row = await _assign(info, args, node, reservation, reference, detached)
    # No await between storing and following: nothing published meanwhile is missed (and
    # `_follow` replays what was).
    async for batch in _follow(context.platform, context.user.id, row.id, after):
        yield batch


async def _next_events(platform: Platform, live: Subscription) -> list[dict[str, Any]]:
    """The next events published here. With replicas, a notification may be lost: after a
    quiet while, poke (read the database) instead of waiting for ever."""
    if not platform.clustered:
        return [event for batch in await live.batch() for event in batch]
    try:
        async with asyncio.timeout(platform.settings.sweep_interval * 5):
            return [event for batch in await live.batch() for event in batch]
    except TimeoutError:
        return [relay.POKE]


async def _follow(
    platform: Platform, user_id: str, assignation: str, after: int
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Replays stored events after `after`, then follows live ones; ends after the terminal one.

    What the database holds is read a page at a time, and a follower that leaves more than
    `BACKLOG` batches waiting (a slow reader of a fast stream) reads on from the database:
    a long stream costs the server a page per follower, not the stream.
    """

    def page(last: int) -> Awaitable[list[Any]]:
        return platform.db.read(
            lambda connection: _events_after(connection, assignation, last, EVENT_PAGE)
        )

    with platform.bus.subscribe(
        assignation_topic(assignation), limit=BACKLOG, overflow=[relay.POKE]
    ) as live:
        entry = platform.journal.get(assignation)
        if entry is not None and entry.user_id == user_id:
            status, pending, more = entry.status, entry.after(after), False
        else:
            row, pending = await platform.db.read(
                lambda connection: (
                    load_assignation(connection, assignation, user_id),
                    _events_after(connection, assignation, after, EVENT_PAGE),
                )
            )
            if row is None:
                raise NotFound("assignation", assignation)
            status, more = row.status, len(pending) == EVENT_PAGE
        last = after
        while True:
            fresh = [event for event in pending if event["sequence"] > last]
            if fresh and fresh[0]["sequence"] != last + 1:  # written elsewhere: fill the gap
                fresh = await page(last)
                more = len(fresh) == EVENT_PAGE
            if fresh:
                last = fresh[-1]["sequence"]
                yield fresh
                if fresh[-1]["kind"] in TERMINAL:
                    return
            elif status in TERMINAL:
                return
            if not more:
                pending = await _next_events(platform, live)
                if not any(event.get("kind") == "POKE" for event in pending):
                    continue
            # The database has more (a full page), or a poke says something changed.
            pending = await page(last)
            more = len(pending) == EVENT_PAGE


bindables = [assignation_type]
