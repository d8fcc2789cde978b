"""The life of a call: pools and routing, queueing, progress and logs, resuming, cancelling."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import arkitekt
from arkitekt import Registry, Strategy
from arkitekt.api.enums import (
    AssignationEventKind,
    AssignationStatus,
    LogLevel,
    ReservationStatus,
)
from arkitekt.testing import RunningPlatform, running_server, serving
from tests.processes import Process

EventKind = AssignationEventKind
LOG, YIELD = EventKind.LOG, EventKind.YIELD


def make_pool_registry(label: str) -> Registry:
    def whoami(x: int) -> str:
        return label

    registry = Registry()
    registry.add(whoami)
    return registry


async def test_round_robin_spreads_calls_over_a_pool(client: arkitekt.Client) -> None:
    async with (
        arkitekt.Agent(client, make_pool_registry("a"), name="pool") as a,
        arkitekt.Agent(client, make_pool_registry("b"), name="pool") as b,
    ):
        assert a.id != b.id
        reservation = await client.reserve("whoami", strategy=Strategy.ROUND_ROBIN, min_instances=2)
        await reservation.wait_active()
        results = [await reservation.call(x=i) for i in range(10)]
    assert Counter(results) == {"a": 5, "b": 5}
    assert all(results[i] != results[i + 1] for i in range(9))


async def test_least_busy_avoids_a_busy_instance(client: arkitekt.Client) -> None:
    release = asyncio.Event()

    def make(label: str) -> Registry:
        async def busy_or_not(hold: bool) -> str:
            if hold:
                await release.wait()
            return label

        registry = Registry()
        registry.add(busy_or_not)
        return registry

    async with (
        arkitekt.Agent(client, make("a"), name="least") as a,
        arkitekt.Agent(client, make("b"), name="least"),
    ):
        reservation = await client.reserve("busy_or_not", strategy=Strategy.LEAST_BUSY)
        held = [await reservation.assign(hold=True) for _ in range(3)]
        quick = [await reservation.call(hold=False) for _ in range(4)]
        release.set()
        held_by = [await h.result() for h in held]
    # The three held calls went 2 to one instance and 1 to the other (least busy, in turn);
    # every quick call then went to the instance with fewer held calls.
    busy = Counter(held_by).most_common(1)[0][0]
    assert set(quick) == {"a" if busy == "b" else "b"}
    assert a.statistics().running == 0


async def test_map_through_a_least_busy_reservation_works_around_a_slow_item(
    client: arkitekt.Client,
) -> None:
    release, quick = asyncio.Event(), Counter[str]()

    def make(label: str) -> Registry:
        async def frame(hold: bool) -> str:
            if hold:
                await release.wait()
            else:
                quick[label] += 1
            return label

        registry = Registry()
        registry.add(frame, concurrency=1)
        return registry

    async with (
        arkitekt.Agent(client, make("a"), name="frames"),
        arkitekt.Agent(client, make("b"), name="frames"),
    ):
        reservation = await client.reserve("frame", strategy=Strategy.LEAST_BUSY)
        results = reservation.map([True] + [False] * 8, in_flight=2)
        first = asyncio.create_task(anext(results))  # the slow one holds up the order...
        async with asyncio.timeout(10):
            while quick.total() < 8:  # ...not the work: the others all run meanwhile
                await asyncio.wait([first], timeout=0.01)
        assert not first.done()
        release.set()
        labels = [await first] + [label async for label in results]
    assert len(quick) == 1, "each went to the instance the slow one left free"
    assert labels == [*set(labels) - set(quick)] + [*quick] * 8


async def test_a_named_agent_serves_every_call(client: arkitekt.Client) -> None:
    async with (
        arkitekt.Agent(client, make_pool_registry("a"), name="named") as a,
        arkitekt.Agent(client, make_pool_registry("b"), name="named"),
    ):
        assert a.id is not None
        reservation = await client.reserve("whoami", agents=[a.id])
        assert {await reservation.call(x=i) for i in range(6)} == {"a"}


async def test_a_call_times_out_while_queued_and_is_cancelled(client: arkitekt.Client) -> None:
    def never_served(x: int) -> int:
        return x

    async with serving(client, never_served):
        node = await client.node(never_served)
    started = time.monotonic()
    with pytest.raises(
        arkitekt.AssignationTimeoutError, match=r"did not finish within 0\.3s"
    ) as caught:
        await client.call(node, 1, timeout=0.3)
    assert time.monotonic() - started < 5
    stored = await client.api.get_assignation(id=caught.value.assignation)
    assert stored is not None
    assert stored.status is AssignationStatus.CANCELLED
    assert [e.kind for e in stored.events] == [EventKind.QUEUED, EventKind.CANCELLED]


async def staged(steps: int) -> AsyncIterator[int]:
    for step in range(steps):
        arkitekt.progress(100 * step / steps, f"step {step}")
        arkitekt.log(f"about to yield {step}", level="DEBUG")
        yield step
    arkitekt.progress(100, "done")


def staged_sync(steps: int) -> Iterator[int]:
    for step in range(steps):
        arkitekt.progress(100 * step / steps, f"step {step}")
        arkitekt.log(f"about to yield {step}", level="DEBUG")
        yield step
    arkitekt.progress(100, "done")


lab_log = logging.getLogger("lab.analysis")


async def analysed(n: int) -> AsyncIterator[int]:
    for i in range(n):
        lab_log.info("frame %d", i)
        logging.getLogger("arkitekt.agent.inner").warning("the platform's own: not sent")
        yield i
    print("printed", n, "frames\nand", end="")
    lab_log.warning("done with %d frames", n)


def analysed_sync(n: int) -> Iterator[int]:
    for i in range(n):
        lab_log.info("frame %d", i)
        yield i
    print("printed", n, "frames\nand", end="")
    lab_log.warning("done with %d frames", n)


@pytest.mark.parametrize("function", [analysed, analysed_sync])
async def test_a_functions_logging_records_and_prints_reach_its_caller_in_order(
    client: arkitekt.Client, function: object
) -> None:
    root = logging.getLogger()
    before, stdout = list(root.handlers), sys.stdout
    lab_log.setLevel(logging.INFO)  # the lab's own logging setup decides what is emitted
    try:
        async with serving(client, function):  # type: ignore[arg-type]
            assignation = await client.assign(function, n=2)  # type: ignore[arg-type]
            events = [event async for event in assignation.events()]
            lab_log.warning("outside a call: not sent")
    finally:
        lab_log.setLevel(logging.NOTSET)
    told = [(e.kind, e.level, e.message, e.yields) for e in events if e.kind in (LOG, YIELD)]
    assert told == [
        (LOG, LogLevel.INFO, "frame 0", ()),
        (YIELD, None, None, (0,)),
        (LOG, LogLevel.INFO, "frame 1", ()),
        (YIELD, None, None, (1,)),
        (LOG, LogLevel.INFO, "printed 2 frames", ()),
        (LOG, LogLevel.INFO, "and", ()),  # a line without its end, before what follows
        (LOG, LogLevel.WARNING, "done with 2 frames", ()),
    ]
    assert (root.handlers, sys.stdout) == (before, stdout), "both go with the agent"


@pytest.mark.parametrize("generator", [staged, staged_sync])
async def test_progress_and_logs_arrive_in_order_between_yields(
    client: arkitekt.Client, generator: object
) -> None:
    async with serving(client, generator):  # type: ignore[arg-type]
        assignation = await client.assign(generator, steps=3)  # type: ignore[arg-type]
        events = [event async for event in assignation.events()]
    shape = [(e.kind, e.yields or e.message) for e in events[1:]]
    expected = []
    for step in range(3):
        expected += [
            (EventKind.PROGRESS, f"step {step}"),
            (EventKind.LOG, f"about to yield {step}"),
            (EventKind.YIELD, (step,)),
        ]
    expected += [(EventKind.PROGRESS, "done"), (EventKind.DONE, None)]
    assert shape == expected
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert events[1].progress == 0
    assert events[4].progress == pytest.approx(100 / 3)


def long_count(n: int) -> int:
    lab_log.info("counting to %d", n)
    for i in range(n):
        arkitekt.progress(100 * i / n, f"at {i}")
    lab_log.warning("counted")
    arkitekt.progress(100)
    return n


async def test_call_tells_the_callers_logging_what_the_function_logged_and_how_far_it_got(
    client: arkitekt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    lab_log.setLevel(logging.INFO)
    try:
        async with serving(client, long_count):
            with caplog.at_level(logging.INFO, logger="arkitekt.calls"):
                assert await client.call(long_count, n=1000) == 1000
                told = [
                    (r.levelname, r.getMessage(), r.assignation)
                    for r in caplog.records
                    if r.name == "arkitekt.calls"
                ]
                caplog.clear()
                assignation = await client.assign(long_count, n=10)
                assert len([event async for event in assignation.events()]) > 10
    finally:
        lab_log.setLevel(logging.NOTSET)
    assert not [r for r in caplog.records if r.name == "arkitekt.calls"], "read, not told"
    progress = [f"long_count {10 * step}%: at {100 * step}" for step in range(10)]
    assert [(level, message) for level, message, _ in told] == [
        ("INFO", "long_count: counting to 1000"),
        *[("INFO", line) for line in progress],  # a thousand reports, a line per tenth
        ("WARNING", "long_count: counted"),
        ("INFO", "long_count 100%"),
    ]
    assert len({assignation for *_, assignation in told}) == 1


async def test_events_resume_from_a_sequence_number(client: arkitekt.Client) -> None:
    async with serving(client, staged):
        assignation = await client.assign(staged, steps=4)
        everything = [event async for event in assignation.events()]
        later = [event async for event in assignation.events(after=5)]
    assert [e.sequence for e in later] == [e.sequence for e in everything if e.sequence > 5]
    assert later == [e for e in everything if e.sequence > 5]
    assert later[-1].kind is EventKind.DONE


async def forever_async(x: int) -> int:
    arkitekt.log("started")
    await asyncio.Event().wait()
    return x


async def endless(start: int) -> AsyncIterator[int]:
    n = start
    while True:
        yield n
        n += 1
        await asyncio.sleep(0.01)


def cooperative(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        arkitekt.progress(0, "working")  # raises once cancelled
        time.sleep(0.01)
    return "finished"


def checks_cancelled(seconds: float) -> str:
    arkitekt.log("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not arkitekt.cancelled():
        time.sleep(0.01)
    return "stopped early" if arkitekt.cancelled() else "finished"


async def _cancel_when_running(
    assignation: arkitekt.Assignation, kind: EventKind
) -> list[EventKind]:
    kinds = []
    async for event in assignation.events():
        kinds.append(event.kind)
        if event.kind is kind and EventKind.CANCELLING not in kinds:
            await assignation.cancel()
    return kinds


@pytest.mark.parametrize(
    ("function", "arguments", "running_kind"),
    [
        (forever_async, {"x": 1}, EventKind.LOG),
        (endless, {"start": 0}, EventKind.YIELD),
        (cooperative, {"seconds": 20.0}, EventKind.PROGRESS),
        (checks_cancelled, {"seconds": 20.0}, EventKind.LOG),
    ],
)
async def test_cancel_ends_cancelled_and_the_agent_stays_healthy(
    client: arkitekt.Client, function: object, arguments: dict[str, object], running_kind: EventKind
) -> None:
    def healthy(x: int) -> int:
        return x + 1

    async with serving(client, function, healthy) as agent:  # type: ignore[arg-type]
        assignation = await client.assign(function, **arguments)  # type: ignore[arg-type]
        started = time.monotonic()
        kinds = await asyncio.wait_for(_cancel_when_running(assignation, running_kind), 10)
        assert time.monotonic() - started < 5
        assert kinds[-1] is EventKind.CANCELLED
        assert EventKind.CANCELLING in kinds
        assert kinds.count(EventKind.CANCELLED) == 1
        with pytest.raises(arkitekt.AssignationCancelledError):
            await assignation.result()
        assert await client.call(healthy, 1) == 2
        assert agent.statistics().cancelled == 1
        assert agent.statistics().running == 0


async def test_cancelling_the_calling_task_cancels_the_call(client: arkitekt.Client) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def wait_for_ever(x: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return x

    async with serving(client, wait_for_ever) as agent:
        task = asyncio.create_task(client.call(wait_for_ever, 3))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(stopped.wait(), 5)
    assert agent.statistics().cancelled == 1


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_function_that_calls_others_passes_on_their_logs_and_its_cancel(
    client: arkitekt.Client, sync: bool
) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def chatty(n: int) -> int:
        arkitekt.log(f"frame {n} is blurry", level="WARNING")
        return n

    async def held(n: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return n

    async def pipeline(n: int, hold: bool = False) -> int:
        arkitekt.log("fanning out")
        if hold:
            return await client.call(held, n)
        return sum([result async for result in client.map(chatty, range(n))])

    def sync_pipeline(n: int, hold: bool = False) -> int:
        arkitekt.log("fanning out")
        with arkitekt.current_client() as app:  # the app's own client, lent to sync code
            return app.call(held, n) if hold else sum(app.map(chatty, range(n)))

    caller = sync_pipeline if sync else pipeline
    async with serving(client, chatty, held, caller):
        assignation = await client.assign(caller, n=3)
        logs = [(e.level, e.message) async for e in assignation.events() if e.kind is LOG]
        assert await assignation.result() == 3
        assert logs[0] == (LogLevel.INFO, "fanning out")
        inner = {(LogLevel.WARNING, f"chatty: frame {n} is blurry") for n in range(3)}
        assert sorted(logs[1:]) == sorted(inner), "each in its place: from all three calls"

        held_up = await client.assign(caller, n=1, hold=True)
        await asyncio.wait_for(started.wait(), 5)
        await held_up.cancel()
        await asyncio.wait_for(stopped.wait(), 5)  # the call it made was cancelled too
        with pytest.raises(arkitekt.AssignationCancelledError):
            await held_up.result()


async def test_a_cancelled_call_says_who_cancelled_it(client: arkitekt.Client) -> None:
    async with serving(client, forever_async):
        assignation = await client.assign(forever_async, 1)
        async for event in assignation.events():
            if event.kind is EventKind.LOG:  # it runs
                break
        # Cancelled from elsewhere (the dashboard, another script): the caller learns why.
        await client.api.cancel(assignation=assignation.id)
        with pytest.raises(arkitekt.AssignationCancelledError) as cancelled:
            await asyncio.wait_for(
                arkitekt.Assignation(client, assignation.node, assignation.id).result(), 10
            )
    me = await client.api.me()
    assert str(cancelled.value) == f"forever_async was cancelled: Cancelled by {me.name}."
    # The agent's own last word says the same.
    found = await client.api.get_assignation(id=assignation.id)
    assert found is not None
    *_, cancelling, final = [(e.kind.value, e.message) for e in found.events]
    assert cancelling == ("CANCELLING", f"Cancelled by {me.name}.")
    assert final == ("CANCELLED", f"Cancelled by {me.name}.")


async def test_cancel_after_the_end_changes_nothing(client: arkitekt.Client) -> None:
    def quick(x: int) -> int:
        return x

    async with serving(client, quick):
        assignation = await client.assign(quick, 5)
        assert await assignation.result() == 5
        await client.api.cancel(assignation=assignation.id)
        stored = await client.api.get_assignation(id=assignation.id)
    assert stored is not None
    assert stored.status is AssignationStatus.DONE
    assert [e.kind for e in stored.events][-1] is EventKind.DONE


async def test_sync_functions_run_one_at_a_time_by_default(client: arkitekt.Client) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def exclusive(x: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return x

    @arkitekt.register(concurrency=3, registry=Registry())
    def parallel(x: int) -> int:
        return exclusive(x)

    async with serving(client, exclusive):
        await asyncio.gather(*(client.call(exclusive, i) for i in range(4)))
        assert peak == 1
    peak = 0
    async with serving(client, parallel):
        await asyncio.gather(*(client.call(parallel, i) for i in range(6)))
        assert peak == 3


async def test_sync_functions_run_as_many_at_once_as_they_declare(
    client: arkitekt.Client,
) -> None:
    # More than the threads asyncio lends by default: each call waits for all the others.
    many = min(32, (os.cpu_count() or 1) + 4) + 2
    together = threading.Barrier(many)

    @arkitekt.register(concurrency=many, registry=Registry())
    def gathered(x: int) -> int:
        together.wait(timeout=10)
        return x

    async with serving(client, gathered):
        results = await asyncio.gather(*(client.call(gathered, i) for i in range(many)))
    assert results == list(range(many))


async def test_reservation_watch_reports_waiting_then_active(client: arkitekt.Client) -> None:
    def watched(x: int) -> int:
        return x

    async with serving(client, watched, name="w1"):
        reservation = await client.reserve(watched, min_instances=2)
        assert reservation.status is ReservationStatus.WAITING
        async with serving(client, watched, name="w2"):
            await asyncio.wait_for(reservation.wait_active(), 5)
            assert reservation.status is ReservationStatus.ACTIVE


def exits(code: int) -> int:
    sys.exit(code)


async def interrupts(x: int) -> int:
    raise KeyboardInterrupt


def fine(x: int) -> int:
    return x


async def test_a_function_that_exits_fails_its_call_and_the_app_serves_on(
    client: arkitekt.Client,
) -> None:
    async with serving(client, exits, interrupts, fine) as agent:
        with pytest.raises(arkitekt.RemoteError, match=r"sys.exit\(3\); the app serves on") as e:
            await client.call(exits, code=3)
        assert e.value.type == "SystemExit"
        with pytest.raises(arkitekt.RemoteError) as e:
            await client.call(interrupts, x=1)
        assert e.value.type == "KeyboardInterrupt"
        assert await client.call(fine, x=7) == 7
        assert agent.statistics().failed == 2


started = threading.Event()


def slowly(x: int) -> int:
    started.set()
    time.sleep(0.5)
    arkitekt.log("finishing")
    return x


async def test_an_agent_that_closes_finishes_and_reports_the_work_it_runs(
    client: arkitekt.Client,
) -> None:
    started.clear()
    async with serving(client, slowly) as agent:
        assignation = await client.assign(slowly, x=5)
        assert await asyncio.to_thread(started.wait, 10)
        await agent.close()
        assert await assignation.result() == 5


async def test_work_still_running_when_an_agent_closes_ends_cancelled_and_says_why(
    client: arkitekt.Client,
) -> None:
    async with serving(client, forever_async) as agent:
        assignation = await client.assign(forever_async, x=1)
        async for event in assignation.events():
            if event.kind is EventKind.LOG:  # "started": it runs
                break
        await agent.close(grace=0.2)
        with pytest.raises(arkitekt.AssignationCancelledError, match="The app stopped before"):
            await assignation.result()


beating = asyncio.Event()


async def beats(start: int) -> AsyncIterator[int]:
    beating.set()
    async for n in endless(start):
        yield n


CALLER = """
import asyncio, sys
import arkitekt

async def main():
    async with arkitekt.connect(sys.argv[1], sys.argv[2]) as client:
        assignation = await client.assign("beats", start=0, detached=sys.argv[3] == "detached")
        print(assignation.id, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.parametrize("detached", [False, True], ids=["attached", "detached"])
async def test_a_call_ends_with_its_caller_unless_detached(tmp_path: Path, detached: bool) -> None:
    with running_server(tmp_path, caller_grace=1.0, sweep_interval=0.2) as server:
        async with (
            arkitekt.connect(server.url, server.token) as client,
            serving(client, beats) as agent,
        ):
            beating.clear()
            mode = "detached" if detached else "attached"
            caller = Process("-c", CALLER, server.url, server.token, mode)
            try:
                assignation = (await asyncio.to_thread(caller.wait_for, r"^(\w+)$")).group(1)
                await asyncio.wait_for(beating.wait(), 20)
            finally:
                caller.kill()  # the caller dies without cancelling its call
                caller.stop()
            # Only look, never follow: a follower would keep it alive.
            await asyncio.sleep(3.0)  # well past the caller grace and a few sweeps
            found = await client.api.get_assignation(id=assignation)
            if detached:
                assert found is not None
                assert found.status is AssignationStatus.RUNNING
                await client.api.cancel(assignation=assignation)
            else:
                assert found is not None
                assert found.status is AssignationStatus.CANCELLED
                messages = [event.message or "" for event in found.events]
                assert any("nobody followed it for 1 s" in m for m in messages), messages
                assert agent.statistics().running == 0, "the agent stopped it"


async def test_a_detached_call_is_found_again_by_its_id(
    server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, staged):
        async with arkitekt.connect(server.url, server.token) as submitter:
            started = await submitter.assign(staged, steps=3, detached=True)
        # Another process, later: the id is all it needs.
        found = await client.assignation(started.id)
        assert (found.id, found.node.name) == (started.id, "staged")
        assert await found.result() == [0, 1, 2]
    with pytest.raises(arkitekt.TargetError, match="`arkitekt assignations` lists"):
        await client.assignation("f" * 32)


async def test_a_client_opened_without_a_block_serves_many_cells_until_closed(
    server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, staged, endless):
        # Each notebook cell runs as a task of its own; the client outlives them.
        notebook = await asyncio.create_task(arkitekt.connect(server.url, server.token).open())
        assert await asyncio.create_task(notebook.call(staged, steps=2)) == [0, 1]
        # A later cell runs in another context, and the helpers still find it.
        later = asyncio.create_task(arkitekt.call(staged, steps=1), context=contextvars.Context())
        assert await later == [0]
        running = await asyncio.create_task(notebook.assign(endless, start=0))
        await asyncio.create_task(notebook.close())
        found = await client.api.get_assignation(id=running.id)
        assert found is not None
        assert found.status in {AssignationStatus.CANCELLING, AssignationStatus.CANCELLED}
        with pytest.raises(arkitekt.ClientClosedError):
            await notebook.call(staged, steps=1)
    with pytest.raises(arkitekt.ConfigurationError, match="No arkitekt client is active"):
        await asyncio.create_task(arkitekt.call(staged, steps=1), context=contextvars.Context())


async def _leave_three_calls(server: RunningPlatform) -> None:
    """Starts a detached call, an attached one it never reads, and a stream whose loop an
    error leaves, with the client's block, while the stream is unfinished."""
    async with arkitekt.connect(server.url, server.token) as caller:
        await caller.assign(endless, start=1000, detached=True)
        await caller.assign(endless, start=2000)
        async for n in caller.stream(endless, start=3000):
            if n == 3003:
                raise LookupError(n)


async def test_closing_a_client_cancels_the_calls_it_left_unfinished(
    server: RunningPlatform, client: arkitekt.Client
) -> None:
    unhandled: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    async with serving(client, endless):
        with pytest.raises(LookupError):
            await _leave_three_calls(server)
        # The platform would give a caller a minute to come back; closing says it won't.
        recent = await client.api.assignations(limit=20)
        status = {a.args["start"]: a.status for a in recent if a.node.name == "endless"}
        assert status[1000] is AssignationStatus.RUNNING
        assert status[2000] in {AssignationStatus.CANCELLING, AssignationStatus.CANCELLED}
        assert status[3000] in {AssignationStatus.CANCELLING, AssignationStatus.CANCELLED}
        await client.api.cancel(assignation=next(a.id for a in recent if a.args["start"] == 1000))
        for _ in range(2):  # the left loop's generator closes now, after its client did
            gc.collect()
            await asyncio.sleep(0.1)
    assert unhandled == []
