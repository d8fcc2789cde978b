"""arkitekt: the embedded platform, one agent process, and a caller on the fast path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import arkitekt
from benchmarks.calls import call_round_trips, calls_per_second, yields_per_second
from benchmarks.embedded import running_platform

from .workloads import Counts, figures

LABEL = "arkitekt"
SETTINGS = {
    "platform": "`arkitekt server --port 0`: embedded, SQLite in a temporary data folder",
    "worker": "one agent process, `arkitekt run benchmarks/apps.py` (async functions)",
    "call": "`client.call(node, i)`: one graphql-transport-ws subscription per call",
    "generator": "`client.stream(node, count=n)`: one assignation yielding n results",
}


@contextmanager
def running() -> Iterator[list[str]]:
    with running_platform("benchmarks/apps.py") as platform:
        yield [platform.url, platform.token]


def measure(address: list[str], counts: Counts) -> dict[str, float]:
    url, token = address
    return asyncio.run(_measure(url, token, counts))


async def _measure(url: str, token: str, counts: Counts) -> dict[str, float]:
    async with arkitekt.connect(url, token) as client:
        # The same functions as `poe bench-calls`: 200 untimed calls come first.
        trips = await call_round_trips(client, counts.round_trips)
        rate = await calls_per_second(client, counts.calls)
        results = await yields_per_second(client, counts.results)
    return figures(trips, rate, results)
