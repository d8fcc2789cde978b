"""The promises, each proven by breaking something real: processes killed, stopped,
cut off from the network; the platform killed and started again."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import arkitekt
from arkitekt.api.enums import AgentStatus, AssignationStatus
from arkitekt.api.enums import AssignationEventKind as Kind
from tests.processes import Process

from .conftest import Platform
from .network import Proxy
from .server_process import TIMINGS

HEARTBEAT, GRACE = TIMINGS["heartbeat"], TIMINGS["grace"]
LEASE_PLUS_GRACE = 2 * HEARTBEAT + GRACE + 1.0  # 1 s for sweeps and the machine

pytestmark = pytest.mark.timeout(90)


async def until(events: AsyncIterator[arkitekt.Event], kind: Kind) -> list[arkitekt.Event]:
    """Reads events up to and including the first one of `kind`."""
    seen = []
    async for event in events:
        seen.append(event)
        if event.kind is kind:
            return seen
    raise AssertionError(f"no {kind} in {[e.kind for e in seen]}")


async def connected_agents(client: arkitekt.Client, count: int) -> list[Any]:
    """Waits until `count` agents are connected; returns them. (A change between the query
    and the subscription would be missed, so each wait is bounded and the query repeated.)"""
    while True:
        connected = await client.api.agents(status=AgentStatus.CONNECTED)
        if len(connected) >= count:
            return connected
        changes = client.api.watch_agents()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(anext(changes), 1.0)
        await changes.aclose()


def runs(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


async def test_a_call_storing_its_results_outlives_a_restart_of_the_platform(
    platform: Platform, agents: Callable[..., Process]
) -> None:
    agents("app", "camera")
    async with arkitekt.connect(platform.url, platform.token) as client:
        camera = await client.assign("frames", count=12, interval=0.25, detached=True)
        await until(camera.events(), Kind.YIELD)
    platform.kill()
    await asyncio.sleep(1)  # frames come due, and fail to store, while it is down
    platform.start()
    async with arkitekt.connect(platform.url, platform.token) as client:
        stored = await arkitekt.Assignation(client, camera.node, camera.id).result()
        assert [await frame.read() for frame in stored] == [b"frame %d" % i for i in range(12)]


async def test_calls_made_while_the_platform_restarts_wait_for_it(
    platform: Platform, caller: arkitekt.Client, agents: Callable[..., Process]
) -> None:
    agents("app", "worker")
    assert await caller.call("quick", x=1) == 2
    platform.kill()
    await asyncio.sleep(0.5)  # the client sees its connection go
    calls = asyncio.ensure_future(collect(caller.map("quick", range(10), in_flight=3)))
    await asyncio.sleep(1)
    assert not calls.done()
    await asyncio.to_thread(platform.start)
    assert await calls == [2 * x for x in range(10)]


async def collect(values: AsyncIterator[Any]) -> list[Any]:
    return [value async for value in values]


async def test_agent_killed_mid_call_ends_disconnected_once(
    caller: arkitekt.Client, agents: Callable[..., Process], tmp_path: Path
) -> None:
    agent = agents("app", "one")
    marker = tmp_path / "runs"
    assignation = await caller.assign("slow", marker=str(marker), seconds=60.0)
    events = assignation.events()
    await until(events, Kind.LOG)
    agent.kill()
    killed = time.monotonic()
    rest = [event async for event in events]
    assert [event.kind for event in rest] == [Kind.DISCONNECTED]
    assert time.monotonic() - killed < LEASE_PLUS_GRACE
    assert runs(marker) == ["one"]


async def test_idempotent_work_lost_with_an_agent_runs_on_another(
    caller: arkitekt.Client, agents: Callable[..., Process], tmp_path: Path
) -> None:
    pool = {name: agents("pool", name) for name in ("a", "b")}
    marker = tmp_path / "runs"
    assignation = await caller.assign("rerunnable", marker=str(marker), seconds=60.0)
    events = assignation.events()
    first = (await until(events, Kind.LOG))[-1].message
    assert first is not None
    victim = first.removeprefix("started on ")
    pool[victim].kill()
    rest = [event async for event in events]
    survivor = "b" if victim == "a" else "a"
    assert [event.kind for event in rest] == [
        Kind.QUEUED,
        Kind.ASSIGNED,
        Kind.LOG,
        Kind.YIELD,
        Kind.DONE,
    ]
    assert rest[-2].yields == (survivor,)
    assert runs(marker) == [victim, survivor]


async def test_work_an_agent_never_accepted_runs_when_it_comes_back(
    platform: Platform, caller: arkitekt.Client, agents: Callable[..., Process]
) -> None:
    agent = agents("app", "same")
    agent.signal(signal.SIGSTOP)  # connected, but it will not accept anything
    assignation = await caller.assign("quick", x=21)
    events = assignation.events()
    assert (await anext(events)).kind is Kind.ASSIGNED
    agent.kill()
    agents("app", "same")  # the instance comes back (a new process)
    rest = [event.kind async for event in events]
    assert rest == [Kind.QUEUED, Kind.ASSIGNED, Kind.YIELD, Kind.DONE]
    assert await assignation.result() == 42


async def test_a_network_blip_within_the_grace_window_loses_nothing(
    platform: Platform, caller: arkitekt.Client, agents: Callable[..., Process], tmp_path: Path
) -> None:
    proxy = Proxy(platform.port)
    await proxy.start()
    try:
        # The proxy runs on this loop: wait for the agent without blocking it.
        await asyncio.to_thread(agents, "app", "flaky", url=f"http://127.0.0.1:{proxy.port}")
        marker = tmp_path / "runs"
        assignation = await caller.assign("slow", marker=str(marker), seconds=2.0)
        events = assignation.events()
        await until(events, Kind.LOG)
        proxy.cut()
        rest = [event.kind async for event in events]
        assert rest == [Kind.YIELD, Kind.DONE]
        assert await assignation.result() == "flaky"
        assert runs(marker) == ["flaky"]
    finally:
        await proxy.close()


async def test_a_stopped_agent_that_lost_its_lease_cannot_write(
    caller: arkitekt.Client, agents: Callable[..., Process], tmp_path: Path
) -> None:
    stopped = agents("app", "shared")
    marker = tmp_path / "runs"
    assignation = await caller.assign("slow", marker=str(marker), seconds=2.0)
    events = assignation.events()
    await until(events, Kind.LOG)
    stopped.signal(signal.SIGSTOP)
    agents("app", "shared")  # a newer process takes the instance over
    assert [event.kind async for event in events] == [Kind.DISCONNECTED]
    stopped.signal(signal.SIGCONT)
    stopped.wait_for("served by a newer process; registering anew")
    # Its late result was not recorded: the first terminal event stands.
    stored = await caller.api.get_assignation(id=assignation.id)
    assert stored is not None
    assert stored.status is AssignationStatus.DISCONNECTED
    # ...and it serves again, under an instance of its own.
    connected = await asyncio.wait_for(connected_agents(caller, 2), 10)
    assert {agent.instance for agent in connected} - {"shared"} != set()
    assert {await caller.call("quick", x=i) for i in range(4)} == {0, 2, 4, 6}


async def test_the_platform_restarts_without_losing_acknowledged_work(
    platform: Platform, agents: Callable[..., Process], tmp_path: Path
) -> None:
    agents("app", "survivor")
    later = agents("app", "later")
    marker = tmp_path / "runs"
    async with arkitekt.connect(platform.url, platform.token) as client:
        later_id = next(a.id for a in await client.api.agents() if a.instance == "later")
        later.stop()  # it will come back after the crash
        finished = await client.assign("quick", x=1)
        assert await finished.result() == 2
        # Detached: they outlive this client, to be read after the restart.
        running = await client.assign("slow", marker=str(marker), seconds=3.0, detached=True)
        await until(running.events(), Kind.LOG)
        only_later = await client.reserve("quick", agents=[later_id])
        pending = await only_later.assign(x=5, detached=True)
        assert (await anext(pending.events())).kind is Kind.QUEUED
    platform.kill()
    platform.start()
    async with arkitekt.connect(platform.url, platform.token) as client:
        # The running call finishes on the agent that ran it, which reconnected.
        resumed = arkitekt.Assignation(client, running.node, running.id)
        assert await resumed.result() == "survivor"
        assert runs(marker) == ["survivor"]
        # The pending call runs once its instance is back.
        agents("app", "later")
        waiting = arkitekt.Assignation(client, pending.node, pending.id)
        assert await waiting.result() == 10
        # History is intact.
        history = await client.api.get_assignation(id=finished.id)
        assert history is not None
        assert [e.kind for e in history.events] == [Kind.ASSIGNED, Kind.YIELD, Kind.DONE]
