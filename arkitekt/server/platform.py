"""The platform's shared state and the operations several resolvers need.

A `Platform` lives for one server lifespan. Resolvers reach it through their context.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import relay, tables
from .auth import Tokens, User, teams_of
from .bus import Bus
from .connections import Connections
from .db import Database, is_postgres
from .journal import Journal, Recent
from .lifecycle import TERMINAL, next_status
from .router import Live, Router
from .settings import Settings
from .tables import new_id, now

EVENT_FIELDS = ("yields", "message", "progress", "level", "error_type", "traceback")


def agent_topic(agent_id: str) -> str:
    return f"agent:{agent_id}"


def assignation_topic(assignation_id: str) -> str:
    return f"assignation:{assignation_id}"


def reservations_topic(user_id: str) -> str:
    return f"reservations:{user_id}"


def host_topic(host_id: str) -> str:
    """What a host must run changed (a POKE), or a newer connection took its lease."""
    return f"host:{host_id}"


AGENTS_TOPIC = "agents"
DEPLOYMENTS_TOPIC = "deployments"
"""A deployment changed state (data: its id)."""
ACCESS_TOPIC = "access"
"""Who may see what changed: a user's teams (data: the user's id) or an agent's (None)."""


def revoked_topic(digest: str) -> str:
    return f"revoked:{digest}"


def event_row(row: Any) -> dict[str, Any]:
    """An event as the AssignationEvent type reads it."""
    return {
        "assignation": row.assignation_id,
        "sequence": row.sequence,
        "kind": row.kind,
        "created_at": row.created_at,
        **{name: getattr(row, name) for name in EVENT_FIELDS},
    }


def teams_of_agents(connection: Connection, agent_ids: set[str]) -> dict[str, frozenset[str]]:
    """The teams each agent serves."""
    t = tables.agent_teams
    found: dict[str, set[str]] = {}
    if agent_ids:
        statement = sa.select(t.c.agent_id, t.c.team_id).where(t.c.agent_id.in_(agent_ids))
        for row in connection.execute(statement):
            found.setdefault(row.agent_id, set()).add(row.team_id)
    return {agent_id: frozenset(teams) for agent_id, teams in found.items()}


def definition_hash(definition: dict[str, Any]) -> str:
    """A node's content hash: sha256 over its canonical JSON (sorted keys, no blanks)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# Statements on the hot path are built once: building and keying them costs more than
# running them.
INSERT_EVENTS = tables.events.insert()
UPDATE_PROGRESS = (
    tables.assignations.update()
    .where(tables.assignations.c.id == sa.bindparam("b_id"))
    .values(
        sequence=sa.bindparam("b_sequence"),
        status=sa.bindparam("b_status"),
        updated_at=sa.bindparam("b_at"),
    )
)
UPDATE_REPORTED = UPDATE_PROGRESS.values(reported=sa.bindparam("b_reported"))


def append_events(
    connection: Connection,
    assignation_id: str,
    sequence: int,
    status: str,
    new_events: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], str]:
    """Inserts events after `sequence`; stops at the first terminal event.

    Returns the recorded events and the assignation's new status; the caller updates
    the assignation row (so that a batch of reports costs one update per assignation).
    """
    recorded, status = next_events(assignation_id, sequence, status, new_events, now())
    if recorded:
        connection.execute(INSERT_EVENTS, event_columns(recorded))
    return recorded, status


def next_events(
    assignation_id: str,
    sequence: int,
    status: str,
    new_events: Iterable[dict[str, Any]],
    created: datetime,
) -> tuple[list[dict[str, Any]], str]:
    """The events to record after `sequence`, up to the first terminal one, and the status
    they leave the assignation in."""
    recorded: list[dict[str, Any]] = []
    for new in new_events:
        if status in TERMINAL:
            break  # the first terminal event wins
        sequence += 1
        status = next_status(status, new["kind"])
        recorded.append(
            {
                "assignation": assignation_id,
                "sequence": sequence,
                "kind": new["kind"],
                "created_at": created,
                **{name: new.get(name) for name in EVENT_FIELDS},
            }
        )
    return recorded, status


def event_columns(recorded: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as the events table stores them (`event_row` reads them back)."""
    return [
        {
            "assignation_id": e["assignation"],
            "sequence": e["sequence"],
            "kind": e["kind"],
            "created_at": e["created_at"],
            **{name: e[name] for name in EVENT_FIELDS},
        }
        for e in recorded
    ]


def record(
    connection: Connection, row: Any, new_events: Iterable[dict[str, Any]], **values: Any
) -> list[dict[str, Any]]:
    """Appends events to an assignation (`row`: its id, sequence and status) and moves its
    row along, with any other `values`; returns what was recorded (nothing after the end)."""
    recorded, status = append_events(connection, row.id, row.sequence, row.status, new_events)
    if recorded:
        set_progress(connection, row.id, recorded[-1]["sequence"], status, **values)
    return recorded


def stop(platform: Platform, connection: Connection, row: Any, message: str) -> list[Any]:
    """Cancels an active assignation in this write: one not started yet ends CANCELLED here
    (its agent drops it), a running one is CANCELLING until its agent stops it. After the
    commit, `stopped` tells this replica's subscribers and agents."""
    kind = "CANCELLED" if row.status in ("QUEUED", "ASSIGNED") else "CANCELLING"
    recorded = record(connection, row, [{"kind": kind, "message": message}])
    platform.announce_events(recorded)
    if row.agent_id is not None:
        platform.announce(agent_topic(row.agent_id), cancel_message(row.id, message))
    return recorded


def cancel_message(assignation_id: str, reason: str | None) -> dict[str, Any]:
    """What tells an agent to stop (or never start) an assignation, and why."""
    return {"kind": "CANCEL", "assignation": assignation_id, "reason": reason}


def stopped(platform: Platform, agent_id: str | None, recorded: list[Any]) -> None:
    if recorded and agent_id is not None:
        platform.cancel_on_agent(agent_id, recorded[0]["assignation"], recorded[0]["message"])
    platform.publish_events(recorded)


def record_reports(
    connection: Connection, reports: Iterable[tuple[Any, list[dict[str, Any]], int]]
) -> list[list[dict[str, Any]]]:
    """Records an agent's report on many assignations (each: its row, its new events, the
    index of the last one) in two statements, however many there are; returns what was
    recorded for each assignation that changed."""
    created = now()
    batches: list[list[dict[str, Any]]] = []
    progress: list[dict[str, Any]] = []
    for row, new_events, reported in reports:
        recorded, status = next_events(row.id, row.sequence, row.status, new_events, created)
        if recorded:
            batches.append(recorded)
            progress.append(
                {
                    "b_id": row.id,
                    "b_sequence": recorded[-1]["sequence"],
                    "b_status": status,
                    "b_at": created,
                    "b_reported": reported,
                }
            )
    if batches:
        events = event_columns(event for recorded in batches for event in recorded)
        connection.execute(INSERT_EVENTS, events)
        connection.execute(UPDATE_REPORTED, progress)
    return batches


def set_progress(
    connection: Connection,
    assignation_id: str,
    sequence: int,
    status: str,
    *,
    reported: int | None = None,
    **values: Any,
) -> None:
    if not values:
        parameters = {"b_id": assignation_id, "b_sequence": sequence, "b_status": status}
        if reported is None:
            connection.execute(UPDATE_PROGRESS, {**parameters, "b_at": now()})
        else:
            connection.execute(
                UPDATE_REPORTED, {**parameters, "b_at": now(), "b_reported": reported}
            )
        return
    if reported is not None:
        values["reported"] = reported
    a = tables.assignations
    connection.execute(
        a.update()
        .where(a.c.id == assignation_id)
        .values(sequence=sequence, status=status, updated_at=now(), **values)
    )


class Platform:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.bus = Bus()
        self.router = Router()
        self.tokens = Tokens(db)
        self.connections = Connections()
        """The websockets open on this replica, by token."""
        self.journal = Journal()
        self.nodes: Recent[str, Any] = Recent(10_000)
        """Stored nodes by id; a node never changes."""
        self.reservations: Recent[str, Any] = Recent(10_000)
        """Reservations by id; forgotten when they end."""
        # (user, node) -> the user's implicit reservation of the node
        self.implicit_reservations: dict[tuple[str, str], str] = {}
        self.replica = new_id()
        """This server process, among the replicas sharing the database."""
        self.clustered = is_postgres(settings.resolved_database_url)
        """Whether other replicas may share the database (then they hear of changes)."""
        if self.clustered:
            db.write.send = lambda connection, announcements: relay.send(
                connection, self.replica, announcements
            )

    def announce(self, topic: str, data: Any) -> None:
        """Inside a write job: tells the other replicas, when the job commits."""
        if self.clustered:
            self.db.write.outbox.append((topic, data))

    def announce_events(self, recorded: Sequence[dict[str, Any]]) -> None:
        if recorded:
            self.announce(assignation_topic(recorded[0]["assignation"]), list(recorded))

    async def receive(self, topic: str, data: Any) -> None:
        """Republishes what another replica announced (see `relay`)."""
        kind, _, key = topic.partition(":")
        if kind == "revoked":
            await self.revoked(key)
        elif topic == ACCESS_TOPIC:
            await self.access_changed(data)
        elif kind == "assignation":
            if data is None:
                self.bus.publish(topic, [relay.POKE])
            else:
                for event in data:
                    event["created_at"] = datetime.fromisoformat(event["created_at"])
                self.publish_events(data)
        elif kind in ("agent", "host"):
            self.bus.publish(topic, data or relay.POKE)
        elif topic == AGENTS_TOPIC:
            await self.refresh_agents([data])
            if self.router.is_connected(data):  # changed through another replica
                self.router.offer(data, await self.offers(data))
            self.bus.publish(AGENTS_TOPIC, data)
        elif topic == DEPLOYMENTS_TOPIC:
            self.bus.publish(topic, data)
        elif kind == "queue":
            await self.dispatch(set(data or ()))
        elif kind == "reservations":
            if data:
                self.reservations.pop(data)
            self.bus.publish(topic, data)

    async def revoked(self, digest: str) -> None:
        """A token was revoked: it stops working here now, and its websockets close."""
        self.tokens.forget(digest)
        await self.connections.close(digest, "The token was revoked.")

    async def access_changed(self, user_id: str | None) -> None:
        """A user's teams changed (or, with None, an agent's): forget what followed from them."""
        if user_id is None:
            self.implicit_reservations.clear()
            return
        for key in [key for key in self.implicit_reservations if key[0] == user_id]:
            del self.implicit_reservations[key]
        self.tokens.forget_user(user_id)
        await self.connections.refresh(user_id, self.tokens.grant)
        self.bus.publish(reservations_topic(user_id), None)  # what serves them changed

    async def refresh_agents(self, agent_ids: list[str] | None = None) -> None:
        """Learns which agents other replicas hold, and what they offer (None: all)."""
        g, i = tables.agents, tables.implementations
        query = sa.select(
            g.c.id,
            g.c.user_id,
            g.c.status,
            g.c.replica,
            i.c.id.label("implementation"),
            i.c.node_id,
            i.c.interface,
        ).outerjoin(i, sa.and_(i.c.agent_id == g.c.id, i.c.active))
        if agent_ids is None:
            query = query.where(g.c.status == "CONNECTED")
        else:
            query = query.where(g.c.id.in_(agent_ids))

        def job(connection: Connection) -> tuple[Sequence[Any], dict[str, frozenset[str]]]:
            rows = connection.execute(query).all()
            return rows, teams_of_agents(connection, {row.id for row in rows})

        rows, teams = await self.db.read(job)
        offers: dict[str, list[Live]] = {agent_id: [] for agent_id in agent_ids or ()}
        for row in rows:
            offers.setdefault(row.id, [])
            if row.status == "CONNECTED" and row.replica != self.replica and row.implementation:
                offers[row.id].append(
                    Live(
                        row.id,
                        row.implementation,
                        row.node_id,
                        row.interface,
                        row.user_id,
                        teams.get(row.id, frozenset()),
                    )
                )
        for agent_id, offered in offers.items():
            self.router.remote(agent_id, offered)

    async def resynchronize(self) -> None:
        """After notifications may have been lost: reload live agents, poke subscribers."""
        await self.refresh_agents()
        for topic in self.bus.topics():
            if topic.startswith("assignation:"):
                self.bus.publish(topic, [relay.POKE])
            elif topic.startswith(("agent:", "host:")):
                self.bus.publish(topic, relay.POKE)

    def publish_events(self, recorded: Sequence[dict[str, Any]]) -> None:
        if not recorded:
            return
        assignation_id = recorded[0]["assignation"]
        self.journal.record(list(recorded))
        self.bus.publish(assignation_topic(assignation_id), list(recorded))
        if recorded[-1]["kind"] in TERMINAL:
            self.router.finished(assignation_id)

    def deliver(self, agent_id: str, assignation_id: str, interface: str, args: Any) -> None:
        self.router.started(assignation_id, agent_id)
        message = {
            "kind": "ASSIGN",
            "assignation": assignation_id,
            "interface": interface,
            "args": args,
        }
        self.bus.publish(agent_topic(agent_id), message)

    def cancel_on_agent(
        self, agent_id: str, assignation_id: str, reason: str | None = None
    ) -> None:
        """Tells the agent to stop (or never start) the assignation, and why."""
        self.bus.publish(agent_topic(agent_id), cancel_message(assignation_id, reason))

    async def offers(self, agent_id: str) -> list[Live]:
        i, g = tables.implementations, tables.agents
        query = (
            sa.select(i.c.id, i.c.node_id, i.c.interface, g.c.user_id)
            .join(g, g.c.id == i.c.agent_id)
            .where(i.c.agent_id == agent_id, i.c.active)
        )

        def job(connection: Connection) -> tuple[Sequence[Any], frozenset[str]]:
            teams = teams_of_agents(connection, {agent_id}).get(agent_id, frozenset())
            return connection.execute(query).all(), teams

        rows, teams = await self.db.read(job)
        return [
            Live(agent_id, row.id, row.node_id, row.interface, row.user_id, teams) for row in rows
        ]

    async def dispatch_queued(self, agent_id: str) -> None:
        """Routes queued assignations that this newly live agent can run."""
        await self.dispatch(self.router.nodes_of(agent_id))

    async def dispatch(self, node_ids: set[str]) -> None:
        """Routes the queued assignations of these nodes to live agents, oldest first."""
        if not node_ids:
            return
        a, r = tables.assignations, tables.reservations
        query = (
            sa.select(
                a.c.id,
                a.c.user_id,
                a.c.node_id,
                a.c.args,
                a.c.sequence,
                a.c.reservation_id,
                r.c.strategy,
                r.c.agents,
            )
            .join(r, r.c.id == a.c.reservation_id)
            .where(a.c.status == "QUEUED", a.c.node_id.in_(node_ids))
            .order_by(a.c.created_at)
        )

        def job(connection: Connection) -> tuple[Sequence[Any], dict[str, User]]:
            rows = connection.execute(query).all()
            callers = {row.user_id for row in rows}
            return rows, {u: User(u, "", False, teams_of(connection, u)) for u in callers}

        queued, callers = await self.db.read(job)
        for row in queued:
            live = self.router.choose(
                row.reservation_id, row.node_id, row.strategy, callers[row.user_id], row.agents
            )
            if live is None:
                continue
            await self._assign_queued(row, live)

    async def _assign_queued(self, row: Any, live: Live) -> None:
        def job(connection: Connection) -> list[dict[str, Any]]:
            a = tables.assignations
            current = connection.execute(
                sa.select(a.c.id, a.c.status, a.c.sequence)
                .where(a.c.id == row.id)
                .with_for_update()
            ).one()
            if current.status != "QUEUED":
                return []
            recorded = record(
                connection,
                current,
                [{"kind": "ASSIGNED", "message": live.agent_id}],
                agent_id=live.agent_id,
                interface=live.interface,
            )
            self.announce_events(recorded)
            self.announce(agent_topic(live.agent_id), relay.POKE)
            return recorded

        recorded = await self.db.write(job)
        if recorded:
            self.deliver(live.agent_id, row.id, live.interface, row.args)
            self.publish_events(recorded)
