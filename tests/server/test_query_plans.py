"""The statements of a call's life read what they need, not history.

Calls, streams, cancels, the sweeper and the retentions run on an embedded server
while every statement is collected; then SQLite explains each. Tables that grow with use
(assignations and their events, agents, blobs, logs, tokens) must be searched by an index
that narrows to the rows at hand, never scanned, and never searched by an agent alone (an
agent's index holds every call it ever served). SQLite plans without statistics, so this
is what a fresh platform does.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import arkitekt
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import RunningPlatform, running_server, serving

GROWING = {
    "assignations",
    "assignation_events",
    "agents",
    "deployment_logs",
    "tokens",
    "blobs",
    "blob_objects",
    "implementations",
}
# A search of assignations by its agent alone: every call the agent ever served.
BY_AGENT_ALONE = re.compile(
    r"USING (COVERING )?INDEX ix_assignations_agent_id_status \(agent_id=\?\)"
)


async def noop(value: int) -> int:
    return value


async def count_up(to: int) -> AsyncIterator[int]:
    for n in range(to):
        yield n


async def sleepy(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[RunningPlatform, list[tuple[str, Any]]]]:
    statements: list[tuple[str, Any]] = []
    with running_server(tmp_path, blob_retention=0.0, history_retention=0.0) as server:
        engine = server._platform.db.engine  # the embedded server runs in this process

        def collect(_c: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
            statements.append((sql, parameters))

        sa.event.listen(engine, "before_cursor_execute", collect)
        yield server, statements
        sa.event.remove(engine, "before_cursor_execute", collect)


async def test_a_calls_statements_never_read_history(
    platform: tuple[RunningPlatform, list[tuple[str, Any]]],
) -> None:
    server, statements = platform
    async with (
        arkitekt.connect(server.url, server.token) as client,
        serving(client, noop, count_up, sleepy) as agent,
    ):
        for i in range(20):  # history for the agent
            assert await client.call("noop", i) == i
        results = await asyncio.gather(*(client.call("noop", i) for i in range(64)))
        assert results == list(range(64))  # reports that carry several calls at once
        assert [n async for n in client.stream("count_up", to=5)] == list(range(5))
        running = await client.assign("sleepy", seconds=30)
        await asyncio.sleep(0.2)
        await running.cancel()
        storage = storage_of(client)
        await storage.put(await storage.create(), "data", b"expires at once")
        with pytest.raises(arkitekt.AssignationCancelledError):
            await running.result()
        assert not any(node.superseded for node in await client.api.nodes())
        await agent.update(arkitekt.Registry.of(count_up, sleepy))  # noop's calls, if queued, end
    await asyncio.to_thread(server.sweep)
    assert await asyncio.to_thread(server.expire_blobs) == 1
    assert await asyncio.to_thread(server.expire_history) == 20 + 64 + 2

    database = sqlite3.connect(server.data_dir / "arkitekt.db")
    bad: dict[str, list[str]] = {}
    for sql, parameters in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        plan = [row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {sql}", _first(parameters))]
        wrong = [step for step in plan if _reads_history(step)]
        if wrong:
            bad[" ".join(sql.split())] = wrong
    assert bad == {}, "\n".join(f"{sql}\n  {steps}" for sql, steps in bad.items())
    assert len(statements) > 200  # the flows above ran through this database


def _first(parameters: Any) -> Any:
    """executemany's parameters: the first row is enough to plan."""
    if isinstance(parameters, list):
        return parameters[0] if parameters else ()
    return parameters


def _reads_history(step: str) -> bool:
    scanned = re.match(r"SCAN (\w+)", step)
    if scanned is not None and scanned[1] in GROWING:
        return True
    return BY_AGENT_ALONE.search(step) is not None
