"""The agent: serves a registry's functions on the platform.

    async with arkitekt.connect() as client:
        async with Agent(client, registry, name="basics") as agent:
            await agent.wait_closed()

`async with Agent(...)` runs the app's startups, then returns once the agent is registered
and live; leaving the block tears the startups down once no call runs. Each assignation
runs in its own task: async functions on the loop, sync ones in a worker thread. Events are
reported in order by one reporter that sends whatever has queued up in one request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import logging
import os
import socket
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import arkitekt
from arkitekt import sizes
from arkitekt.api.client import Client as ApiClient
from arkitekt.api.enums import AssignationEventKind, AssignationMessageKind, LogLevel
from arkitekt.api.input_types import AgentInput, EventInput, ImplementationInput
from arkitekt.api.watch_assignations import WatchAssignationsWatchAssignations as Message
from arkitekt.errors import (
    ApiError,
    ArgumentError,
    AssignationCancelledError,
    ConflictError,
    ServerUnavailableError,
    StartupError,
)

from . import context
from .nodes import Node
from .registry import Implementation, Registry, default_registry
from .startups import Startup, started, unchanged
from .storage import Storage, storage_of

log = logging.getLogger("arkitekt.agent")

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
FINISHED_MEMORY = 10_000  # assignation ids remembered to ignore redeliveries
MAX_REPORT = 500  # events per report: a fast generator's backlog stays within request limits
MAX_MERGED_YIELDS = 500  # yields per merged YIELD event
REPORT_BYTES = 4 << 20
"""About how much JSON one report carries (one event may carry more): the platform takes
requests of up to 16 MiB."""


def event_size(event: EventInput) -> int:
    return sizes.event_size(event.yields, event.message, event.traceback)


@dataclass(frozen=True)
class AgentStatistics:
    running: int
    finished: int
    failed: int
    cancelled: int


async def decode_args(node: Node, args: Any, storage: Storage | None = None) -> dict[str, Any]:
    """The keyword arguments for a call, checked against the node's ports; structures
    are expanded from `storage`."""
    return await node.expand_args(args, storage=storage)


async def encode_returns(node: Node, result: Any, storage: Storage | None = None) -> list[Any]:
    """A function's result as the YIELD payload: one JSON value per return port;
    structures are shrunk into `storage`."""
    return await node.shrink_returns(result, storage=storage)


def _misfit(node: Node, error: ArgumentError) -> TypeError:
    """A result that does not fit the return annotation: the function's fault, said so."""
    where, detail = error.port, str(error).removeprefix(f"{error.port}: ")
    if len(node.returns) == 1 and where.startswith("return0"):
        where = "return" + where.removeprefix("return0")  # one value: no index to give
    return TypeError(f"{node.name}'s result does not fit its signature: {where}: {detail}")


PLATFORM_CODE = tuple(
    str(Path(module.__file__).parent) + os.sep
    for module in (arkitekt, asyncio, concurrent.futures)
    if module.__file__ is not None
)
"""Where the frames that run a function, before its own, come from."""


def _from_the_function(frames: TracebackType | None) -> TracebackType | None:
    """A traceback from the function's first frame on: what led to the call is ours, not
    the function's (none at all when the platform itself refused what it returned)."""
    while frames is not None and frames.tb_frame.f_code.co_filename.startswith(PLATFORM_CODE):
        frames = frames.tb_next
    return frames


def _took(started: float) -> str:
    seconds = time.monotonic() - started
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _failure_message(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"The function called sys.exit({error.code!r}); the app serves on."
    return str(error)


Sized = tuple[EventInput, int]
"""An event with its `event_size`."""


def merge_yields(events: list[Sized]) -> list[Sized]:
    """Merges the yields of an assignation that queued up between its other events: a fast
    generator's results then cost one event (one row, one message) per batch, not each.
    A merged event holds at most `MAX_MERGED_YIELDS` yields, and `REPORT_BYTES` unless a
    single yield is larger."""
    merged: list[Sized] = []
    open_yield: dict[str, int] = {}  # assignation -> position of its YIELD still open
    grown: dict[int, list[Any]] = {}  # position -> [its yields, its last index, its size]
    for event, size in events:
        position = open_yield.get(event.assignation)
        if event.kind is not AssignationEventKind.YIELD:
            open_yield.pop(event.assignation, None)
            merged.append((event, size))
            continue
        into = grown.get(position) if position is not None else None
        if into is None or len(into[0]) >= MAX_MERGED_YIELDS or into[2] + size > REPORT_BYTES:
            open_yield[event.assignation] = len(merged)
            grown[len(merged)] = [list(event.yields or ()), event.index, size]
            merged.append((event, size))
        else:
            into[0].extend(event.yields or ())
            into[1] = event.index
            into[2] += size
    for position, (yields, index, size) in grown.items():
        event = merged[position][0]
        if index != event.index:  # something merged into it
            merged[position] = (event.model_copy(update={"index": index, "yields": yields}), size)
    return merged


def next_report(events: list[Sized]) -> int:
    """How many of `events` the next report carries: at least one, at most `MAX_REPORT`,
    and no more than `REPORT_BYTES` together."""
    total = 0
    for count, (_, size) in enumerate(events[:MAX_REPORT]):
        total += size
        if total > REPORT_BYTES and count > 0:
            return count
    return min(len(events), MAX_REPORT)


class Reporter:
    """Sends events in the order they were reported, batching what queued up meanwhile,
    with the acknowledgements of newly received assignations.

    Error handling: an unreachable platform is retried with backoff; a lost lease waits
    for the agent's next connection and retries under it; the platform skips events it
    already recorded, so retrying never duplicates.
    """

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._pending: list[Sized] = []
        self._acknowledge: dict[str, asyncio.Future[bool]] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def put(self, event: EventInput, size: int | None = None) -> None:
        """`size`: the event's `event_size`, when the caller knows it already."""
        self._pending.append((event, event_size(event) if size is None else size))
        self._wake()

    def acknowledge(self, assignation: str, *, urgent: bool = True) -> asyncio.Future[bool]:
        """Asks the platform for the assignation; the future says whether this agent got it.

        Not `urgent`: it travels with the next report instead of on its own (for work that
        starts without waiting for the answer)."""
        future = self._acknowledge.get(assignation)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._acknowledge[assignation] = future
            if urgent:
                self._wake()
        return future

    def _wake(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    async def flush(self) -> None:
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending or self._acknowledge:
                merged = merge_yields(self._pending)
                count = next_report(merged)
                batch, self._pending = [event for event, _ in merged[:count]], merged[count:]
                acknowledge, self._acknowledge = self._acknowledge, {}
                granted = await self._send(batch, list(acknowledge))
                for assignation, future in acknowledge.items():
                    if not future.done():
                        future.set_result(assignation in granted)
            self._idle.set()

    async def _send(self, batch: list[EventInput], acknowledge: list[str]) -> set[str]:
        """Sends until the platform took it; returns the acknowledged assignations."""
        attempt = 0
        while True:
            lease = await self.agent.lease()
            try:
                report = await self.agent.api.report_events(
                    agent=lease.agent, epoch=lease.epoch, events=batch, acknowledge=acknowledge
                )
                return set(report.acknowledged)
            except ServerUnavailableError:
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
            except ConflictError as error:  # a newer connection took the lease
                log.warning("%s; reconnecting", error)
                self.agent.reconnect(lease)
            except ApiError as error:
                log.error("The platform refused %d events: %s", len(batch), error)
                return set()


@dataclass(frozen=True)
class Lease:
    """The agent's current connection: its writes carry the epoch."""

    agent: str
    epoch: int


class Agent:
    """Serves the functions of a registry as one instance of an app.

    Args:
        client: A connected client (`arkitekt.connect()`).
        registry: The functions to serve; defaults to those `@register` recorded.
        name: The app's name; instances with the same name form a pool.
        instance: Unique per process; a random id by default.
        teams: The names of the teams it serves (teams of yours): their members see and
            call its functions. None: only you do.
    """

    def __init__(
        self,
        client: Any,
        registry: Registry | None = None,
        *,
        name: str,
        instance: str | None = None,
        teams: Sequence[str] = (),
    ) -> None:
        self.api: ApiClient = client.api if hasattr(client, "api") else client
        # Reports and acknowledgements are frequent and small: send them on the websocket.
        self.api.transport.mutations_on_socket = True
        self.storage = storage_of(self.api)
        self.registry = registry if registry is not None else default_registry()
        self.name = name
        self.instance = instance or uuid.uuid4().hex
        self.teams = list(teams)
        self.id: str | None = None
        # Sessions sort by start time: a newer process may take over an instance id.
        self.session = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self._lease: Lease | None = None
        self._leased = asyncio.Event()
        self._connection: asyncio.Task[None] | None = None
        self._reporter = Reporter(self)
        self._running: dict[str, tuple[asyncio.Task[None], context.Running]] = {}
        self._finished: deque[str] = deque(maxlen=FINISHED_MEMORY)
        self._finished_set: set[str] = set()
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._forwarding = False
        self._counts = {"finished": 0, "failed": 0, "cancelled": 0}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._startups: contextlib.AsyncExitStack | None = None
        # Cleared while the app's startups run again (`update`): work waits for them.
        self._ready = asyncio.Event()
        self._ready.set()
        self._unwatch: Callable[[], None] | None = None
        self._reoffer: asyncio.Task[None] | None = None
        self._dirty = False
        self._started_with: list[Startup[Any]] = []

    def __repr__(self) -> str:
        functions = f"{len(self.registry)} function{'s' if len(self.registry) != 1 else ''}"
        state = "closed" if self.closed else f"serving {functions}"
        return f"<Agent {self.name} {self.id}: {state}>"

    @property
    def closed(self) -> bool:
        """Whether it stopped serving (or never started)."""
        return self._task is None

    def statistics(self) -> AgentStatistics:
        return AgentStatistics(running=len(self._running), **self._counts)

    def _catalogue(self) -> AgentInput:
        return AgentInput(
            name=self.name,
            instance=self.instance,
            session=self.session,
            hostname=socket.gethostname(),
            teams=self.teams,
            implementations=[
                ImplementationInput(interface=i.interface, node=i.node.to_input())
                for i in self.registry
            ],
        )

    async def register(self) -> str:
        """Declares this instance and its catalogue; returns the agent's id.

        When a newer process took this instance id over (this one was stopped or cut off
        for too long), it registers as a new instance instead.
        """
        try:
            agent = await self.api.register_agent(input=self._catalogue())
        except ConflictError:
            if self.id is None:
                raise
            log.warning("Instance %s is served by a newer process; registering anew", self.instance)
            self.instance = uuid.uuid4().hex
            agent = await self.api.register_agent(input=self._catalogue())
        self.id = agent.id
        return agent.id

    @property
    def started(self) -> bool:
        """Whether the app's startups ran and hold what they produced."""
        return self._startups is not None

    def restarts_startups(self, registry: Registry) -> bool:
        """Whether serving `registry` instead runs the app's startups again (`update`):
        not when a reload left them as they were (their code, and what it uses)."""
        if not (self._started_with or registry.startups):
            return False
        return self._startups is None or not unchanged(self._started_with, registry.startups)

    async def update(self, registry: Registry, *, cancel_running: bool = False) -> int:
        """Serves `registry` from now on, as the same instance: `arkitekt dev` reloads so.

        The platform keeps the nodes that did not change, adds the new ones and retires
        the implementations that are gone. Running assignations finish on the code they
        started with; with `cancel_running`, each is told why (a LOG event) and cancelled.
        When the startups changed (their code, or what it uses), the running calls end
        first, the old startups are torn down and the new ones run (a microscope is not
        opened twice), and work that arrives meanwhile waits for the new version.
        Unchanged, the new version adopts what they produced.

        Returns:
            How many running assignations were cancelled.

        Raises:
            ApiError: The platform refused the new catalogue; the previous one still serves.
            StartupError: A new startup failed; the previous version serves again.
        """
        if not self.restarts_startups(registry):
            await self._offer(registry)
            for old, new in zip(self._started_with, registry.startups, strict=True):
                new.adopt(old)  # the model stays loaded while its functions are edited
            self._started_with = list(registry.startups)
            return self._cancel_running() if cancel_running else 0
        self._ready.clear()
        try:
            running = [task for task, _ in self._running.values()]
            cancelled = self._cancel_running() if cancel_running else 0
            if running:
                await asyncio.wait(running)
            previous = self.registry
            await self._stop_startups()
            try:
                await self._run_startups(registry)
                try:
                    await self._offer(registry)
                except BaseException:
                    await self._stop_startups()
                    raise
            except Exception:
                try:
                    await self._run_startups(previous)
                except StartupError as error:
                    # Its functions then fail, saying which startup failed and why.
                    log.warning("The previous version did not start again: %s", error)
                raise
            return cancelled
        finally:
            self._ready.set()

    def _changed(self) -> None:
        self._dirty = True
        if self._task is None or (self._reoffer is not None and not self._reoffer.done()):
            return  # closed, or offering already (and again, once that is done)
        self._reoffer = asyncio.create_task(self._offer_changes())

    async def _offer_changes(self) -> None:
        while self._dirty:
            self._dirty = False
            await asyncio.sleep(0)  # a cell that defines several functions: one offer
            try:
                if self.registry.startups != self._started_with:
                    await self.update(self.registry)  # its startups run again
                else:
                    await self.register()
            except (ApiError, ServerUnavailableError, StartupError) as error:
                log.warning("The changed functions are not offered: %s", error)

    async def _offer(self, registry: Registry) -> None:
        previous, self.registry = self.registry, registry
        try:
            await self.register()
        except BaseException:
            self.registry = previous
            raise
        if self._unwatch is not None:
            self._watch(registry)

    def _watch(self, registry: Registry | None) -> None:
        """Offers what is added to `registry` while it serves (as a notebook's cells run),
        instead of what was added to the registry watched before; None: nothing."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if registry is not None:
            loop = asyncio.get_running_loop()

            def changed() -> None:  # in the thread that added it
                with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to offer
                    loop.call_soon_threadsafe(self._changed)

            self._unwatch = registry.watch(changed)

    def _cancel_running(self) -> int:
        running = list(self._running.values())
        for task, state in running:
            state.send(
                AssignationEventKind.LOG,
                message="The app was reloaded: cancelling this call.",
                level=LogLevel.WARNING,
            )
            state.request_cancel()
            if state.interruptible:
                task.cancel()
        return len(running)

    async def __aenter__(self) -> Agent:
        await self._run_startups(self.registry)  # before any work can arrive
        try:
            await self.register()
            self._task = asyncio.create_task(self._serve(), name=f"arkitekt-agent-{self.name}")
            live = asyncio.create_task(self._live.wait())
            await asyncio.wait({self._task, live}, return_when=asyncio.FIRST_COMPLETED)
            if not live.done():
                live.cancel()
                await self._task  # raises why serving stopped
        except BaseException:
            await self._stop_startups()
            raise
        self._watch(self.registry)
        context.forwarding.start()  # what the functions print and log reaches their callers
        self._forwarding = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_closed(self) -> None:
        """Serves until the agent is closed or cancelled."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self, grace: float = 5.0) -> None:
        """Stops taking work, lets running assignations finish for `grace` seconds,
        cancels the rest, and reports everything before returning. Idempotent."""
        if self._task is None:
            return
        task, self._task = self._task, None
        self._watch(None)
        if self._reoffer is not None:
            self._reoffer.cancel()
        if self._forwarding:
            context.forwarding.stop()
            self._forwarding = False
        if self.id is not None:
            with contextlib.suppress(ApiError, ServerUnavailableError):
                await self.api.disconnect_agent(agent=self.id)
        # Work delivered just before the platform stopped routing here may still arrive:
        # it gets the same grace as the work running now.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._running and (left := deadline - loop.time()) > 0:
            await asyncio.wait([t for t, _ in self._running.values()], timeout=left)
        # Cancel what is left, and report it all while this connection still holds the
        # lease: once it closes, the platform settles the agent's work without the reports.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(deadline - loop.time(), 1.0)):
                await self._stop_running()
                await self._reporter.flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._stop_startups()

    async def _run_startups(self, registry: Registry) -> None:
        self._started_with = list(registry.startups)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(started(self._started_with))
        self._startups = stack

    async def _stop_startups(self) -> None:
        stack, self._startups = self._startups, None
        if stack is not None:
            await stack.aclose()

    async def _stop_running(self) -> None:
        """Cancels the work still running here (each reports CANCELLED) and waits for it.
        A sync function's thread cannot be interrupted: its call ends now, the thread later."""
        for task, running in list(self._running.values()):
            running.request_cancel("The app stopped before the call finished.")
            task.cancel()
        leftover = [task for task, _ in self._running.values()]
        if leftover:
            await asyncio.wait(leftover)

    async def _serve(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._reporter.run(), name="arkitekt-reporter")
            try:
                await self._receive(tasks)
            finally:
                await self._stop_running()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await self._reporter.flush()

    async def lease(self) -> Lease:
        """The current connection's lease, waiting for a connection if there is none."""
        while self._lease is None:
            await self._leased.wait()
        return self._lease

    def reconnect(self, lost: Lease) -> None:
        """Drops the connection whose lease was lost; the receiver connects again."""
        if self._lease == lost:
            self._lease = None
            self._leased.clear()
            if self._connection is not None:
                self._connection.cancel()

    async def _receive(self, tasks: asyncio.TaskGroup) -> None:
        attempt = 0
        while True:
            self._connection = asyncio.create_task(self._follow(tasks))
            try:
                await self._connection
                reason = "the platform ended the subscription"
            except ServerUnavailableError as error:
                reason = str(error)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the agent itself is closing
                reason = "the lease was lost"
            attempt = 0 if self._live.is_set() else attempt + 1
            self._lease = None
            self._leased.clear()
            self._live.clear()
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            log.warning("Disconnected (%s); reconnecting in %.2fs", reason, delay)
            await asyncio.sleep(delay)
            with contextlib.suppress(ServerUnavailableError):
                await self.register()

    async def _follow(self, tasks: asyncio.TaskGroup) -> None:
        assert self.id is not None
        async for batch in self.api.watch_assignations(agent=self.id):
            for message in batch:
                self._handle(message, tasks)

    def _handle(self, message: Message, tasks: asyncio.TaskGroup) -> None:
        if message.kind is AssignationMessageKind.LEASE:
            assert self.id is not None
            assert message.epoch is not None
            self._lease = Lease(self.id, message.epoch)
            self._leased.set()
            self._live.set()
            return
        assert message.assignation is not None
        if message.kind is AssignationMessageKind.CANCEL:
            entry = self._running.get(message.assignation)
            if entry is not None:
                task, running = entry
                running.request_cancel(message.reason)
                # Sync code cannot be interrupted: it stops at its next progress() or yield,
                # or when it checks arkitekt.cancelled().
                if running.interruptible or not running.started:
                    task.cancel()
            return
        if message.assignation in self._running or message.assignation in self._finished_set:
            return  # a redelivery: this instance already has it
        implementation = self.registry.get(str(message.interface))
        running = context.Running(
            assignation=message.assignation,
            report=self._reporter.put,
            loop=asyncio.get_running_loop(),
            interruptible=implementation is None or implementation.is_async,
        )
        task = tasks.create_task(self._execute(message, running), name=message.assignation)
        task.add_done_callback(functools.partial(self._ended, message.assignation))
        self._running[message.assignation] = (task, running)

    def _ended(self, assignation: str, _task: asyncio.Task[None]) -> None:
        """Forgets work once its task ends, however it ended: also when its caller
        cancelled it before it began (the platform settled that, and nothing here did)."""
        self._forget(assignation)

    async def _execute(self, message: Message, running: context.Running) -> None:
        assignation = running.assignation
        implementation = self.registry.get(str(message.interface))
        if not self._ready.is_set():  # the app's startups are running again
            await self._ready.wait()
            implementation = self.registry.get(str(message.interface))  # the new version's
            running.interruptible = implementation is None or implementation.is_async
        # Run only what the platform acknowledged: were this agent cut off now, the work
        # would go elsewhere, and running it here too would run it twice. Idempotent work
        # may start at once, its acknowledgement travelling with its first report.
        must_wait = implementation is None or not implementation.node.idempotent
        granted = self._reporter.acknowledge(assignation, urgent=must_wait)
        if must_wait and not await granted:
            return
        token = context.current.set(running)
        name, started = str(message.interface), time.monotonic()
        try:
            if implementation is None:
                raise LookupError(f"This agent has no function {message.interface!r}.")
            kwargs = await decode_args(implementation.node, message.args, self.storage)
            async with self._slot(implementation):
                running.started = True
                await self._run(implementation, kwargs, running)
            if running.cancel_requested.is_set():
                raise AssignationCancelledError("Cancelled by the caller.", assignation=assignation)
            running.send(AssignationEventKind.DONE)
            self._counts["finished"] += 1
            log.info("%s done in %s", name, _took(started))
        except (asyncio.CancelledError, AssignationCancelledError):
            running.send(AssignationEventKind.CANCELLED, message=running.stop_reason)
            self._counts["cancelled"] += 1
            log.info("%s cancelled after %s", name, _took(started))
            if not running.cancel_requested.is_set():
                raise  # the agent itself is shutting down
        except (Exception, SystemExit, KeyboardInterrupt) as error:
            # The function's own sys.exit() or KeyboardInterrupt ends its call, not the app
            # (the app's Ctrl-C reaches it as a cancellation, above).
            said = _failure_message(error)
            frames = _from_the_function(error.__traceback__)
            told = "".join(traceback.format_exception(error.with_traceback(frames)))
            running.send(
                AssignationEventKind.ERROR,
                message=said,
                error_type=type(error).__name__,
                traceback=told if frames else "",
            )
            self._counts["failed"] += 1
            # Where the app runs, its developer sees why (the caller got it too).
            kind, shown = type(error).__name__, error if frames else None
            log.warning("%s failed: %s: %s", name, kind, said, exc_info=shown)
        finally:
            context.current.reset(token)

    def _forget(self, assignation: str) -> None:
        """It is done here; a redelivery of it is ignored."""
        self._running.pop(assignation, None)
        if len(self._finished) == self._finished.maxlen:
            self._finished_set.discard(self._finished[0])
        self._finished.append(assignation)
        self._finished_set.add(assignation)

    def _slot(self, implementation: Implementation) -> asyncio.Semaphore:
        slot = self._slots.get(implementation.interface)
        if slot is None:
            slot = self._slots[implementation.interface] = asyncio.Semaphore(
                implementation.concurrency
            )
        return slot

    async def _run(
        self, implementation: Implementation, kwargs: dict[str, Any], running: context.Running
    ) -> None:
        node, function = implementation.node, implementation.function

        async def yielded(value: Any) -> None:
            if inspect.iscoroutine(value):
                value.close()  # never to be awaited: no warning about it
                raise TypeError(
                    f"{node.name} returned a coroutine: await it. A sync function calls "
                    "others with `with arkitekt.current_client() as client: "
                    "client.call(...)`, whose calls block."
                )
            try:
                returns = await encode_returns(node, value, self.storage)
            except ArgumentError as error:
                raise _misfit(node, error) from None
            yields = [returns]
            if (size := sizes.json_size(yields)) > sizes.MAX_INLINE:
                raise ValueError(sizes.too_large(f"A result of {node.name}", size))
            running.send(AssignationEventKind.YIELD, size=sizes.ENVELOPE + size, yields=yields)

        if implementation.is_generator and implementation.is_async:
            async for value in function(**kwargs):
                await yielded(value)
        elif implementation.is_generator:
            iterator: Iterator[Any] = iter(await context.in_thread(partial(function, **kwargs)))
            done = object()
            while not running.cancel_requested.is_set():
                value = await context.in_thread(next, iterator, done)
                if value is done:
                    break
                await yielded(value)
            await context.in_thread(getattr(iterator, "close", lambda: None))
        else:
            if implementation.is_async:
                result = await function(**kwargs)
            else:
                result = await context.in_thread(partial(function, **kwargs))
            if node.returns and not running.cancel_requested.is_set():
                await yielded(result)
