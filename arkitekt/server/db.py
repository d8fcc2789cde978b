"""The database: engine set-up, migrations, reads on a thread pool, and one group-committing
writer thread.

Database work runs in threads with SQLAlchemy's synchronous API: a job (a function of a
`Connection`) crosses from the event loop to a thread once, however many statements it runs.
(An async driver pays that crossing per statement; measured here, it cost more than the
statements themselves.)

SQLite, the embedded default, runs in WAL mode with `synchronous=FULL`, so that a write the
API acknowledged survives a power loss. All writes go through one `Writer`, which commits
whatever arrived together in one transaction: the fsync is paid once per batch, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

log = logging.getLogger("arkitekt.server")

T = TypeVar("T")
Job = Callable[[Connection], Any]

MIGRATIONS = Path(__file__).parent / "migrations"
READERS = 4


def sync_url(url: str) -> str:
    """The SQLAlchemy URL with the driver arkitekt uses (psycopg for PostgreSQL); async
    driver names (`sqlite+aiosqlite`, `postgresql+asyncpg`) are accepted too."""
    url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def make_engine(url: str) -> Engine:
    url = sync_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=READERS + 1
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    return create_engine(url, pool_size=READERS + 2, max_overflow=4, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Brings the database schema up to date (Alembic, `migrations/`)."""
    migrate_to(engine, "head")


def migrate_to(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@dataclass(frozen=True)
class Inserts:
    """A write job that only inserts rows (in order) and returns a known `result`.

    Inserts queued together are merged: all of a transaction's run where the first one
    stands, one execution per statement (the same statement object), however many jobs
    there are. Every `Inserts` must therefore use its statements in the same order (a
    row's references first).
    `then` runs in the transaction after the rows are in (to `announce` them)."""

    rows: Sequence[tuple[Insert, dict[str, Any]]]
    result: Any = None
    then: Callable[[], None] | None = None

    def __call__(self, connection: Connection) -> Any:
        run_inserts(connection, [self])
        return self.result


def run_inserts(connection: Connection, jobs: Sequence[Inserts]) -> None:
    by_statement: dict[Insert, list[dict[str, Any]]] = {}
    for job in jobs:
        for statement, row in job.rows:
            by_statement.setdefault(statement, []).append(row)
    for statement, rows in by_statement.items():
        connection.execute(statement, rows)
    for job in jobs:
        if job.then is not None:
            job.then()


def _run_jobs(connection: Connection, jobs: list[Job]) -> list[Any]:
    """Runs the jobs in order, except that all `Inserts` run where the first one stands:
    moved earlier, never later, so a job queued after an insert still sees its rows."""
    inserts = [job for job in jobs if isinstance(job, Inserts)]
    results = []
    for job in jobs:
        if not isinstance(job, Inserts):
            results.append(job(connection))
            continue
        if inserts:
            run_inserts(connection, inserts)
            inserts = []
        results.append(job.result)
    return results


Queued = list[tuple[Job, "asyncio.Future[Any]"]]


class Writer:
    """Commits write jobs in as few transactions as possible, on one thread.

    Jobs submitted in one turn of the event loop are handed to the thread together; the
    thread commits all it has been handed in one transaction, and goes straight on to what
    arrived meanwhile without waiting for the loop. Each job's future is settled on the loop.
    A job must only touch the database: side effects belong after `await write(job)`.

    On SQLite, a lone `small` job (one of a call's: well under a millisecond) commits on the
    loop itself while the thread has nothing to do: handing it over and back costs about as
    much as its commit's fsync, and a lone call makes three such commits, one after the
    other. Any other job would hold up the loop for as long as it runs.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queued: Queued = []
        self._queued_small = True
        self._handed: queue.SimpleQueue[Queued | None] = queue.SimpleQueue()
        self._inline = engine.dialect.name == "sqlite"  # a local file, not a network away
        self._unfinished = 0
        """Batches handed to the thread that it has not finished: while there are some,
        everything goes to the thread, so that jobs commit in the order they were queued."""
        self._count_lock = threading.Lock()
        self.outbox: list[tuple[str, Any]] = []
        """What jobs announce to other replicas (see `relay`); sent before each commit."""
        self.send: Callable[[Connection, list[tuple[str, Any]]], None] | None = None
        # The writer thread keeps one connection: checking one out of the pool for each
        # batch (and resetting it on return) costs more than a small transaction.
        self._connection: Connection | None = None

    def _transaction(self, jobs: list[Job]) -> list[Any]:
        self.outbox.clear()
        if self._connection is None or self._connection.invalidated:
            if self._connection is not None:
                self._connection.close()
            self._connection = self.engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                results = _run_jobs(connection, jobs)
                if self.outbox and self.send is not None:
                    self.send(connection, self.outbox)
        except Exception:
            if connection.invalidated or connection.closed:  # the database went away
                self._connection = None
            raise
        self.outbox.clear()
        return results

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _run_batch(self, jobs: list[Job]) -> list[tuple[bool, Any]]:
        """Runs jobs in one transaction; when it fails, runs each alone so one bad request
        never fails another. Returns (succeeded, result or exception) per job."""
        try:
            return [(True, result) for result in self._transaction(jobs)]
        except Exception as error:
            if len(jobs) == 1:
                return [(False, error)]
        outcomes: list[tuple[bool, Any]] = []
        for job in jobs:
            try:
                outcomes.append((True, self._transaction([job])[0]))
            except Exception as error:
                outcomes.append((False, error))
        return outcomes

    async def __call__(self, job: Callable[[Connection], T], *, small: bool = False) -> T:
        return await self.submit(job, small=small)

    def submit(self, job: Callable[[Connection], T], *, small: bool = False) -> asyncio.Future[T]:
        """Queues the job now; jobs commit in the order they were queued. `small`: it runs
        in well under a millisecond, and may commit on the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._hand_over)
            self._queued_small = True
        self._queued.append((job, future))
        self._queued_small &= small
        return future

    def _hand_over(self) -> None:
        queued, self._queued = self._queued, []
        small = self._inline and self._queued_small and len(queued) == 1
        if small and self._unfinished == 0:
            batch = [(job, future) for job, future in queued if not future.cancelled()]
            if batch:
                _settle(batch, self._run_batch([job for job, _ in batch]))
            return
        with self._count_lock:
            self._unfinished += 1
        self._handed.put(queued)

    async def run(self) -> None:
        """Runs the writer thread until cancelled (then it finishes what it holds)."""
        loop = asyncio.get_running_loop()
        thread = threading.Thread(
            target=self._work, args=(loop,), name="arkitekt-writer", daemon=True
        )
        thread.start()
        try:
            await loop.create_future()
        finally:
            self._handed.put(None)
            thread.join()

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while (taken := self._take()) is not None:
                batch, handed = taken
                batch = [(job, future) for job, future in batch if not future.cancelled()]
                outcomes = self._run_batch([job for job, _ in batch]) if batch else []
                with self._count_lock:  # done with the connection: the loop may use it
                    self._unfinished -= handed
                if batch:
                    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                        loop.call_soon_threadsafe(_settle, batch, outcomes)
        finally:
            self._close_connection()

    def _take(self) -> tuple[Queued, int] | None:
        """Waits for jobs, and returns all that were handed over and in how many batches;
        None to stop."""
        batch = self._handed.get()
        handed = 1
        while batch is not None and not self._handed.empty():
            more = self._handed.get()
            if more is None:
                self._handed.put(None)  # stop after this batch
                break
            batch += more
            handed += 1
        return None if batch is None else (batch, handed)


def _settle(batch: Queued, outcomes: list[tuple[bool, Any]]) -> None:
    for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Database:
    """Reads on a small thread pool; writes through the writer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.write = Writer(engine)
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="arkitekt-reader")

    async def read(self, job: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, job)

    def _read(self, job: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            return job(connection)

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        self.engine.dispose()
