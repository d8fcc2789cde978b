"""The floor: a raw loopback websocket echo, no platform in between."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from benchmarks.calls import echo_round_trips
from benchmarks.embedded import free_port, process

from .workloads import IN_FLIGHT, Counts, figures

LABEL = "ws echo (floor)"
SETTINGS = {
    "server": "aiohttp websocket echo server, one process (benchmarks/echo.py)",
    "call": "send a small JSON message on one socket, await its echo",
    "in flight": f"{IN_FLIGHT} messages outstanding on the one socket",
    "generator": "the server sends n small JSON messages (`/produce/n`)",
}


@contextmanager
def running() -> Iterator[list[str]]:
    port, env = free_port(), {**os.environ, "PYTHONUNBUFFERED": "1"}
    with process(sys.executable, "benchmarks/echo.py", str(port), ready="ready", env=env):
        yield [str(port)]


def measure(address: list[str], counts: Counts) -> dict[str, float]:
    return asyncio.run(_measure(int(address[0]), counts))


async def _measure(port: int, counts: Counts) -> dict[str, float]:
    trips = await echo_round_trips(port, counts.round_trips)
    return figures(
        trips, await _echoes_per_second(port, counts.calls), await _produced(port, counts.results)
    )


async def _echoes_per_second(port: int, total: int) -> float:
    """Keeps `IN_FLIGHT` messages outstanding: a new one leaves as each echo returns."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/") as ws,
    ):
        started = time.perf_counter()
        for i in range(min(IN_FLIGHT, total)):
            await ws.send_str(f'{{"id": {i}, "payload": "ping"}}')
        for i in range(IN_FLIGHT, total + IN_FLIGHT):
            await ws.receive()
            if i < total:
                await ws.send_str(f'{{"id": {i}, "payload": "ping"}}')
        return total / (time.perf_counter() - started)


async def _produced(port: int, count: int) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/produce/{count}") as ws,
    ):
        started = time.perf_counter()
        received = 0
        async for _ in ws:
            received += 1
        elapsed = time.perf_counter() - started
    assert received == count, (received, count)
    return count / elapsed
