"""The database: engine set-up, migrations, and the group-committing writer.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL`, so that a write the
API acknowledged survives a power loss. Every write goes through one `Writer`, which commits
whatever arrived together in one transaction: the fsync is paid once per batch, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("arkitekt.server")

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10)


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Brings the database schema up to date (Alembic, `migrations/`)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


class Writer:
    """Runs write jobs in as few transactions as possible.

    Jobs queue up while a transaction commits; the next transaction runs all of them. When
    a batch fails, each job is retried alone, so one bad request never fails another.
    A job must only touch the database: side effects belong after `await write(job)`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Any]]] = asyncio.Queue()

    async def __call__(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(job, future) for job, future in batch if not future.cancelled()]
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        try:
            async with self.engine.begin() as connection:
                results = [await job(connection) for job, _ in batch]
        except Exception:
            if len(batch) == 1:
                await self._commit_alone(*batch[0])
                return
            for job, future in batch:
                await self._commit_alone(job, future)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit_alone(self, job: Job, future: asyncio.Future[Any]) -> None:
        try:
            async with self.engine.begin() as connection:
                result = await job(connection)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)


class Database:
    """The engine, for reads, and the writer, for writes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.write = Writer(engine)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection
