"""Replicas sharing one PostgreSQL database tell each other what changed, with NOTIFY.

A write job that other replicas must hear about announces it (`Platform.announce`); the
writer sends those announcements with `pg_notify` in the job's own transaction, so they
fire exactly when the change commits, and never for a change that rolled back. Each replica
LISTENs and republishes what the others announced on its own bus.

Notifications can be lost (a listener reconnecting, a replica dying after its commit). So
after every (re)LISTEN a replica reloads the live agents and pokes its subscribers to read
again, followers of an assignation re-read the database when they hear nothing for a while,
and the sweeper re-delivers what agents did not acknowledge.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

log = logging.getLogger("arkitekt.server")

CHANNEL = "arkitekt"
# NOTIFY payloads are limited to 8000 bytes; bigger news travels as a poke to re-read.
MAX_PAYLOAD = 7000
POKE: dict[str, Any] = {"kind": "POKE"}
"""A message that says: something changed, read it from the database."""
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def send(connection: Connection, replica: str, announcements: list[tuple[str, Any]]) -> None:
    """Sends announcements in the current transaction (they fire when it commits)."""
    for topic, data in announcements:
        payload = json.dumps({"r": replica, "t": topic, "d": data}, default=str)
        if len(payload) > MAX_PAYLOAD:
            payload = json.dumps({"r": replica, "t": topic, "d": None})
        connection.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


def conninfo(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


async def listen(platform: Any, url: str) -> None:
    """Republishes other replicas' announcements on this replica's bus, until cancelled."""
    import psycopg

    attempt = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo(url), autocommit=True
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                attempt = 0
                await platform.resynchronize()  # what happened while nobody listened
                async for notification in connection.notifies():
                    message = json.loads(notification.payload)
                    if message["r"] != platform.replica:
                        await platform.receive(message["t"], message["d"])
        except asyncio.CancelledError:
            raise
        except Exception as error:
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            attempt += 1
            log.warning("Lost the notification listener (%s); again in %ss", error, delay)
            await asyncio.sleep(delay)
