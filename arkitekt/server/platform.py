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
from .auth import Tokens
from .bus import Bus
from .db import Database, is_postgres
from .journal import Journal, Recent
from .lifecycle import TERMINAL, next_status
from .router import Live, Router
from .settings import Settings
from .tables import new_id, now

EVENT_FIELDS = ("returns", "message", "progress", "level", "error_type", "traceback")


def agent_topic(agent_id: str) -> str:
    return f"agent:{agent_id}"


def assignation_topic(assignation_id: str) -> str:
    return f"assignation:{assignation_id}"


def reservations_topic(user_id: str) -> str:
    return f"reservations:{user_id}"


AGENTS_TOPIC = "agents"


def event_row(row: Any) -> dict[str, Any]:
    """An event as the AssignationEvent type reads it."""
    return {
        "assignation": row.assignation_id,
        "sequence": row.sequence,
        "kind": row.kind,
        "created_at": row.created_at,
        **{name: getattr(row, name) for name in EVENT_FIELDS},
    }


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
    recorded: list[dict[str, Any]] = []
    created = now()
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
    if recorded:
        connection.execute(
            INSERT_EVENTS,
            [
                {
                    "assignation_id": e["assignation"],
                    "sequence": e["sequence"],
                    "kind": e["kind"],
                    "created_at": created,
                    **{name: e[name] for name in EVENT_FIELDS},
                }
                for e in recorded
            ],
        )
    return recorded, status


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
        kind = topic.partition(":")[0]
        if kind == "assignation":
            if data is None:
                self.bus.publish(topic, [relay.POKE])
            else:
                for event in data:
                    event["created_at"] = datetime.fromisoformat(event["created_at"])
                self.publish_events(data)
        elif kind == "agent":
            self.bus.publish(topic, data or relay.POKE)
        elif topic == AGENTS_TOPIC:
            await self.refresh_agents([data])
            self.bus.publish(AGENTS_TOPIC, data)
        elif kind == "queue":
            await self.dispatch(set(data or ()))
        elif kind == "reservations":
            if data:
                self.reservations.pop(data)
            self.bus.publish(topic, data)

    async def refresh_agents(self, agent_ids: list[str] | None = None) -> None:
        """Learns which agents other replicas hold, and what they offer (None: all)."""
        g, i = tables.agents, tables.implementations
        query = sa.select(
            g.c.id,
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
        rows = await self.db.read(lambda connection: connection.execute(query).all())
        offers: dict[str, list[Live]] = {agent_id: [] for agent_id in agent_ids or ()}
        for row in rows:
            offers.setdefault(row.id, [])
            if row.status == "CONNECTED" and row.replica != self.replica and row.implementation:
                offers[row.id].append(Live(row.id, row.implementation, row.node_id, row.interface))
        for agent_id, offered in offers.items():
            self.router.remote(agent_id, offered)

    async def resynchronize(self) -> None:
        """After notifications may have been lost: reload live agents, poke subscribers."""
        await self.refresh_agents()
        for topic in self.bus.topics():
            if topic.startswith("assignation:"):
                self.bus.publish(topic, [relay.POKE])
            elif topic.startswith("agent:"):
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

    async def offers(self, agent_id: str) -> list[Live]:
        i = tables.implementations
        query = sa.select(i.c.id, i.c.node_id, i.c.interface).where(
            i.c.agent_id == agent_id, i.c.active
        )
        rows = await self.db.read(lambda connection: connection.execute(query).all())
        return [Live(agent_id, row.id, row.node_id, row.interface) for row in rows]

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
        queued = await self.db.read(lambda connection: connection.execute(query).all())
        for row in queued:
            live = self.router.choose(row.reservation_id, row.node_id, row.strategy, row.agents)
            if live is None:
                continue
            await self._assign_queued(row, live)

    async def _assign_queued(self, row: Any, live: Live) -> None:
        def job(connection: Connection) -> list[dict[str, Any]]:
            a = tables.assignations
            current = connection.execute(
                sa.select(a.c.status, a.c.sequence).where(a.c.id == row.id).with_for_update()
            ).one()
            if current.status != "QUEUED":
                return []
            recorded, status = append_events(
                connection,
                row.id,
                current.sequence,
                current.status,
                [{"kind": "ASSIGNED", "message": live.agent_id}],
            )
            set_progress(
                connection,
                row.id,
                current.sequence + 1,
                status,
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
