"""The history retention: calls that ended long enough ago go, with their events."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

import arkitekt
from arkitekt.testing import running_server, serving


def double(x: int) -> int:
    return 2 * x


async def test_calls_past_the_history_retention_go_with_their_events(tmp_path: Path) -> None:
    half_a_second = 0.5 / 86_400
    with running_server(tmp_path, history_retention=half_a_second) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            async with serving(client, double):
                old = [await client.assign("double", x=x) for x in (1, 2)]
                assert [await a.result() for a in old] == [2, 4]
            waiting = await client.assign("double", x=3, detached=True)  # no agent: QUEUED
            await asyncio.sleep(0.6)
            async with serving(client, double):
                fresh = await client.assign("double", x=4)
                assert await fresh.result() == 8

            assert await asyncio.to_thread(platform.expire_history) == 2
            listed = {a.id for a in await client.api.assignations(limit=10)}
            assert listed == {waiting.id, fresh.id}, "unfinished and recent calls stay"
            for gone in old:
                with pytest.raises(arkitekt.TargetError, match="No call of yours"):
                    await client.assignation(gone.id)
            events = [e.kind.value async for e in (await client.assignation(fresh.id)).events()]
            assert events[-1] == "DONE"
            assert await asyncio.to_thread(platform.expire_history) == 0
            with sqlite3.connect(tmp_path / "arkitekt.db") as database:
                left = database.execute(
                    "SELECT COUNT(*) FROM assignation_events WHERE assignation_id IN (?, ?)",
                    [a.id for a in old],
                ).fetchone()
            assert left == (0,), "their events went with them"
            await waiting.cancel()
