"""The client for code that is not async: scripts, command-line tools, a Python shell.

    with arkitekt.connect() as client:
        print(client.call("add", a=1, b=2))
        for n in client.stream("count_up", to=5):
            print(n)

It drives the async `Client` on an event loop of its own, in a background thread: each
method hands that loop a coroutine and waits for it. Ctrl-C while waiting cancels the call
on the agent, as cancelling the task does in async code. In async code (and in Jupyter,
where top-level `await` works), use `async with arkitekt.connect()` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from arkitekt.api.enums import ReservationStatus, Strategy
from arkitekt.errors import AssignationCancelledError, ClientClosedError

from . import context

if TYPE_CHECKING:
    from arkitekt.structures import Array, File

    from .agent import Agent, AgentStatistics
    from .caller import Assignation, Client, Reservation, Target
    from .nodes import Node

T = TypeVar("T")

# Seconds a cancelled call gets to tell the platform before Ctrl-C returns control.
CANCEL_GRACE = 5.0


class BlockingClient:
    """A `Client` whose methods block: `with arkitekt.connect() as client:`.

    Resource handling: entering the `with` block starts the background loop and connects;
    leaving it disconnects and stops the loop. `aio` is the async client underneath, for
    anything not offered here: `client.run(client.aio.api.nodes())`.
    """

    def __init__(self, client: Client) -> None:
        self.aio = client
        """The async client this one drives."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._borrowed = False

    def __repr__(self) -> str:
        return repr(self.aio).replace("<Client", "<BlockingClient", 1)

    @property
    def url(self) -> str:
        return self.aio.url

    def __enter__(self) -> BlockingClient:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> BlockingClient:
        """Starts the background loop and connects."""
        if self._loop is not None:
            raise RuntimeError("This client is open already.")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="arkitekt-client", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self.run(self.aio.__aenter__())
        except BaseException:
            self._stop()
            raise
        return self

    def borrow(self, loop: asyncio.AbstractEventLoop) -> BlockingClient:
        """Drives the async client where it is open already, on `loop` in another thread
        (an app's client, from one of its sync functions); closing leaves it open."""
        self._loop, self._borrowed = loop, True
        return self

    def close(self) -> None:
        """Disconnects and stops the background loop. Idempotent."""
        if self._borrowed:
            self._loop = None
        if self._loop is None:
            return
        try:
            self.run(self.aio.__aexit__(None, None, None))
        finally:
            self._stop()

    def _stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(finish(), loop).result(CANCEL_GRACE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Runs an awaitable on the client's loop and returns its result.

        Raises:
            ClientClosedError: The `with` block has ended.
            KeyboardInterrupt: Ctrl-C; the awaitable was cancelled (and a call with it).
        """
        loop = self._loop
        if loop is None or (self._borrowed and self.aio.closed) or running_loop() is loop:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # it will not run: no warning that it was never awaited
            if loop is None or self.aio.closed:
                raise ClientClosedError("This client is closed; open a new one with connect().")
            raise RuntimeError("Blocking calls cannot run on the client's own loop; use `aio`.")
        finished = threading.Event()

        async def guarded() -> T:
            try:
                return await awaitable
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        running = context.current.get()  # a sync function's call, which cancels this too
        try:
            with running.waiting_on(future) if running else contextlib.nullcontext():
                return future.result()
        except BaseException as error:
            if not future.done():  # interrupted while waiting (Ctrl-C): stop it there too
                future.cancel()
                finished.wait(CANCEL_GRACE)
            if running and running.cancel_requested.is_set() and future.cancelled():
                raise AssignationCancelledError(
                    "Cancelled by the caller.", assignation=running.assignation
                ) from error
            raise

    def iterate(self, values: AsyncIterator[T]) -> Iterated[T]:
        """An async iterator of the client's loop as a plain iterator; leaving the loop early
        closes it (for a stream: cancels the call)."""
        return Iterated(values, self._iterated(values))

    def _iterated(self, values: AsyncIterator[T]) -> Generator[T, None, None]:
        try:
            while True:
                try:
                    value = self.run(anext(values))
                except StopAsyncIteration:
                    return
                yield value
        finally:
            close = getattr(values, "aclose", None)
            if close is not None and self._loop is not None:
                self.run(close())

    def node(self, target: Target) -> Node:
        """The stored node a target names (see `Client.node`)."""
        return self.run(self.aio.node(target))

    def call(self, target: Target, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Calls a node and returns its result (see `Client.call`).

        Raises:
            RemoteError: The function raised; `.type`, `.message` and `.traceback` say what.
            AssignationTimeoutError: `timeout` seconds passed; the call was cancelled.
        """
        return self.run(self.aio.call(target, *args, timeout=timeout, **kwargs))

    def stream(self, target: Target, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Calls a generator and iterates over its values as they arrive (see
        `Client.stream`). Leaving the loop early cancels the call."""
        return self.iterate(self.aio.stream(target, *args, **kwargs))

    def map(
        self,
        target: Target,
        *iterables: Iterable[Any],
        in_flight: int = 8,
        timeout: float | None = None,
        **constants: Any,
    ) -> Iterator[Any]:
        """Calls a node once per item, up to `in_flight` calls at a time, and iterates over
        the results in the items' order (see `Client.map`). Leaving the loop early cancels
        the calls still running. A generator among the iterables is read on a worker thread
        as the calls need its items: it may read files, or call this client, for each."""
        calls = self.aio.map(
            target, *_on_loop(iterables), in_flight=in_flight, timeout=timeout, **constants
        )
        return self.iterate(calls)

    def assignation(self, id: str) -> Assignation:
        """A handle on a call of yours, by its id (see `Client.assignation`); its async
        methods run with `client.run(...)` and `client.iterate(...)`."""
        return self.run(self.aio.assignation(id))

    def expand(self, reference: str) -> Array | File:
        """The Array or File a blob reference names (see `Client.expand`); read it with
        `np.asarray(array)` or `file.read_sync()`."""
        return self.run(self.aio.expand(reference))

    def reserve(
        self,
        target: Target,
        *,
        strategy: Strategy = Strategy.ROUND_ROBIN,
        min_instances: int = 1,
        agents: list[str] | None = None,
    ) -> BlockingReservation:
        """Reserves a node (see `Client.reserve`)."""
        reservation = self.run(
            self.aio.reserve(target, strategy=strategy, min_instances=min_instances, agents=agents)
        )
        return BlockingReservation(self, reservation)

    def serve(
        self, *functions: Callable[..., Any], name: str | None = None, teams: Sequence[str] = ()
    ) -> BlockingAgent:
        """Serves functions from this process in the background (see `Client.serve`),
        until `agent.close()` or until this client closes."""
        return BlockingAgent(self, self.run(self.aio.serve(*functions, name=name, teams=teams)))


class Iterated(Generic[T]):
    """What `iterate` returns: a plain iterator over an async one of the client's loop,
    which `map` takes back to that loop (`aio`)."""

    def __init__(self, values: AsyncIterator[T], plain: Generator[T, None, None]) -> None:
        self.aio = values
        self._plain = plain

    def __iter__(self) -> Iterated[T]:
        return self

    def __next__(self) -> T:
        return next(self._plain)

    def close(self) -> None:
        """Stops it early (for a stream: cancels the call)."""
        self._plain.close()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop(iterables: Sequence[Iterable[Any]]) -> list[Any]:
    """The iterables for `map`, a stream of this client's as the async one it reads: the
    calls are fed on the loop, as in async code. Other iterators (a generator that reads
    files, or calls this client) are read on a worker thread, so they hold up neither the
    loop nor themselves."""
    return [
        each.aio
        if isinstance(each, Iterated)
        else _read_aside(each)
        if isinstance(each, Iterator)
        else each
        for each in iterables
    ]


async def _read_aside(values: Iterator[Any]) -> AsyncIterator[Any]:
    end = object()
    while (value := await context.in_thread(next, values, end)) is not end:
        yield value


class BlockingAgent:
    """An `Agent` that `BlockingClient.serve` started; it serves on the client's loop."""

    def __init__(self, client: BlockingClient, agent: Agent) -> None:
        self.client = client
        self.aio = agent
        """The async agent underneath."""

    def __repr__(self) -> str:
        return repr(self.aio).replace("<Agent", "<BlockingAgent", 1)

    @property
    def id(self) -> str | None:
        return self.aio.id

    @property
    def closed(self) -> bool:
        return self.aio.closed

    def statistics(self) -> AgentStatistics:
        return self.aio.statistics()

    def close(self) -> None:
        """Stops serving: running calls get a few seconds to finish (see `Agent.close`)."""
        self.client.run(self.aio.close())


class BlockingReservation:
    """A `Reservation` whose methods block; calls through it follow its strategy."""

    def __init__(self, client: BlockingClient, reservation: Reservation) -> None:
        self.client = client
        self.aio = reservation
        """The async reservation underneath."""

    def __repr__(self) -> str:
        return repr(self.aio).replace("<Reservation", "<BlockingReservation", 1)

    @property
    def id(self) -> str:
        return self.aio.id

    @property
    def node(self) -> Node:
        return self.aio.node

    @property
    def status(self) -> ReservationStatus:
        return self.aio.status

    def call(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return self.client.run(self.aio.call(*args, timeout=timeout, **kwargs))

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return self.client.iterate(self.aio.stream(*args, **kwargs))

    def map(
        self,
        *iterables: Iterable[Any],
        in_flight: int = 8,
        timeout: float | None = None,
        **constants: Any,
    ) -> Iterator[Any]:
        """A call per item through this reservation (see `BlockingClient.map`)."""
        calls = self.aio.map(
            *_on_loop(iterables), in_flight=in_flight, timeout=timeout, **constants
        )
        return self.client.iterate(calls)

    def wait_active(self, timeout: float | None = None) -> None:
        """Waits until enough instances are live to serve the reservation.

        Raises:
            TimeoutError: It was not active within `timeout` seconds.
        """

        async def waiting() -> None:
            async with asyncio.timeout(timeout):
                await self.aio.wait_active()

        self.client.run(waiting())

    def unreserve(self) -> None:
        self.client.run(self.aio.unreserve())
