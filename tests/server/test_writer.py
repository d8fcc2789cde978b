"""The writer: jobs queued together commit together, and inserts of many calls merge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from arkitekt.server.db import Inserts, Writer, make_engine

metadata = sa.MetaData()
parents = sa.Table("parents", metadata, sa.Column("id", sa.String, primary_key=True))
children = sa.Table(
    "children",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("parent_id", sa.ForeignKey("parents.id"), nullable=False),
)
INSERT_PARENT, INSERT_CHILD = parents.insert(), children.insert()


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[tuple[Writer, list[str]]]:
    """A running writer on a fresh SQLite file, and the statements it executes."""
    engine = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    metadata.create_all(engine)
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split("(")[0].strip())

    writer = Writer(engine)
    task = asyncio.create_task(writer.run())
    try:
        yield writer, statements
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        engine.dispose()


def family(name: str) -> Inserts:
    return Inserts(
        [(INSERT_PARENT, {"id": name}), (INSERT_CHILD, {"id": name, "parent_id": name})],
        result=name,
    )


def count(connection: sa.Connection) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(children)).scalar_one())


async def test_inserts_queued_together_run_as_one_statement_per_table(
    writer: tuple[Writer, list[str]],
) -> None:
    write, statements = writer
    await write(count)  # the connection is open: only the batch's statements follow
    statements.clear()
    futures = [write.submit(family(f"f{n}")) for n in range(20)]
    assert await asyncio.gather(*futures) == [f"f{n}" for n in range(20)]
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert inserts == ["INSERT INTO parents", "INSERT INTO children"]
    assert await write(count) == 20


async def test_merged_inserts_move_earlier_never_later(writer: tuple[Writer, list[str]]) -> None:
    write, _ = writer
    before = write.submit(count)
    first = write.submit(family("a"))
    between = write.submit(count)
    second = write.submit(family("b"))
    # A job queued after an insert sees its rows; one queued before the first does not.
    assert await asyncio.gather(before, first, between, second) == [0, "a", 2, "b"]


async def test_a_failing_insert_fails_alone(writer: tuple[Writer, list[str]]) -> None:
    write, _ = writer
    await write(family("taken"))
    futures = [write.submit(family(name)) for name in ("x", "taken", "y")]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert (outcomes[0], outcomes[2]) == ("x", "y")
    assert isinstance(outcomes[1], IntegrityError)
    assert await write(count) == 3


async def test_a_cancelled_writer_finishes_its_batch_and_its_thread_ends(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    metadata.create_all(engine)
    write = Writer(engine)
    others = set(threading.enumerate())  # the writers of servers other tests run
    task = asyncio.create_task(write.run())
    committed = [write.submit(family("last")), write.submit(family("but one"))]
    await asyncio.sleep(0)  # the thread has the batch: cancelling now must not lose it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(10):
        assert await asyncio.gather(*committed) == ["last", "but one"]
    assert set(threading.enumerate()) <= others
    with engine.connect() as connection:
        assert count(connection) == 2
    engine.dispose()


async def test_a_small_lone_job_commits_on_the_loop_unless_the_thread_has_work(
    writer: tuple[Writer, list[str]],
) -> None:
    write, _ = writer
    ran: list[tuple[str, str]] = []
    release = threading.Event()

    def job(name: str, wait: bool = False) -> Any:
        def run(connection: sa.Connection) -> str:
            if wait:
                release.wait(10)
            ran.append((name, threading.current_thread().name))
            return name

        return run

    assert await write(job("lone"), small=True) == "lone"
    assert await write(job("large")) == "large"  # it would hold up the loop
    # Two jobs together go to the thread; a lone one queued while it is busy follows them
    # there, in order, rather than overtaking them on the loop.
    together = [
        write.submit(job("first", wait=True), small=True),
        write.submit(job("second"), small=True),
    ]
    await asyncio.sleep(0.05)
    behind = write.submit(job("behind"), small=True)
    await asyncio.sleep(0.05)
    assert [name for name, _ in ran] == ["lone", "large"]
    release.set()
    assert await asyncio.gather(*together, behind) == ["first", "second", "behind"]
    assert await write(job("lone again"), small=True) == "lone again"
    loop_thread = threading.current_thread().name
    assert ran == [
        ("lone", loop_thread),
        ("large", "arkitekt-writer"),
        ("first", "arkitekt-writer"),
        ("second", "arkitekt-writer"),
        ("behind", "arkitekt-writer"),
        ("lone again", loop_thread),
    ]
