"""Celery with a Redis broker and result backend: Debian's redis-server and one worker.

The worker imports this module (`celery -A benchmarks.peers.celery_peer worker`), so the
app and its task live here; the broker's URL comes from `BENCH_REDIS_URL`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, group
from celery.signals import worker_ready

from benchmarks.embedded import free_port, process

from .workloads import IN_FLIGHT, WARM_UP, Counts, figures

LABEL = "Celery + Redis"
SETTINGS = {
    "broker": "Debian's redis-server on a free loopback port, persistence off "
    "(`--save '' --appendonly no`); broker and result backend",
    "worker": "one worker process: `--pool=solo --concurrency=1 --without-heartbeat "
    "--without-gossip --without-mingle`",
    "config": "worker_prefetch_multiplier=64 (the Optimizing guide's advice for many short "
    "tasks), task_acks_late=False (the default), results over Redis pub/sub",
    "call": "`noop.delay(i).get()`",
    "in flight": f"a window of {IN_FLIGHT} AsyncResults: each .get() sends the next task",
    "generator": "no generators: a group of n no-op tasks, results taken with "
    "GroupResult.iter_native() as they finish",
}

app = Celery("peers", broker=os.environ.get("BENCH_REDIS_URL"))
app.conf.update(
    result_backend=os.environ.get("BENCH_REDIS_URL"),
    worker_prefetch_multiplier=64,
    task_acks_late=False,
    broker_connection_retry_on_startup=True,
)


@app.task
def noop(x: int) -> int:
    return x


@worker_ready.connect
def _announce(**_: Any) -> None:
    print("celery worker ready", flush=True)


@contextmanager
def running() -> Iterator[list[str]]:
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is missing: apt-get install -y redis-server")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_REDIS_URL": url}
    with (
        process(
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            ready="Ready to accept connections",
            env=env,
        ),
        process(
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.peers.celery_peer",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            ready="celery worker ready",
            env=env,
        ),
    ):
        yield [url]


def measure(address: list[str], counts: Counts) -> dict[str, float]:
    app.conf.update(broker_url=address[0], result_backend=address[0])
    for i in range(WARM_UP):
        noop.delay(i).get()
    trips = []
    for i in range(counts.round_trips):
        started = time.perf_counter()
        noop.delay(i).get()
        trips.append(time.perf_counter() - started)
    return figures(trips, _calls_per_second(counts.calls), _results_per_second(counts.results))


def _calls_per_second(total: int) -> float:
    started = time.perf_counter()
    window = deque(noop.delay(i) for i in range(min(IN_FLIGHT, total)))
    for i in range(IN_FLIGHT, total + IN_FLIGHT):
        window.popleft().get()
        if i < total:
            window.append(noop.delay(i))
    return total / (time.perf_counter() - started)


def _results_per_second(count: int) -> float:
    started = time.perf_counter()
    result = group(noop.s(i) for i in range(count)).apply_async()
    received = sum(1 for _ in result.iter_native())
    assert received == count
    return count / (time.perf_counter() - started)
