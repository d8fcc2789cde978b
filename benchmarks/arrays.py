"""Array throughput through central storage, against raw loopback HTTP for the same bytes.

    poe bench-arrays           # prints a table, writes benchmarks/results/arrays.json

In one run, with the platform, the agent and a raw HTTP server in their own processes:

- raw: POST the array's bytes to a server that discards them, then GET as many bytes back;
- storage: shrink the same array (upload, chunked zarr) and expand and load it (download);
- call: a function that copies the array, through an agent (four transfers in all).

Throughput counts the array's bytes once per direction. The target: storage reaches at least
half of raw.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

import aiohttp
import numpy as np

import arkitekt
from arkitekt.structures import Array

from .embedded import free_port, process, running_platform, save

MEBIBYTES = int(os.environ.get("BENCH_ARRAY_MIB", 64))
REPEATS = int(os.environ.get("BENCH_ARRAY_REPEATS", 5))
PIECE = 1 << 20


async def raw_round_trip(port: int, data: bytes) -> float:
    view = memoryview(data)

    async def pieces():  # type: ignore[no-untyped-def]
        for offset in range(0, len(view), PIECE):
            yield view[offset : offset + PIECE]

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(f"http://127.0.0.1:{port}/sink", data=pieces()) as response:
            assert (await response.json())["size"] == len(data)
        async with session.get(f"http://127.0.0.1:{port}/source/{len(data)}") as response:
            received = await response.read()
        elapsed = time.perf_counter() - started
    assert len(received) == len(data)
    return elapsed


async def storage_round_trip(client: arkitekt.Client, image: np.ndarray) -> float:
    started = time.perf_counter()
    with client.storage.activate():
        reference = await Array(image).shrink()
        loaded = await (await Array.expand(reference)).load()
    elapsed = time.perf_counter() - started
    assert loaded.shape == image.shape
    return elapsed


async def call_round_trip(client: arkitekt.Client, image: np.ndarray) -> float:
    started = time.perf_counter()
    result = await client.call("copy", Array(image))
    loaded = await result.load()
    elapsed = time.perf_counter() - started
    assert loaded.shape == image.shape
    return elapsed


async def measure(url: str, token: str, raw_port: int) -> dict[str, float]:
    # MEBIBYTES MiB of incompressible float64, as an image of 1024-pixel rows.
    image = np.random.default_rng(0).random((MEBIBYTES * 128, 1024))
    data = image.tobytes()
    raw, storage, call = [], [], []
    async with arkitekt.connect(url, token) as client:
        await storage_round_trip(client, image[:64])  # warm up connections and zarr
        await call_round_trip(client, image[:64])
        for _ in range(REPEATS):
            raw.append(await raw_round_trip(raw_port, data))
            storage.append(await storage_round_trip(client, image))
            call.append(await call_round_trip(client, image))
    mib = image.nbytes / (1 << 20)
    return {
        "array_mib": mib,
        "raw_mib_per_s": 2 * mib / statistics.median(raw),
        "storage_mib_per_s": 2 * mib / statistics.median(storage),
        "call_mib_per_s": 4 * mib / statistics.median(call),
        "call_seconds": statistics.median(call),
    }


def report(figures: dict[str, float]) -> None:
    raw = figures["raw_mib_per_s"]
    rows = [
        ("raw loopback HTTP, up + down", figures["raw_mib_per_s"], ""),
        ("storage round trip (shrink + expand + load)", figures["storage_mib_per_s"], ">= 0.50x"),
        ("call through an agent (4 transfers)", figures["call_mib_per_s"], ""),
    ]
    print(f"\narray of {figures['array_mib']:.0f} MiB, median of {REPEATS} runs")
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'MiB/s':>9}  {'ratio':>6}  target")
    for name, figure, target in rows:
        print(f"{name:<{width}}  {figure:>9.0f}  {figure / raw:>5.2f}x  {target}")
    print(
        f"one copy call, {figures['array_mib']:.0f} MiB each way: {figures['call_seconds']:.2f} s"
    )


def main() -> None:
    raw_port, env = free_port(), {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        process(sys.executable, "benchmarks/raw_http.py", str(raw_port), ready="ready", env=env),
        running_platform("benchmarks/array_app.py") as platform,
    ):
        figures = asyncio.run(measure(platform.url, platform.token, raw_port))
    report(figures)
    save("arrays", figures)


if __name__ == "__main__":
    main()
