"""Random assigns, deliveries, duplicates, acknowledgements, kills, reconnects and sweeps
against a real platform, driven through its API by hand-made agents; after every step:
no acknowledged assignation is lost, no non-idempotent one ran twice, no assignation has
more than one terminal event, and sequence numbers have no gaps."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import arkitekt
from arkitekt.api.enums import AssignationEventKind as Kind
from arkitekt.api.enums import AssignationMessageKind
from arkitekt.api.input_types import AgentInput, EventInput, ImplementationInput
from arkitekt.testing import RunningPlatform, running_server

T = TypeVar("T")
TERMINAL = {Kind.DONE, Kind.ERROR, Kind.CRITICAL, Kind.CANCELLED, Kind.DISCONNECTED}


def plain(x: int) -> int:
    return x


def repeatable(x: int) -> int:
    return x


NODES = {
    "plain": arkitekt.node_of(plain),
    "repeatable": arkitekt.Node(**{**vars(arkitekt.node_of(repeatable)), "idempotent": True}),
}


class Portal:
    """An event loop on a thread, for driving async clients from the machine's sync rules."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class HandMadeAgent:
    """An agent process reduced to its protocol: register, hold a lease, receive,
    acknowledge, report; it can lose its connection or die."""

    def __init__(self, name: str, server: RunningPlatform) -> None:
        self.name, self.server = f"{name}-{uuid.uuid4().hex[:8]}", server
        self.session = 0
        self.client: arkitekt.Client | None = None
        self.id = ""
        self.epoch = 0
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None
        self.handled: set[str] = set()  # what this process already has (its dedup)
        self.delivered: list[str] = []
        self.running: dict[str, int] = {}  # assignation -> events reported so far
        self.last_report: list[EventInput] = []

    @property
    def connected(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def start_process(self) -> None:
        self.session += 1
        self.client = arkitekt.connect(self.server.url, self.server.token)
        await self.client.__aenter__()
        self.handled, self.delivered, self.running = set(), [], {}
        agent = await self.client.api.register_agent(
            input=AgentInput(
                name="machine",
                instance=self.name,
                session=f"{time.time_ns():020d}",
                implementations=[
                    ImplementationInput(interface=key, node=node.to_input())
                    for key, node in NODES.items()
                ],
            )
        )
        self.id = agent.id

    async def connect(self) -> None:
        assert self.client is not None
        self.inbox = asyncio.Queue()
        work = self.client.api.watch_assignations(agent=self.id)
        first = await anext(work)
        assert first[0].kind is AssignationMessageKind.LEASE
        assert first[0].epoch is not None
        self.epoch = first[0].epoch
        for message in first[1:]:
            self.inbox.put_nowait(message)

        async def read() -> None:
            try:
                async for batch in work:
                    for message in batch:
                        self.inbox.put_nowait(message)
            except arkitekt.ArkitektError:
                pass

        self.reader = asyncio.create_task(read())

    async def drop_connection(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
            self.reader = None

    async def die(self) -> None:
        await self.drop_connection()
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
            self.client = None

    def take_messages(self) -> None:
        while not self.inbox.empty():
            message = self.inbox.get_nowait()
            if (
                message.kind is AssignationMessageKind.ASSIGN
                and message.assignation not in self.handled
            ):
                self.handled.add(message.assignation)
                self.delivered.append(message.assignation)

    async def report(self, events: list[EventInput], acknowledge: list[str] | None = None) -> Any:
        assert self.client is not None
        return await self.client.api.report_events(
            agent=self.id, epoch=self.epoch, events=events, acknowledge=acknowledge
        )


class Promises(RuleBasedStateMachine):
    server: RunningPlatform
    portal: Portal

    def __init__(self) -> None:
        super().__init__()
        self.caller = arkitekt.connect(self.server.url, self.server.token)
        self.portal.run(self.caller.__aenter__())
        self.agents = {name: HandMadeAgent(name, self.server) for name in ("a", "b")}
        self.acknowledged: dict[str, bool] = {}  # assignation -> idempotent
        self.starts: Counter[str] = Counter()
        self.node_ids: dict[str, str] = {}

    @initialize()
    def start_agents(self) -> None:
        for agent in self.agents.values():
            self.portal.run(agent.start_process())
            self.portal.run(agent.connect())
        for key, node in NODES.items():
            found = self.portal.run(self.caller.api.get_node(hash=node.hash))
            assert found is not None
            self.node_ids[key] = found.id

    def teardown(self) -> None:
        for agent in self.agents.values():
            self.portal.run(agent.die())
        self.portal.run(self.caller.__aexit__(None, None, None))

    @rule(idempotent=st.booleans(), x=st.integers(0, 1000))
    def assign(self, idempotent: bool, x: int) -> None:
        node = self.node_ids["repeatable" if idempotent else "plain"]
        assignation = self.portal.run(self.caller.api.assign(node=node, args={"x": x}))
        self.acknowledged[assignation.id] = idempotent

    def deliver(self) -> None:
        """Agents take what reached them: delivery happens between any two steps."""
        self.portal.run(asyncio.sleep(0.01))  # let what is on its way arrive
        for agent in self.agents.values():
            agent.take_messages()

    @rule(name=st.sampled_from(["a", "b"]), pick=st.integers(0, 99))
    def start(self, name: str, pick: int) -> None:
        self.deliver()
        agent = self.agents[name]
        if not agent.delivered or agent.client is None:
            return
        assignation = agent.delivered[pick % len(agent.delivered)]
        agent.delivered.remove(assignation)
        try:
            report = self.portal.run(agent.report([], acknowledge=[assignation]))
        except arkitekt.ConflictError:  # its lease is gone: it may not run anything
            return
        if assignation in report.acknowledged:
            self.starts[assignation] += 1
            agent.running[assignation] = 0

    @rule(name=st.sampled_from(["a", "b"]), pick=st.integers(0, 99))
    def finish(self, name: str, pick: int) -> None:
        self.deliver()
        agent = self.agents[name]
        if not agent.running or agent.client is None:
            return
        running = sorted(agent.running)
        assignation = running[pick % len(running)]
        done = agent.running.pop(assignation)
        agent.last_report = [
            EventInput(assignation=assignation, index=done + 1, kind=Kind.YIELD, yields=[[1]]),
            EventInput(assignation=assignation, index=done + 2, kind=Kind.DONE),
        ]
        with contextlib.suppress(arkitekt.ConflictError):  # its lease is gone
            self.portal.run(agent.report(agent.last_report))

    @rule(name=st.sampled_from(["a", "b"]))
    def duplicate(self, name: str) -> None:
        agent = self.agents[name]
        if agent.last_report and agent.client is not None:
            with contextlib.suppress(arkitekt.ConflictError):
                self.portal.run(agent.report(agent.last_report))

    @precondition(lambda self: any(a.connected for a in self.agents.values()))
    @rule(name=st.sampled_from(["a", "b"]))
    def blip(self, name: str) -> None:
        self.portal.run(self.agents[name].drop_connection())

    @rule(name=st.sampled_from(["a", "b"]))
    def kill(self, name: str) -> None:
        self.portal.run(self.agents[name].die())

    @rule(name=st.sampled_from(["a", "b"]))
    def reconnect(self, name: str) -> None:
        agent = self.agents[name]
        if agent.connected:
            return
        if agent.client is None:  # it died: a new process
            self.portal.run(agent.start_process())
        self.portal.run(agent.connect())

    @rule()
    def sweep(self) -> None:
        self.server.sweep()

    @invariant()
    def promises_hold(self) -> None:
        for assignation, idempotent in self.acknowledged.items():
            stored = self.portal.run(self.caller.api.get_assignation(id=assignation))
            assert stored is not None, f"acknowledged {assignation} was lost"
            sequences = [event.sequence for event in stored.events]
            assert sequences == list(range(1, len(sequences) + 1)), sequences
            kinds = [event.kind for event in stored.events]
            terminal = [kind for kind in kinds if kind in TERMINAL]
            assert len(terminal) <= 1, kinds
            assert not terminal or kinds[-1] in TERMINAL, kinds
            if not idempotent:
                assert self.starts[assignation] <= 1, f"{assignation} ran twice: {kinds}"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    # Grace 0: a disconnected agent's work is settled at the next sweep, which the machine
    # runs as one of its steps.
    with running_server(tmp_path / "data", grace=0.0, sweep_interval=3600.0) as server:
        yield server


def test_the_promises_hold_under_random_failures(platform: RunningPlatform) -> None:
    portal = Portal()
    Promises.server, Promises.portal = platform, portal
    try:
        run_state_machine_as_test(
            Promises,
            settings=settings(
                max_examples=50,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                derandomize=True,
            ),
        )
    finally:
        portal.close()
