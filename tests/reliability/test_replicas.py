"""Several replicas on one PostgreSQL database: an agent on one serves callers on another,
and the promises hold when a replica, a notification or the database goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import arkitekt
from arkitekt.api.enums import AssignationEventKind as Kind
from tests import postgres
from tests.processes import Process

from .conftest import Platform, free_port
from .network import Proxy
from .test_promises import runs, until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def database(postgres_cluster: postgres.Cluster) -> str:
    return postgres_cluster.create_database()


@pytest.fixture
def replicas(database: str, tmp_path: Path) -> Iterator[Callable[[str], Platform]]:
    started: list[Platform] = []

    def start(name: str) -> Platform:
        replica = Platform(tmp_path / name, free_port(), database)
        replica.data_dir.mkdir()
        if started:  # the same admin token everywhere
            (replica.data_dir / "token").write_text(started[0].token)
        replica.start()
        started.append(replica)
        return replica

    yield start
    for replica in started:
        replica.stop()


def agent_process(url: str, token: str, instance: str) -> Process:
    here = Path(__file__).parent
    agent = Process(str(here / "agent_process.py"), url, token, "app", instance)
    agent.wait_for(r"^live ")
    return agent


async def test_an_agent_on_one_replica_serves_callers_on_another_and_fails_over(
    replicas: Callable[[str], Platform], tmp_path: Path
) -> None:
    a, b = replicas("a"), replicas("b")
    balancer = Proxy(a.port)  # the agent reaches the platform through a load balancer
    await balancer.start()
    agent = await asyncio.to_thread(
        agent_process, f"http://127.0.0.1:{balancer.port}", a.token, "roaming"
    )
    try:
        async with arkitekt.connect(b.url, b.token) as caller:
            assert await caller.call("quick", x=4) == 8  # assigned on B, run via A
            marker = tmp_path / "runs"
            running = await caller.assign("slow", marker=str(marker), seconds=2.0)
            events = running.events()
            await until(events, Kind.LOG)
            balancer.target_port = b.port  # A dies; the balancer sends everyone to B
            a.kill()
            balancer.cut()
            rest = [event.kind async for event in events]
            assert rest == [Kind.YIELD, Kind.DONE]
            assert runs(marker) == ["roaming"]
            assert await caller.call("quick", x=5) == 10
    finally:
        agent.stop()
        await balancer.close()


async def test_a_lost_notification_delays_work_by_a_rescan_at_most(
    replicas: Callable[[str], Platform], database: str
) -> None:
    a, b = replicas("a"), replicas("b")
    agent = agent_process(a.url, a.token, "listener")
    try:
        async with arkitekt.connect(b.url, b.token) as caller:
            assert await caller.call("quick", x=1) == 2
            conninfo = database.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(conninfo, autocommit=True) as connection:
                terminated = connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                ).fetchall()
            assert len(terminated) == 2  # both replicas' listeners are gone
            started = time.monotonic()
            assert await caller.call("quick", x=2, timeout=10) == 4
            assert time.monotonic() - started < 5
    finally:
        agent.stop()


async def test_the_same_reference_is_one_assignation_across_a_replica_kill(
    replicas: Callable[[str], Platform],
) -> None:
    a, b = replicas("a"), replicas("b")
    agent = agent_process(b.url, b.token, "steady")
    try:
        async with arkitekt.connect(a.url, a.token) as first:
            # Detached: it outlives this client; the reference finds it again.
            acknowledged = await first.assign("quick", x=3, reference="run-42", detached=True)
        a.kill()
        async with arkitekt.connect(b.url, b.token) as second:
            again = await second.assign("quick", x=3, reference="run-42")
            assert again.id == acknowledged.id
            assert await again.result() == 6
            matching = [x for x in await second.api.assignations() if x.reference == "run-42"]
            assert len(matching) == 1
    finally:
        agent.stop()


async def test_the_database_going_away_fails_writes_clearly_and_recovers(tmp_path: Path) -> None:
    with postgres.cluster() as cluster:
        platform = Platform(tmp_path / "data", free_port(), cluster.create_database())
        platform.data_dir.mkdir()
        platform.start()
        agent = agent_process(platform.url, platform.token, "patient")
        try:
            async with arkitekt.connect(platform.url, platform.token) as caller:
                assert await caller.call("quick", x=1) == 2
                spare = (await caller.api.create_token(name="not-used-yet")).secret
                cluster.stop()
                async with arkitekt.connect(platform.url, spare) as newcomer:
                    # Its token cannot be checked: a clear "try again", not a server error.
                    with pytest.raises(arkitekt.errors.ServiceUnavailableError, match="database"):
                        await newcomer.api.me()
                started = time.monotonic()
                with pytest.raises(arkitekt.errors.ServiceUnavailableError, match="database"):
                    await caller.assign("quick", x=2, reference="during-the-outage")
                assert time.monotonic() - started < 5  # a clear error, not a hang
                cluster.start()
                deadline = time.monotonic() + 20
                while True:  # the platform recovers by itself; the caller retries
                    try:
                        result = await caller.call("quick", x=3)
                        break
                    except arkitekt.errors.ServiceUnavailableError:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.2)
                assert result == 6
                after = await caller.assign("quick", x=2, reference="during-the-outage")
                assert await after.result() == 4
                events = [e.kind async for e in after.events()]
                assert events == [Kind.ASSIGNED, Kind.YIELD, Kind.DONE]  # a new, single one
        finally:
            agent.stop()
            platform.stop()
