"""What agents report, as the platform records it: once per event, in order, under a lease."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import arkitekt
from arkitekt.api.enums import AssignationEventKind as Kind
from arkitekt.api.enums import AssignationMessageKind
from arkitekt.api.enums import AssignationStatus as Status
from arkitekt.api.input_types import AgentInput, EventInput, ImplementationInput
from arkitekt.testing import running_server


def doubled(x: int) -> int:
    return 2 * x


async def connect_agent(client: arkitekt.Client, instance: str) -> tuple[str, int, object]:
    """Registers an agent serving `doubled` by hand and takes its lease."""
    node = arkitekt.node_of(doubled)
    agent = await client.api.register_agent(
        input=AgentInput(
            name="manual",
            instance=instance,
            implementations=[ImplementationInput(interface="doubled", node=node.to_input())],
        )
    )
    work = client.api.watch_assignations(agent=agent.id)
    first = await anext(work)
    assert first[0].kind is AssignationMessageKind.LEASE
    assert first[0].epoch is not None
    return agent.id, first[0].epoch, work


def event(assignation: str, index: int, kind: Kind, **values: object) -> EventInput:
    return EventInput(assignation=assignation, index=index, kind=kind, **values)  # type: ignore[arg-type]


async def test_duplicate_reports_are_recorded_once(client: arkitekt.Client) -> None:
    agent, epoch, work = await connect_agent(client, "duplicates")
    assignation = await client.assign(doubled, 4)
    (message,) = await anext(work)
    assert message.assignation == assignation.id
    report = [
        event(assignation.id, 1, Kind.YIELD, yields=[[8]]),
        event(assignation.id, 2, Kind.DONE),
    ]
    granted = [
        await client.api.report_events(
            agent=agent, epoch=epoch, events=[], acknowledge=[assignation.id]
        )
        for _ in range(2)
    ]
    # A repeated acknowledgement (its answer was lost) still says: yours to run.
    assert [g.acknowledged for g in granted] == [[assignation.id], [assignation.id]]
    first = await client.api.report_events(agent=agent, epoch=epoch, events=report)
    again = await client.api.report_events(agent=agent, epoch=epoch, events=report)
    assert (first.recorded, again.recorded) == (2, 0)
    stored = await client.api.get_assignation(id=assignation.id)
    assert stored is not None
    assert [(e.sequence, e.kind) for e in stored.events] == [
        (1, Kind.ASSIGNED),
        (2, Kind.YIELD),
        (3, Kind.DONE),
    ]
    await work.aclose()


async def test_one_report_on_several_assignations_records_each_in_order(
    client: arkitekt.Client,
) -> None:
    agent, epoch, work = await connect_agent(client, "several")
    calls = [await client.assign(doubled, x) for x in range(3)]
    for _ in calls:
        await anext(work)
    first, second, third = (c.id for c in calls)
    await client.api.report_events(
        agent=agent, epoch=epoch, events=[], acknowledge=[first, second, third]
    )
    # The first already reported its progress; the third already ended.
    await client.api.report_events(
        agent=agent,
        epoch=epoch,
        events=[event(first, 1, Kind.PROGRESS, progress=50), event(third, 1, Kind.DONE)],
    )
    report = [
        event(first, 1, Kind.PROGRESS, progress=50),  # a repeat: skipped
        event(second, 1, Kind.LOG, message="starting"),
        event(first, 2, Kind.YIELD, yields=[[0]]),
        event(third, 2, Kind.DONE),  # after the end: refused
        event(second, 2, Kind.YIELD, yields=[[2]]),
        event(first, 3, Kind.DONE),
    ]
    assert (await client.api.report_events(agent=agent, epoch=epoch, events=report)).recorded == 4
    assert (await client.api.report_events(agent=agent, epoch=epoch, events=report)).recorded == 0
    kinds = {}
    for call in calls:
        stored = await client.api.get_assignation(id=call.id)
        assert stored is not None
        assert [e.sequence for e in stored.events] == list(range(1, len(stored.events) + 1))
        kinds[call.id] = ([e.kind for e in stored.events], stored.status)
    assert kinds[first] == ([Kind.ASSIGNED, Kind.PROGRESS, Kind.YIELD, Kind.DONE], Status.DONE)
    assert kinds[second] == ([Kind.ASSIGNED, Kind.LOG, Kind.YIELD], Status.RUNNING)
    assert kinds[third] == ([Kind.ASSIGNED, Kind.DONE], Status.DONE)
    assert await calls[0].result() == 0
    await work.aclose()


async def test_a_second_terminal_event_is_refused(client: arkitekt.Client) -> None:
    agent, epoch, work = await connect_agent(client, "terminal")
    assignation = await client.assign(doubled, 1)
    await anext(work)
    first = [event(assignation.id, 1, Kind.ERROR, message="no", error_type="ValueError")]
    second = [event(assignation.id, 2, Kind.DONE)]
    assert (await client.api.report_events(agent=agent, epoch=epoch, events=first)).recorded == 1
    assert (await client.api.report_events(agent=agent, epoch=epoch, events=second)).recorded == 0
    stored = await client.api.get_assignation(id=assignation.id)
    assert stored is not None
    assert [e.kind for e in stored.events] == [Kind.ASSIGNED, Kind.ERROR]
    with pytest.raises(arkitekt.RemoteError, match="ValueError: no"):
        await assignation.result()
    await work.aclose()


async def test_a_connection_that_lost_its_lease_cannot_write(client: arkitekt.Client) -> None:
    agent, old_epoch, old_work = await connect_agent(client, "fenced")
    assignation = await client.assign(doubled, 2)
    await anext(old_work)
    _, new_epoch, new_work = await connect_agent(client, "fenced")  # a newer connection
    assert new_epoch > old_epoch
    with pytest.raises(arkitekt.ConflictError, match="lost its lease"):
        await client.api.report_events(
            agent=agent, epoch=old_epoch, events=[event(assignation.id, 1, Kind.DONE)]
        )
    # The older connection was told, and ended.
    with pytest.raises(StopAsyncIteration):
        await anext(old_work)
    # The newer one hears about the unacknowledged work again, and may finish it.
    (redelivered,) = await anext(new_work)
    assert redelivered.assignation == assignation.id
    done = [event(assignation.id, 1, Kind.YIELD, yields=[[4]]), event(assignation.id, 2, Kind.DONE)]
    await client.api.report_events(agent=agent, epoch=new_epoch, events=done)
    assert await assignation.result() == 4
    await new_work.aclose()


async def test_the_same_reference_gives_the_same_assignation(client: arkitekt.Client) -> None:
    _, _, work = await connect_agent(client, "references")
    first = await client.assign(doubled, 3, reference="experiment-7")
    second = await client.assign(doubled, 3, reference="experiment-7")
    assert first.id == second.id
    await anext(work)
    stored = await client.api.assignations()
    assert [a.id for a in stored].count(first.id) == 1
    await work.aclose()


async def test_only_one_agent_is_acknowledged_and_a_cancel_before_the_start_ends_it(
    client: arkitekt.Client,
) -> None:
    agent, epoch, work = await connect_agent(client, "acknowledging")
    assignation = await client.assign(doubled, 5)
    await anext(work)
    await client.api.cancel(assignation=assignation.id)  # before the agent started it
    report = await client.api.report_events(
        agent=agent, epoch=epoch, events=[], acknowledge=[assignation.id]
    )
    assert report.acknowledged == []  # so the agent must not run it
    with pytest.raises(arkitekt.AssignationCancelledError):
        await assignation.result()
    await work.aclose()


async def test_work_given_to_another_agent_is_not_acknowledged_to_the_first(
    tmp_path: Path,
) -> None:
    """A is cut off after receiving X; the sweeper gives X to B, which starts it; A's late
    acknowledgement is refused, so X runs once."""
    with running_server(tmp_path, grace=0.0, sweep_interval=3600.0) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            a, a_epoch, a_work = await connect_agent(client, "first")
            assignation = await client.assign(doubled, 6)
            (message,) = await anext(a_work)
            assert message.assignation == assignation.id
            await a_work.aclose()  # A's connection drops
            b, b_epoch, b_work = await connect_agent(client, "second")
            await asyncio.to_thread(server.sweep)  # A's grace is over: X is queued again
            redelivered = [m async for m in until_assigned(b_work, assignation.id)]
            assert redelivered
            to_b = await client.api.report_events(
                agent=b, epoch=b_epoch, events=[], acknowledge=[assignation.id]
            )
            to_a = await client.api.report_events(
                agent=a, epoch=a_epoch, events=[], acknowledge=[assignation.id]
            )
            assert (to_b.acknowledged, to_a.acknowledged) == ([assignation.id], [])
            await b_work.aclose()


async def until_assigned(work: Any, assignation: str) -> Any:
    async for batch in work:
        for message in batch:
            yield message
            if message.assignation == assignation:
                return


async def test_a_cancel_heard_again_on_reconnecting_says_why(client: arkitekt.Client) -> None:
    agent, epoch, work = await connect_agent(client, "reconnecting")
    assignation = await client.assign(doubled, 4)
    await anext(work)
    await client.api.report_events(
        agent=agent,
        epoch=epoch,
        events=[event(assignation.id, 1, Kind.PROGRESS, progress=10.0)],
        acknowledge=[assignation.id],
    )
    await client.api.cancel(assignation=assignation.id)
    me = await client.api.me()
    (live,) = await anext(work)
    assert (live.kind, live.reason) == (AssignationMessageKind.CANCEL, f"Cancelled by {me.name}.")
    await work.aclose()
    # The connection dropped before the agent stopped it: the new one hears it again.
    again = client.api.watch_assignations(agent=agent)
    lease, replayed = await anext(again)
    assert lease.kind is AssignationMessageKind.LEASE
    assert (replayed.kind, replayed.assignation) == (AssignationMessageKind.CANCEL, assignation.id)
    assert replayed.reason == f"Cancelled by {me.name}."
    await again.aclose()
