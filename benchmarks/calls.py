"""Call speed on the embedded platform: server, agent and caller in separate processes.

    poe bench-calls            # prints a table, writes benchmarks/results/calls.json

Measures, in one run: the no-op call round trip (median, p99), no-op calls per second with
64 in flight, yields per second from one generator to one caller, and a raw loopback
websocket echo round trip as the floor, with each figure's ratio to it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

import aiohttp

import arkitekt

from .embedded import free_port, process, running_platform, save

ROUND_TRIPS = int(os.environ.get("BENCH_ROUND_TRIPS", 2000))
IN_FLIGHT = 64
THROUGHPUT_CALLS = int(os.environ.get("BENCH_THROUGHPUT_CALLS", 6000))
YIELDS = int(os.environ.get("BENCH_YIELDS", 50_000))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def echo_round_trips(port: int, count: int) -> list[float]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/") as ws,
    ):
        samples = []
        for i in range(count + 100):
            started = time.perf_counter()
            await ws.send_str(f'{{"id": {i}, "payload": "ping"}}')
            await ws.receive()
            if i >= 100:
                samples.append(time.perf_counter() - started)
        return samples


async def call_round_trips(client: arkitekt.Client, count: int, name: str = "noop") -> list[float]:
    node = await client.node(name)
    for i in range(200):  # warm up caches and connections
        await client.call(node, i)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await client.call(node, i)
        samples.append(time.perf_counter() - started)
    return samples


async def calls_per_second(client: arkitekt.Client, total: int) -> float:
    node = await client.node("noop")
    queue = iter(range(total))

    async def worker() -> None:
        for i in queue:
            assert await client.call(node, i) == i

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return total / (time.perf_counter() - started)


async def yields_per_second(client: arkitekt.Client, count: int) -> float:
    node = await client.node("produce")
    started = time.perf_counter()
    received = 0
    async for _ in client.stream(node, count=count):
        received += 1
    assert received == count
    return count / (time.perf_counter() - started)


async def measure(url: str, token: str, echo_port: int) -> dict[str, float]:
    echo = await echo_round_trips(echo_port, ROUND_TRIPS)
    async with arkitekt.connect(url, token) as client:
        trips = await call_round_trips(client, ROUND_TRIPS)
        idempotent = await call_round_trips(client, ROUND_TRIPS, "noop_idempotent")
        rate = await calls_per_second(client, THROUGHPUT_CALLS)
        yields = await yields_per_second(client, YIELDS)
    return {
        "echo_median_ms": statistics.median(echo) * 1000,
        "echo_p99_ms": percentile(echo, 0.99) * 1000,
        "call_median_ms": statistics.median(trips) * 1000,
        "call_p99_ms": percentile(trips, 0.99) * 1000,
        "idempotent_call_median_ms": statistics.median(idempotent) * 1000,
        "calls_per_second": rate,
        "yields_per_second": yields,
    }


def report(figures: dict[str, float]) -> None:
    floor = figures["echo_median_ms"]
    rows = [
        ("ws echo round trip, median", f"{figures['echo_median_ms']:.3f} ms", "1.0x", ""),
        ("ws echo round trip, p99", f"{figures['echo_p99_ms']:.3f} ms", "", ""),
        (
            "no-op call, median",
            f"{figures['call_median_ms']:.3f} ms",
            f"{figures['call_median_ms'] / floor:.1f}x echo",
            "<= 1.5 ms",
        ),
        (
            "no-op call, p99",
            f"{figures['call_p99_ms']:.3f} ms",
            f"{figures['call_p99_ms'] / floor:.1f}x echo",
            "<= 10 ms",
        ),
        (
            "idempotent no-op call, median",
            f"{figures['idempotent_call_median_ms']:.3f} ms",
            f"{figures['idempotent_call_median_ms'] / floor:.1f}x echo",
            "",
        ),
        (
            f"no-op calls/s, {IN_FLIGHT} in flight",
            f"{figures['calls_per_second']:,.0f}",
            f"{figures['calls_per_second'] * floor / 1000:.2f}x echo rate",
            ">= 2,000",
        ),
        (
            "yields/s, one generator",
            f"{figures['yields_per_second']:,.0f}",
            f"{figures['yields_per_second'] * floor / 1000:.1f}x echo rate",
            ">= 20,000",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'figure':>12}  {'ratio':>20}  target")
    for name, figure, ratio, target in rows:
        print(f"{name:<{width}}  {figure:>12}  {ratio:>20}  {target}")


def main() -> None:
    echo_port = free_port()
    echo_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        process(sys.executable, "benchmarks/echo.py", str(echo_port), ready="ready", env=echo_env),
        running_platform("benchmarks/apps.py") as running,
    ):
        load_before = os.getloadavg()[0]
        figures = asyncio.run(measure(running.url, running.token, echo_port))
    report(figures)
    # Other work on the machine moves these figures: say how busy it was.
    load_after = os.getloadavg()[0]
    print(f"\nload average {load_before:.2f} before, {load_after:.2f} after")
    save("calls", figures, load_average_before=load_before, load_average_after=load_after)


if __name__ == "__main__":
    main()
