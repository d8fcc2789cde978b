"""Dask distributed: a LocalCluster with one worker process, and an asynchronous client.

    python -m benchmarks.peers.dask_peer     # runs the cluster until terminated

The cluster runs in a process of its own (the scheduler, and the nanny that starts the
worker process), so that the caller is a process of its own as on the other systems.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.embedded import process

from .workloads import IN_FLIGHT, WARM_UP, Counts, figures

LABEL = "Dask distributed"
SETTINGS = {
    "cluster": "LocalCluster(n_workers=1, processes=True, threads_per_worker=1, "
    "dashboard_address=None)",
    "config": "distributed.scheduler.worker-saturation=inf: every runnable task goes to the "
    "worker at once (the default, 1.1, holds all but 2 back on the scheduler; the config "
    "reference says compute-bound work may benefit from oversaturation); the rest defaults",
    "call": "`await client.submit(noop, i, pure=False)` on an asynchronous Client",
    "in flight": f"{IN_FLIGHT} coroutines each awaiting one submit at a time",
    "generator": "no generators: one task puts n results into a distributed.Queue, which "
    "the caller drains as they come (a blocking get, then get(batch=True))",
}


def noop(x: int) -> int:
    return x


def produce(count: int, queue: str) -> int:
    """Dask's nearest thing to a generator: results pushed one by one as they are made."""
    from distributed import Queue

    results = Queue(queue)
    for n in range(count):
        results.put(n)
    return count


@contextmanager
def running() -> Iterator[list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with process(
        sys.executable, "-m", "benchmarks.peers.dask_peer", ready="scheduler at", env=env
    ) as line:
        yield [line.split("scheduler at", 1)[1].strip()]


def measure(address: list[str], counts: Counts) -> dict[str, float]:
    return asyncio.run(_measure(address[0], counts))


async def _measure(scheduler: str, counts: Counts) -> dict[str, float]:
    from distributed import Client

    async with Client(scheduler, asynchronous=True) as client:
        for i in range(WARM_UP):
            await client.submit(noop, i, pure=False)
        trips = []
        for i in range(counts.round_trips):
            started = time.perf_counter()
            await client.submit(noop, i, pure=False)
            trips.append(time.perf_counter() - started)
        rate = await _calls_per_second(client, counts.calls)
        results = await _results_per_second(client, counts.results)
    return figures(trips, rate, results)


async def _calls_per_second(client: Any, total: int) -> float:
    queue = iter(range(total))

    async def worker() -> None:
        for i in queue:
            assert await client.submit(noop, i, pure=False) == i

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return total / (time.perf_counter() - started)


async def _results_per_second(client: Any, count: int) -> float:
    from distributed import Queue

    started = time.perf_counter()
    results = await Queue(f"results-{uuid.uuid4().hex}", client=client)
    producer = client.submit(produce, count, results.name, pure=False)
    received = 0
    while received < count:
        await results.get()
        received += 1 + len(await results.get(batch=True))
    assert await producer == count
    return count / (time.perf_counter() - started)


def serve() -> None:
    """Runs the cluster until SIGTERM, then closes it (and its worker process)."""
    import dask
    from distributed import LocalCluster

    dask.config.set({"distributed.scheduler.worker-saturation": float("inf")})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCluster(
        n_workers=1,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        print("scheduler at", cluster.scheduler_address, flush=True)
        stop.wait()


if __name__ == "__main__":
    serve()
