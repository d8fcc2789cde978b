"""Retention: central storage keeps a blob for `blob_retention` days, then frees it; the
database keeps a call for `history_retention` days after it ended, then deletes it with
its events.

Streaming analysis makes a blob of every frame sent and every image returned, so storage
that keeps everything fills its disk. With a retention set, a janitor deletes the blobs
older than it, but never a release's bundle (hosts fetch it whenever they start the app)
nor a blob in the arguments of a call that has not ended (its agent has yet to read it).

Rows go first, in one transaction, then the bytes: a crash in between may leave bytes
behind, but never a blob that is listed while its bytes are half gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import tables
from .lifecycle import ACTIVE, TERMINAL
from .platform import Platform
from .storage import Backend, make_backend
from .tables import now

log = logging.getLogger("arkitekt.server")

BATCH = 500
"""Blobs freed, or calls deleted, per transaction."""
ROUNDS_APART = 60
"""Sweeps between two rounds: blobs age in days, not seconds."""


async def expire_blobs(platform: Platform, backend: Backend) -> int:
    """Frees the blobs past the retention; returns how many."""
    days = platform.settings.blob_retention
    if days is None:
        return 0
    cutoff = now() - timedelta(days=days)
    freed = 0
    async for doomed in _in_batches(platform, lambda c: _forget(c, cutoff)):
        await asyncio.gather(*(backend.delete_blob(blob) for blob in doomed))
        freed += len(doomed)
    if freed:
        log.info("Freed %d blobs older than %s days", freed, days)
    return freed


def _forget(connection: Connection, cutoff: Any) -> list[str]:
    """Deletes the rows of a batch of expired blobs; returns their ids."""
    b, r = tables.blobs, tables.releases
    old = connection.execute(
        sa.select(b.c.id)
        .where(b.c.created_at < cutoff, b.c.id.not_in(sa.select(r.c.blob_id)))
        .order_by(b.c.created_at)
        .limit(BATCH)
    ).scalars()
    candidates = set(old)
    if not candidates:
        return []
    doomed = sorted(candidates - in_use(connection, candidates))
    forget(connection, doomed)
    return doomed


def in_use(connection: Connection, blobs: set[str]) -> set[str]:
    """Those of `blobs` that a call which has not ended takes as an argument."""
    a = tables.assignations
    unfinished = connection.execute(sa.select(a.c.args).where(a.c.status.in_(ACTIVE)))
    return {text for (args,) in unfinished for text in _strings(args)} & blobs


def forget(connection: Connection, blobs: list[str]) -> None:
    """Deletes the rows of `blobs`: from now on they answer as ones that do not exist, and
    their bytes no longer count against their owners' quotas."""
    b, o, u = tables.blobs, tables.blob_objects, tables.users
    if not blobs:
        return
    held = connection.execute(
        sa.select(b.c.user_id, sa.func.sum(o.c.size))
        .join_from(o, b, o.c.blob_id == b.c.id)
        .where(o.c.blob_id.in_(blobs))
        .group_by(b.c.user_id)
    ).all()
    for user_id, size in held:
        freed = u.c.stored_bytes - size
        connection.execute(u.update().where(u.c.id == user_id).values(stored_bytes=freed))
    connection.execute(o.delete().where(o.c.blob_id.in_(blobs)))
    connection.execute(b.delete().where(b.c.id.in_(blobs)))


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value: a structure travels as its blob's id."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


async def expire_history(platform: Platform) -> int:
    """Deletes the calls that ended before the retention, with their events; returns how
    many. Unfinished calls stay, however old."""
    days = platform.settings.history_retention
    if days is None:
        return 0
    cutoff = now() - timedelta(days=days)
    deleted = 0
    async for ended in _in_batches(platform, lambda c: _delete_ended(c, cutoff)):
        deleted += len(ended)
    if deleted:
        log.info("Deleted %d calls that ended over %s days ago", deleted, days)
    return deleted


async def _in_batches(
    platform: Platform, job: Callable[[Connection], list[str]]
) -> AsyncIterator[list[str]]:
    """What `job` deletes, a write at a time, until a write finds fewer than a batch: a
    round never holds the writer for long."""
    while batch := await platform.db.write(job):
        yield batch
        if len(batch) < BATCH:
            return


def _delete_ended(connection: Connection, cutoff: Any) -> list[str]:
    a, e = tables.assignations, tables.events
    doomed = list(
        connection.execute(
            sa.select(a.c.id)
            .where(a.c.updated_at < cutoff, a.c.status.in_(TERMINAL))
            .order_by(a.c.updated_at)
            .limit(BATCH)
        ).scalars()
    )
    if doomed:
        connection.execute(e.delete().where(e.c.assignation_id.in_(doomed)))
        connection.execute(a.delete().where(a.c.id.in_(doomed)))
    return doomed


async def run_janitor(platform: Platform) -> None:
    """Frees expired blobs and deletes expired calls every `ROUNDS_APART` sweeps, until
    cancelled."""
    settings = platform.settings
    if settings.blob_retention is None and settings.history_retention is None:
        return
    backend = make_backend(settings)
    while True:
        try:
            await expire_blobs(platform, backend)
            await expire_history(platform)
        except Exception:
            log.exception("Expiring old blobs or calls failed; trying again later")
        await asyncio.sleep(settings.sweep_interval * ROUNDS_APART)
