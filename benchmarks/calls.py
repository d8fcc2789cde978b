"""Call speed on the embedded platform: server, agent and caller in separate processes.

    poe bench-calls            # prints a table, writes benchmarks/results/calls.json

Measures, in one run: the no-op call round trip (median, p99), no-op calls per second with
64 in flight, yields per second from one generator to one caller, and a raw loopback
websocket echo round trip as the floor, with each figure's ratio to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

import arkitekt

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ROUND_TRIPS = int(os.environ.get("BENCH_ROUND_TRIPS", 2000))
IN_FLIGHT = 64
THROUGHPUT_CALLS = int(os.environ.get("BENCH_THROUGHPUT_CALLS", 6000))
YIELDS = int(os.environ.get("BENCH_YIELDS", 50_000))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(*args: str, ready: str, env: dict[str, str]) -> Iterator[str]:
    """Runs a child process until the block exits; yields the line that said it is ready."""
    child = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert child.stdout is not None
    try:
        for line in child.stdout:
            if ready in line:
                break
        else:
            raise RuntimeError(f"{args} exited before it was ready")
        yield line
    finally:
        child.terminate()
        child.wait(timeout=10)
        child.stdout.close()


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
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "ARKITEKT_CONFIG": f"{folder}/config.json",
            "ARKITEKT_DATA_DIR": f"{folder}/data",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("ARKITEKT_URL", None)
        env.pop("ARKITEKT_TOKEN", None)
        python = sys.executable
        echo_port = free_port()
        with (
            process(python, "benchmarks/echo.py", str(echo_port), ready="ready", env=env),
            process(
                python, "-m", "arkitekt", "server", "--port", "0", ready="platform at", env=env
            ) as line,
        ):
            url = line.split("platform at", 1)[1].split()[0]
            token = json.loads(Path(f"{folder}/config.json").read_text())["token"]
            with process(
                python, "-m", "arkitekt", "run", "benchmarks/apps.py", ready="serving", env=env
            ):
                load_before = os.getloadavg()[0]
                figures = asyncio.run(measure(url, token, echo_port))
    report(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        # Other work on the machine moves these figures: say how busy it was.
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    print(f"\nload average {load_before:.2f} before, {machine['load_average_after']:.2f} after")
    (RESULTS / "calls.json").write_text(
        json.dumps({"figures": figures, "machine": machine}, indent=2)
    )


if __name__ == "__main__":
    main()
