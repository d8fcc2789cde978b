"""Agent connections: leases, the grace window, and the work an agent leaves behind.

Each connection of an agent takes a lease: a higher `epoch` than the one before. The agent's
reports carry it, and a report under an older epoch is refused, so a connection that lost
its lease (a newer one took over) cannot write. When a connection drops, the agent has
`grace` seconds to come back and reclaim its work; after that the sweeper settles it:

- delivered but never acknowledged: queued again (it never started, so it is safe);
- running, idempotent node, attempts left: queued again, to run on another instance;
- running otherwise: ended DISCONNECTED (execution is at most once);
- being cancelled: ended CANCELLED.

A call that is not detached ends with its caller: each replica notes, every sweep, which
calls it has followers for, and a call nobody followed for `caller_grace` seconds is
cancelled (an endless generator whose caller died would otherwise hold its slot for ever).

Each server process is a replica with a heartbeat row; agents held by a replica that
stopped beating are disconnected by whichever replica notices first.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import tables
from .lifecycle import ACTIVE
from .platform import (
    AGENTS_TOPIC,
    Platform,
    agent_topic,
    cancel_message,
    record,
    stop,
    stopped,
)
from .tables import now

log = logging.getLogger("arkitekt.server")

a, g = tables.assignations, tables.agents


def _requeue(connection: Connection, row: Any, message: str) -> list[dict[str, Any]]:
    # A new run counts its events from 1 again.
    events = [{"kind": "QUEUED", "message": message}]
    return record(connection, row, events, agent_id=None, interface=None, reported=0)


def _end(connection: Connection, row: Any, kind: str, message: str) -> list[dict[str, Any]]:
    return record(connection, row, [{"kind": kind, "message": message}])


def settle_work(connection: Connection, agent_id: str, max_attempts: int) -> list[Any]:
    """Requeues or ends the unfinished work of an agent that is gone. Returns the recorded
    event batches, and the ids of nodes whose queue grew."""
    n = tables.nodes
    rows = connection.execute(
        sa.select(a.c.id, a.c.sequence, a.c.status, a.c.attempts, a.c.node_id, n.c.idempotent)
        .join(n, n.c.id == a.c.node_id)
        .where(a.c.agent_id == agent_id, a.c.status.in_(ACTIVE))
        .order_by(a.c.created_at)
        .with_for_update(of=a, skip_locked=True)  # replicas sweeping at once settle each once
    ).all()
    settled = []
    for row in rows:
        if row.status == "ASSIGNED":
            recorded = _requeue(connection, row, "The agent went away before accepting it.")
        elif row.status == "CANCELLING":
            recorded = _end(connection, row, "CANCELLED", "The agent went away while cancelling.")
        elif row.idempotent and row.attempts < max_attempts:
            recorded = _requeue(
                connection,
                row,
                f"The agent went away; running it again (attempt {row.attempts + 1} "
                f"of {max_attempts}).",
            )
        else:
            recorded = _end(
                connection, row, "DISCONNECTED", "The agent went away while running it."
            )
        settled.append((recorded, row.node_id))
    return settled


def take_lease(connection: Connection, table: sa.Table, row_id: str, replica: str) -> int:
    """A new lease on an agent's or a host's row, held by `replica`: returns its epoch."""
    moment = now()
    epoch = connection.execute(
        table.update()
        .where(table.c.id == row_id)
        .values(
            epoch=table.c.epoch + 1,
            status="CONNECTED",
            replica=replica,
            connected_at=moment,
            last_seen=moment,
        )
        .returning(table.c.epoch)
    ).scalar_one()
    return int(epoch)


async def connect(platform: Platform, agent_id: str, connection_token: object) -> int:
    """Takes a new lease for the agent on this replica; returns its epoch."""
    offers = await platform.offers(agent_id)

    def job(connection: Connection) -> int:
        epoch = take_lease(connection, g, agent_id, platform.replica)
        platform.announce(agent_topic(agent_id), {"kind": "LEASE", "epoch": epoch})
        platform.announce(AGENTS_TOPIC, agent_id)
        return epoch

    epoch = await platform.db.write(job)
    platform.router.connect(agent_id, connection_token, offers)
    # Older connections of the agent hear that they lost the lease, and end.
    platform.bus.publish(agent_topic(agent_id), {"kind": "LEASE", "epoch": epoch})
    platform.bus.publish(AGENTS_TOPIC, agent_id)
    if log.isEnabledFor(logging.INFO):  # once routing to it has begun: this reads
        functions = "function" if len(offers) == 1 else "functions"
        log.info("%s connected: %d %s", await _who(platform, agent_id), len(offers), functions)
    return epoch


async def _who(platform: Platform, agent_id: str) -> str:
    """`agent lab of ada on vm (3f2a…)`: an agent as the server's log names it."""
    u = tables.users
    query = (
        sa.select(g.c.name, g.c.hostname, u.c.name.label("user"))
        .join(u, u.c.id == g.c.user_id)
        .where(g.c.id == agent_id)
    )
    row = await platform.db.read(lambda connection: connection.execute(query).first())
    if row is None:
        return f"agent {agent_id}"
    where = f" on {row.hostname}" if row.hostname else ""
    return f"agent {row.name} of {row.user}{where} ({agent_id[:8]})"


async def unfinished(
    platform: Platform, agent_id: str, quiet_for: float = 0.0
) -> list[dict[str, Any]]:
    """What a (re)connected agent must hear again: unacknowledged work and pending cancels
    (only those unchanged for `quiet_for` seconds: the others are on their way)."""
    e = tables.events
    reason = (  # what the CANCELLING event said, for a cancel heard again
        sa.select(e.c.message)
        .where(e.c.assignation_id == a.c.id, e.c.kind == "CANCELLING")
        .order_by(e.c.sequence.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(a.c.id, a.c.status, a.c.interface, a.c.args, reason.label("reason")).where(
        a.c.agent_id == agent_id,
        a.c.status.in_(("ASSIGNED", "CANCELLING")),
        a.c.updated_at <= now() - timedelta(seconds=quiet_for),
    )
    rows = await platform.db.read(lambda connection: connection.execute(query).all())
    messages = []
    for row in rows:
        platform.router.started(row.id, agent_id)
        if row.status == "ASSIGNED":
            messages.append(
                {
                    "kind": "ASSIGN",
                    "assignation": row.id,
                    "interface": row.interface,
                    "args": row.args,
                }
            )
        else:
            messages.append(cancel_message(row.id, row.reason))
    return messages


async def disconnect(
    platform: Platform, agent_id: str, connection_token: object, epoch: int
) -> None:
    """The connection ended: stop routing to it; the grace window starts now, unless the
    agent said it was leaving (then its unfinished work is settled at once)."""
    leaving = platform.router.is_withdrawn(agent_id)
    if not platform.router.disconnect(agent_id, connection_token):
        return  # a newer connection of this agent is live here

    def job(connection: Connection) -> None:
        connection.execute(
            g.update()
            .where(g.c.id == agent_id, g.c.epoch == epoch)  # not if it reconnected elsewhere
            .values(status="DISCONNECTED", last_seen=now())
        )
        platform.announce(AGENTS_TOPIC, agent_id)

    await asyncio.shield(platform.db.write(job))
    platform.bus.publish(AGENTS_TOPIC, agent_id)
    if leaving:
        await asyncio.shield(give_up(platform, agent_id))
    if log.isEnabledFor(logging.INFO):
        log.info("%s %s", await _who(platform, agent_id), "left" if leaving else "went away")


async def give_up(platform: Platform, agent_id: str) -> None:
    """Settles an agent's unfinished work now (its process is known to be gone)."""

    def job(connection: Connection) -> list[Any]:
        return _announced(
            platform, settle_work(connection, agent_id, platform.settings.max_attempts)
        )

    await _after_settling(platform, await platform.db.write(job))


def _announced(platform: Platform, settled: list[Any]) -> list[Any]:
    for recorded, _ in settled:
        platform.announce_events(recorded)
    if settled:
        platform.announce("queue", sorted({node_id for _, node_id in settled}))
    return settled


async def _after_settling(platform: Platform, settled: list[Any]) -> None:
    nodes = set()
    for recorded, node_id in settled:
        platform.publish_events(recorded)
        if recorded:
            platform.router.finished(recorded[0]["assignation"])
        nodes.add(node_id)
    if nodes:
        await platform.dispatch(nodes)


async def sweep(platform: Platform) -> None:
    """One round: beat, disconnect the agents of dead replicas, settle expired work, and
    deliver what a lost notification may have left undelivered."""
    settings = platform.settings

    def job(connection: Connection) -> tuple[list[Any], list[Any]]:
        moment = now()
        r = tables.replicas
        beat = connection.execute(
            r.update().where(r.c.id == platform.replica).values(last_seen=moment)
        )
        if beat.rowcount == 0:
            connection.execute(r.insert().values(id=platform.replica, started_at=moment))
        stale = sa.select(r.c.id).where(
            r.c.last_seen < moment - timedelta(seconds=settings.heartbeat * 2 + settings.grace)
        )
        orphans = connection.execute(
            g.update()
            .where(
                g.c.status == "CONNECTED",
                sa.or_(g.c.replica.is_(None), g.c.replica.in_(stale)),
            )
            .values(status="DISCONNECTED", last_seen=moment)
            .returning(g.c.id)
        ).scalars()
        for orphan in orphans:
            platform.announce(AGENTS_TOPIC, orphan)
        h = tables.hosts
        connection.execute(  # hosts held by a replica that is gone
            h.update()
            .where(
                h.c.status == "CONNECTED",
                sa.or_(h.c.replica.is_(None), h.c.replica.in_(stale)),
            )
            .values(status="DISCONNECTED", last_seen=moment)
        )
        # From the unfinished work (few rows) to its agents, not from every agent.
        working = sa.select(a.c.agent_id).where(a.c.status.in_(ACTIVE))
        expired = (
            connection.execute(
                sa.select(g.c.id).where(
                    g.c.id.in_(working),
                    g.c.status == "DISCONNECTED",
                    g.c.last_seen < moment - timedelta(seconds=settings.grace),
                )
            )
            .scalars()
            .all()
        )
        settled = []
        for agent_id in expired:
            settled += settle_work(connection, agent_id, settings.max_attempts)
        return _announced(platform, settled), _abandoned(platform, connection, moment)

    settled, abandoned = await platform.db.write(job)
    await _after_settling(platform, settled)
    for agent_id, recorded in abandoned:
        stopped(platform, agent_id, recorded)
    for agent_id in platform.router.connected():
        for message in await unfinished(platform, agent_id, quiet_for=settings.sweep_interval):
            platform.bus.publish(agent_topic(agent_id), message)


ABANDONED = (
    "Cancelled: nobody followed it for {grace:g} s (its caller went away). A call meant to "
    "outlive its caller is assigned detached."
)


def _abandoned(platform: Platform, connection: Connection, moment: datetime) -> list[Any]:
    """Notes the calls followed here; cancels those nobody followed for the caller grace.
    Returns (agent id, recorded events) for each."""
    prefix = "assignation:"
    followed = [t.removeprefix(prefix) for t in platform.bus.topics() if t.startswith(prefix)]
    grace = platform.settings.caller_grace
    stale = sa.or_(  # a row is rewritten a few times per grace, not at every sweep
        a.c.followed_at.is_(None), a.c.followed_at < moment - timedelta(seconds=grace / 4)
    )
    for start in range(0, len(followed), 500):
        chunk = followed[start : start + 500]
        connection.execute(a.update().where(a.c.id.in_(chunk), stale).values(followed_at=moment))
    rows = connection.execute(
        sa.select(a)
        .where(
            a.c.status.in_(("QUEUED", "ASSIGNED", "RUNNING")),
            sa.not_(a.c.detached),
            sa.func.coalesce(a.c.followed_at, a.c.created_at) < moment - timedelta(seconds=grace),
        )
        .with_for_update(of=a, skip_locked=True)
    ).all()
    return [
        (row.agent_id, stop(platform, connection, row, ABANDONED.format(grace=grace)))
        for row in rows
    ]


async def run_sweeper(platform: Platform) -> None:
    """Sweeps every `sweep_interval` seconds until cancelled."""
    while True:
        try:
            await sweep(platform)
        except Exception:
            log.exception("The sweep failed; trying again in %ss", platform.settings.sweep_interval)
        await asyncio.sleep(platform.settings.sweep_interval)
