"""The caller's side: find a node, reserve it, assign to it, follow the call.

    async with arkitekt.connect() as client:
        print(await client.call("add", a=1, b=2))
        async for n in client.stream("count_up", to=5):
            print(n)

A target is a node name (unambiguous), a node hash or id, a `Node`, or a registered
function. Arguments are checked against the node's ports before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import logging
import re
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from arkitekt.api.client import Client as ApiClient
from arkitekt.api.enums import AssignationEventKind, LogLevel, NodeKind, ReservationStatus, Strategy
from arkitekt.api.fragments import EventData
from arkitekt.config import resolve_config
from arkitekt.errors import (
    AgentDisconnectedError,
    ApiError,
    ArgumentError,
    AssignationCancelledError,
    AssignationError,
    AssignationTimeoutError,
    ConfigurationError,
    FellBehindError,
    NotFoundError,
    RemoteError,
    ServerUnavailableError,
    TargetError,
)
from arkitekt.sizes import MAX_INLINE, json_size, too_large
from arkitekt.transport import OUTAGE_DELAYS, Transport

from .context import current as running_call
from .nodes import Node, node_of
from .registry import implementation_of
from .storage import storage_of

if TYPE_CHECKING:
    from arkitekt.structures import Array, File

    from .agent import Agent
    from .blocking import BlockingClient

Target: TypeAlias = "str | Node | Callable[..., Any]"

TERMINAL = frozenset(
    {
        AssignationEventKind.DONE,
        AssignationEventKind.ERROR,
        AssignationEventKind.CRITICAL,
        AssignationEventKind.CANCELLED,
        AssignationEventKind.DISCONNECTED,
    }
)
EVENT_BACKLOG = 16 << 20
"""Bytes of a call's events that may wait unread before its subscription is stopped (and
resumed from the last event read)."""
AHEAD = 4
"""How many results per call in flight `map` may hold, finished, while an earlier one
runs or its reader is busy."""
_HASH = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")

call_log = logging.getLogger("arkitekt.calls")
"""The log lines and progress of the calls `call` and `stream` follow, as `logging`
records (`"segment: found 12 cells"`): warnings and errors print unless logging says
otherwise, INFO shows once logging is configured to show it."""
PROGRESS_STEP = 10.0
"""Percent a call's progress moves before it is told again: a long loop's thousand
reports make a few lines."""

_current: ContextVar[Client | None] = ContextVar("arkitekt_caller", default=None)
_opened: list[Client] = []
"""Clients opened without a block (`await connect().open()`), newest last: a notebook's
later cells run in other contexts, and still find the one it opened."""


@dataclass(frozen=True)
class Event:
    """One event of an assignation, in order.

    A YIELD's `yields` holds what the function yielded, oldest first: one entry per yield,
    the value itself (a tuple when the function returns several). Yields that queue up on
    the agent travel as one event.
    """

    assignation: str
    sequence: int
    kind: AssignationEventKind
    yields: tuple[Any, ...] = ()
    message: str | None = None
    progress: float | None = None
    level: LogLevel | None = None
    error_type: str | None = None
    traceback: str | None = None
    created_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL

    def __repr__(self) -> str:
        """`Event(2 PROGRESS progress=50.0 message='step 2 of 2')`: what it says, no Nones
        (and no traceback, which `traceback` holds whole)."""
        told = [f"{self.sequence} {self.kind.value}"]
        for name in ("yields", "progress", "message", "level", "error_type"):
            value = getattr(self, name)
            if value not in (None, ()):
                told.append(f"{name}={value.value if isinstance(value, enum.Enum) else value!r}")
        return f"Event({' '.join(told)})"


def _value(node: Node, values: tuple[Any, ...]) -> Any:
    if not node.returns:
        return None
    return values[0] if len(node.returns) == 1 else values


Batches: TypeAlias = AsyncIterator[list[EventData]]


class Assignation:
    """A call in flight: its events, its result, and a way to cancel it.

    Resource handling: a handle made by `assign` holds the live stream of its events
    (one subscription started the call and follows it); the first `events()` reads it, later
    ones subscribe again from the platform's record.
    """

    def __init__(
        self,
        client: Client,
        node: Node,
        id: str,
        stream: Batches | None = None,
        received: list[EventData] | None = None,
    ) -> None:
        self.client = client
        self.node = node
        self.id = id
        self._finished = False
        self._cancel_reason: str | None = None
        self._stream = stream
        self._received = received or []
        self._progress_told = -PROGRESS_STEP

    def __repr__(self) -> str:
        return f"<Assignation {self.id} of {self.node.name}>"

    @property
    def queued(self) -> bool:
        """Whether the platform queued it when it was made: no agent could take it then."""
        kinds = [event.kind for event in self._received]
        return bool(kinds) and kinds[-1] is AssignationEventKind.QUEUED

    async def _decode(self, raw: EventData) -> Event:
        yields: list[Any] = []
        if raw.kind is AssignationEventKind.YIELD:
            storage = self.client.storage
            for values in raw.yields or ():
                expanded = await self.node.expand_returns(values or [], storage=storage)
                yields.append(_value(self.node, expanded))
        return Event(
            assignation=raw.assignation,
            sequence=raw.sequence,
            kind=raw.kind,
            yields=tuple(yields),
            message=raw.message,
            progress=raw.progress,
            level=raw.level,
            error_type=raw.error_type,
            traceback=raw.traceback,
        )

    async def events(self, after: int = 0) -> AsyncIterator[Event]:
        """Every event after sequence `after`, in order, ending with the terminal one.

        A lost connection is resumed from the last event seen: no gaps, no duplicates. So is
        a stream that this loop reads more slowly than it arrives, once more than
        `EVENT_BACKLOG` bytes of it wait: memory stays bounded however long the stream.
        """
        last, attempt, ended = after, 0, False
        while True:
            try:
                async for batch in self._batches(last):
                    attempt = 0
                    for raw in batch:
                        if raw.sequence <= last or ended:
                            continue
                        last = raw.sequence
                        event = await self._decode(raw)
                        if event.kind is AssignationEventKind.CANCELLING and event.message:
                            self._cancel_reason = event.message
                        ended = event.terminal
                        if ended:
                            self._finished = True
                            self.client._attached.discard(self)
                        yield event
                # The server ends the stream right after the terminal event: reading on to
                # that end closes the subscription without another message either way.
                return
            except FellBehindError:
                if ended:
                    return
            except ServerUnavailableError:
                if ended:
                    return
                if attempt >= len(OUTAGE_DELAYS):  # as long as any request tries again
                    raise
                await asyncio.sleep(OUTAGE_DELAYS[attempt])
                attempt += 1

    async def _batches(self, after: int) -> Batches:
        stream, self._stream = self._stream, None
        if stream is None or after >= 1:
            stream = self.client.api.watch_assignation_events(assignation=self.id, after=after)
        elif self._received:
            yield self._received
        async for batch in stream:
            yield batch

    def _raise_for(self, event: Event) -> None:
        match event.kind:
            case AssignationEventKind.ERROR | AssignationEventKind.CRITICAL:
                raise RemoteError(
                    type=event.error_type or "Error",
                    message=event.message or "",
                    traceback=event.traceback or "",
                    assignation=self.id,
                )
            case AssignationEventKind.CANCELLED:
                # The agent's last word only says it stopped; the platform's says why.
                why = self._cancel_reason or event.message or ""
                raise AssignationCancelledError(
                    f"{self.node.name} was cancelled: {why}".strip(),
                    assignation=self.id,
                )
            case AssignationEventKind.DISCONNECTED:
                raise AgentDisconnectedError(
                    f"The agent running {self.node.name} disconnected.", assignation=self.id
                )

    async def values(self) -> AsyncIterator[Any]:
        """The results as they are yielded; raises when the call fails."""
        ended = False
        async for event in self.events():
            if event.kind is AssignationEventKind.YIELD:
                for value in event.yields:
                    yield value
            elif event.terminal:
                ended = True
                self._raise_for(event)  # a success reads on to the end of the events
            else:
                self._tell(event)
        if not ended:
            raise AssignationError(f"The events of {self.id} ended early.", assignation=self.id)

    def _tell(self, event: Event) -> None:
        """Passes a LOG or PROGRESS event on to `logging` (`call_log`)."""
        if event.kind is AssignationEventKind.LOG:
            self._tell_log(event.message or "", event.level or LogLevel.INFO)
        elif event.kind is AssignationEventKind.PROGRESS and event.progress is not None:
            self._tell_progress(event.progress, event.message)

    def _tell_log(self, message: str, level: LogLevel) -> None:
        extra = {"assignation": self.id, "function": self.node.name}
        call_log.log(
            logging.getLevelName(level.value), "%s: %s", self.node.name, message, extra=extra
        )
        outer = running_call.get()
        if outer is not None:  # a running function made this call: its caller hears it too
            line = f"{self.node.name}: {message}"
            outer.send(AssignationEventKind.LOG, message=line, level=level)

    def _tell_progress(self, percent: float, message: str | None) -> None:
        finished = percent == 100 > self._progress_told
        if percent < self._progress_told + PROGRESS_STEP and not finished:
            return
        self._progress_told = percent
        about = f": {message}" if message else ""
        extra = {"assignation": self.id, "function": self.node.name}
        call_log.info("%s %d%%%s", self.node.name, percent, about, extra=extra)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.values()

    async def result(self) -> Any:
        """The function's return value (for a generator: the list of yielded values)."""
        collected = [value async for value in self.values()]
        if self.node.kind is NodeKind.GENERATOR:
            return collected
        return collected[-1] if collected else None

    async def cancel(self) -> None:
        """Asks the agent to stop; nothing changes when the call already ended."""
        if not self._finished:
            await self.client.api.cancel(assignation=self.id)

    async def _cancel_quietly(self) -> None:
        if self.client.closed:
            return  # closing the client cancelled it already
        with contextlib.suppress(ApiError, ServerUnavailableError, TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.shield(self.cancel())


class Reservation:
    """A standing claim on a node; calls through it follow its strategy."""

    def __init__(self, client: Client, node: Node, id: str, status: ReservationStatus) -> None:
        self.client = client
        self.node = node
        self.id = id
        self.status = status

    def __repr__(self) -> str:
        return f"<Reservation {self.id} of {self.node.name}: {self.status.value}>"

    async def assign(
        self, *args: Any, reference: str | None = None, detached: bool = False, **kwargs: Any
    ) -> Assignation:
        return await self.client._assign(self.node, args, kwargs, self.id, reference, detached)

    async def call(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return await self.client._call(await self.assign(*args, **kwargs), timeout)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for value in self.client._stream(await self.assign(*args, **kwargs)):
            yield value

    def map(
        self,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        in_flight: int = 8,
        timeout: float | None = None,
        **constants: Any,
    ) -> AsyncIterator[Any]:
        """A call per item through this reservation, as `Client.map` makes them: with
        `Strategy.LEAST_BUSY`, items that take long do not hold up the others."""
        call = functools.partial(self.call, timeout=timeout, **constants)
        return _mapped(call, iterables, in_flight)

    async def watch(self) -> AsyncIterator[Reservation]:
        """This reservation each time its status changes, starting with the current one."""
        async for update in self.client.api.watch_reservations(reservation=self.id):
            self.status = update.status
            yield self

    async def wait_active(self) -> None:
        async for reservation in self.watch():
            if reservation.status is ReservationStatus.ACTIVE:
                return

    async def unreserve(self) -> None:
        result = await self.client.api.unreserve(reservation=self.id)
        self.status = result.status


class Client:
    """A connection to the platform: the generated API (`client.api`) plus calling helpers.

    Resource handling: `async with` opens it and makes it the current client, for the
    module-level helpers (`arkitekt.call`) and the generated functions
    (`arkitekt.api.create_node`). Where a block does not fit, as across a notebook's cells,
    `client = await arkitekt.connect().open()` opens it and `await client.close()` closes it.
    """

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        transport = Transport(url, token)
        # A slow reader of a fast stream resumes from the platform's record instead of
        # holding the whole stream in memory.
        transport.backlogs = {"Call": EVENT_BACKLOG, "WatchAssignationEvents": EVENT_BACKLOG}
        self.api = ApiClient(transport)
        self.storage = storage_of(self.api)
        """Central storage: where structures in arguments and results live."""
        self._by_key: dict[str, Node] = {}
        self._tokens: list[Any] = []
        self._blocking: tuple[threading.Thread, BlockingClient] | None = None
        """The blocking client a `with` block opened, and its thread (whose `with` blocks
        nest in it: `_nested` deep)."""
        self._nested = 0
        self._entering = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop it is open on."""
        self._attached: set[Assignation] = set()
        """The calls that end with this client: it cancels those unfinished when it closes."""
        self._served: list[tuple[Agent, contextlib.ExitStack]] = []
        """The agents `serve` started, each with its instance slot: closed with the client."""
        self.closed = False

    def __repr__(self) -> str:
        return f"<Client {self.url}{' (closed)' if self.closed else ''}>"

    async def __aenter__(self) -> Client:
        await self.api.__aenter__()
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._tokens.append(_current.set(self))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tokens:
            with contextlib.suppress(ValueError):
                _current.reset(self._tokens.pop())
        # A loop left by an exception leaves its call running until the platform notices
        # nobody follows it; stop it now, while the connection is still open.
        await asyncio.gather(*(a._cancel_quietly() for a in self._attached))
        self._attached.clear()
        await asyncio.gather(*(agent.close() for agent, _ in self._served))
        self._release_served()
        self.closed = True
        self._loop = None
        await self.api.__aexit__(*exc_info)

    async def open(self) -> Client:
        """Connects, as entering `async with` does; returns the client, which is then the
        current one (for `arkitekt.call`) wherever no block makes another current."""
        await self.__aenter__()
        _opened.append(self)
        return self

    async def close(self) -> None:
        """Cancels the unfinished calls it made (unless detached) and disconnects, as
        leaving `async with` does."""
        with contextlib.suppress(ValueError):
            _opened.remove(self)
        await self.__aexit__(None, None, None)

    async def serve(
        self,
        *functions: Callable[..., Any],
        name: str | None = None,
        teams: Sequence[str] = (),
    ) -> Agent:
        """Serves functions from this process, in the background, until `await
        agent.close()` or until this client closes: a notebook shares what it defines.

        Args:
            functions: What to serve (and startups to run first); by default every function
                `@register` recorded in this process, including those registered (or
                registered again, as when a notebook's cell runs again) while it serves.
            name: The app's name; by default the script's, or the notebook's, or
                "notebook". Restarting the process (a notebook's kernel) serves as the same
                agent again.
            teams: The names of the teams whose members see and call them.

        Returns:
            The agent, registered and live.

        Raises:
            RuntimeError: This client serves an app of that name already.
        """
        from .agent import Agent
        from .instances import claim_instance
        from .registry import Registry, default_registry

        self._release_served()
        registry = Registry.of(*functions) if functions else default_registry()
        name = name or _session_name()
        for agent, _ in self._served:
            if agent.name == name:
                raise RuntimeError(
                    f"This client serves {name} already ({agent!r}): close that agent first, "
                    "or serve these functions under another name."
                )
        user = (await self.api.me()).id
        slot = contextlib.ExitStack()
        instance = slot.enter_context(claim_instance(self.url, user, name))
        agent = Agent(self, registry, name=name, instance=instance, teams=teams)
        try:
            await agent.__aenter__()
        except BaseException:
            slot.close()
            raise
        self._served.append((agent, slot))
        return agent

    def _release_served(self) -> None:
        """Frees the instance slots of the agents `serve` started that have closed."""
        for agent, slot in list(self._served):
            if agent.closed:
                slot.close()
                self._served.remove((agent, slot))

    def __enter__(self) -> BlockingClient:
        """For code that is not async: `with arkitekt.connect() as client:` gives a client
        with the same `call`, `stream` (a plain iterator) and `reserve`, driven on an event
        loop in a background thread.

        A client open already lends its connection instead: in a sync function, `with
        arkitekt.current_client() as client:` calls through the app's own client.

        Raises:
            RuntimeError: The client is open on this thread's loop, which a blocking call
                would stall: use it with `await` there.
        """
        from .blocking import BlockingClient, running_loop

        here = threading.current_thread()
        with self._entering:
            if self._blocking is not None and self._blocking[0] is here:
                self._nested += 1
                return self._blocking[1]
            loop = self._loop
            if loop is None:
                self._blocking, self._nested = (here, BlockingClient(self).open()), 1
                return self._blocking[1]
        if running_loop() is loop:
            raise RuntimeError(
                "This client is open on this thread's event loop, which blocking calls would "
                "stall: use it with await (`await client.call(...)`)."
            )
        return BlockingClient(self).borrow(loop)

    def __exit__(self, *exc_info: object) -> None:
        with self._entering:
            if self._blocking is None or self._blocking[0] is not threading.current_thread():
                return  # a block that borrowed the client: it stays open
            self._nested -= 1
            if self._nested:
                return
            blocking, self._blocking = self._blocking[1], None
        blocking.close()

    async def node(self, target: Target) -> Node:
        """The stored node a target names. Raises TargetError when none or several match."""
        if isinstance(target, Node):
            return target if target.id else await self._local(target)
        if callable(target):
            implementation = implementation_of(target)
            return await self._local(implementation.node if implementation else node_of(target))
        if _HASH.fullmatch(target):
            return await self._by_hash(target, target)
        if _ID.fullmatch(target):
            return await self._lookup(target, id=target)
        return await self._by_node_name(target)

    async def _local(self, node: Node) -> Node:
        """A local definition, with the stored node's id: results decode to local types."""
        stored = await self._by_hash(node.hash, node.name)
        return dataclasses.replace(node, id=stored.id)

    async def _lookup(self, key: str, **where: str) -> Node:
        cached = self._by_key.get(key)
        if cached is not None:
            return cached
        found = await self.api.get_node(**where)
        if found is None:
            raise TargetError(f"No node {key}; `arkitekt nodes` lists the nodes you can call.")
        node = Node.from_data(found.model_dump())
        self._by_key[key] = node
        return node

    async def _by_hash(self, hash: str, label: str) -> Node:
        try:
            return await self._lookup(hash, hash=hash)
        except TargetError:
            raise TargetError(
                f"{label} (hash {hash[:12]}) is not on the platform: run its app "
                "(`arkitekt run app.py`) so that it registers"
            ) from None

    async def _by_node_name(self, name: str) -> Node:
        # Not cached: a name may move to a new version of the function at any moment
        # (`arkitekt dev` reloads); hashes and ids never change, and are cached.
        found = await self.api.nodes(name=name)
        live = [n for n in found if n.implementations]
        current = [n for n in found if not n.superseded]  # older versions are never meant
        candidates = live or current or found
        if not candidates:
            raise TargetError(
                f"No node named {name!r}; `arkitekt nodes` lists the nodes you can call."
            )
        if len(candidates) > 1:
            listed = "; ".join(f"{n.hash[:12]} ({len(n.implementations)} live)" for n in candidates)
            raise TargetError(f"{name!r} names {len(candidates)} nodes, call one by hash: {listed}")
        node = Node.from_data(candidates[0].model_dump())
        return node

    async def assignation(self, id: str) -> Assignation:
        """A handle on a call of yours, by its id: one assigned `detached` earlier, from
        another process, or from the dashboard.

        Raises:
            TargetError: No call of yours has this id.
        """
        found = await self.api.get_assignation(id=id)
        if found is None:
            raise TargetError(
                f"No call of yours with id {id!r}; `arkitekt assignations` lists your recent calls."
            )
        return Assignation(self, await self.node(found.node.id), found.id)

    async def expand(self, reference: str) -> Array | File:
        """The Array or File a blob reference names (as calls, the dashboard and
        `arkitekt upload` print them): an Array reads lazily, a region at a time; a File
        streams.

        Raises:
            StructureError: The reference names no blob of yours, or one that is neither.
        """
        from arkitekt.structures import expand

        with self.storage.activate():
            return await expand(reference)

    async def reserve(
        self,
        target: Target,
        *,
        strategy: Strategy = Strategy.ROUND_ROBIN,
        min_instances: int = 1,
        agents: list[str] | None = None,
    ) -> Reservation:
        """Reserves a node: calls through the reservation follow `strategy`, among `agents`
        when given (a named agent: `agents=[id]`)."""
        node = await self.node(target)
        assert node.id is not None
        result = await self.api.reserve(
            node=node.id, strategy=strategy, min_instances=min_instances, agents=agents
        )
        return Reservation(self, node, result.id, result.status)

    async def assign(
        self,
        target: Target,
        *args: Any,
        reference: str | None = None,
        detached: bool = False,
        **kwargs: Any,
    ) -> Assignation:
        """Starts a call and returns its handle at once.

        The call ends with this client: closing the client cancels it if it is unfinished,
        and the platform cancels it once nobody has followed its events for a minute (this
        process died). A `detached` call runs on; read it later with
        `await client.assignation(id)`.

        Raises:
            TargetError: The target names no node, or several.
            ArgumentError: An argument does not fit its port; nothing was sent.
        """
        node = await self.node(target)
        assignation = await self._assign(node, args, kwargs, None, reference, detached)
        if isinstance(target, str) and not _HASH.fullmatch(target) and assignation.queued:
            # A name may have moved to a new version between finding it and assigning
            # (an app reloaded): the old version will never serve again, the new one will.
            current = await self._by_node_name(target)
            if current.id != node.id:
                await assignation._cancel_quietly()
                return await self._assign(current, args, kwargs, None, reference, detached)
        return assignation

    async def _assign(
        self,
        node: Node,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        reservation: str | None,
        reference: str | None,
        detached: bool = False,
    ) -> Assignation:
        wire = await node.shrink_args(args, kwargs, storage=self.storage)
        sizes = {key: json_size(value) for key, value in wire.items()}
        if (total := sum(sizes.values())) > MAX_INLINE:
            largest = max(sizes, key=sizes.__getitem__)
            alone = sizes[largest] > MAX_INLINE
            what = too_large("it" if alone else "with the others, it", total)
            raise ArgumentError(what, port=largest)
        # One subscription stores the call and streams its events: its first event is the
        # platform's acknowledgement, and carries the assignation's id.
        stream = self.api.call(
            node=None if reservation else node.id,
            reservation=reservation,
            args=wire,
            reference=reference,
            detached=detached,
        )
        acknowledged = asyncio.ensure_future(anext(stream))
        try:
            first = await asyncio.shield(acknowledged)
        except NotFoundError:
            self._by_key.clear()
            raise
        except asyncio.CancelledError:
            # The platform may have stored the call already (its agent may be running it):
            # learn its id and cancel it, so that a cancelled caller leaves nothing behind.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    stored = await acknowledged
                    await self.api.cancel(assignation=stored[0].assignation)
            acknowledged.cancel()  # no acknowledgement within the timeout: stop waiting
            close = getattr(stream, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            raise
        assignation = Assignation(self, node, first[0].assignation, stream, first)
        if not detached:
            self._attached.add(assignation)
        return assignation

    async def call(
        self, target: Target, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Calls a node and returns its result (a generator's: the list of its values).

        Cancelling the calling task cancels the call on the agent.

        Raises:
            RemoteError: The function raised; `.type`, `.message` and `.traceback` say what.
            AssignationTimeoutError: `timeout` seconds passed; the call was cancelled.
        """
        return await self._call(await self.assign(target, *args, **kwargs), timeout)

    async def _call(self, assignation: Assignation, timeout: float | None) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await assignation.result()
        except TimeoutError:
            await assignation._cancel_quietly()
            raise AssignationTimeoutError(
                f"{assignation.node.name} did not finish within {timeout}s; it was cancelled.",
                assignation=assignation.id,
            ) from None
        except asyncio.CancelledError:
            await assignation._cancel_quietly()
            raise

    async def stream(self, target: Target, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Calls a generator and yields its values as they arrive.

        Leaving the loop early (or cancelling the task) cancels the call on the agent.
        """
        async for value in self._stream(await self.assign(target, *args, **kwargs)):
            yield value

    def map(
        self,
        target: Target,
        *iterables: Iterable[Any] | AsyncIterable[Any],
        in_flight: int = 8,
        timeout: float | None = None,
        **constants: Any,
    ) -> AsyncIterator[Any]:
        """Calls a node once per item, as the built-in `map` would, up to `in_flight` calls
        at a time, and yields their results in the items' order:

            async for mask in client.map("segment", frames, threshold=0.5):

        The iterables give the positional arguments (zipped; they must be as long as each
        other), `constants` the keyword arguments every call shares, and `timeout` bounds
        each call (as `call` does). An iterable may be async, such as another call's stream,
        whose values are then analysed as they arrive:
        `client.map("segment", client.stream("acquire", frames=100))`. A call that fails
        raises its error in its turn, and the calls still running are cancelled; so are
        they, and the streams feeding them, when the loop is left early.

        Raises:
            ValueError: `in_flight` is below 1, or the iterables differ in length.
        """
        call = functools.partial(self.call, target, timeout=timeout, **constants)
        return _mapped(call, iterables, in_flight)

    async def _stream(self, assignation: Assignation) -> AsyncIterator[Any]:
        completed = False
        try:
            async for value in assignation.values():
                yield value
            completed = True
        finally:
            if not completed and not assignation._finished:
                await assignation._cancel_quietly()


async def _mapped(
    call: Callable[..., Awaitable[Any]],
    iterables: Sequence[Iterable[Any] | AsyncIterable[Any]],
    in_flight: int,
) -> AsyncIterator[Any]:
    """`call` for each row of the iterables, `in_flight` at a time; the results in order.

    The rows are read and their calls started by a task of their own, so that each
    result is yielded as soon as it is in (not when the next row arrives, which may be a
    microscope's next frame), and a call that ends frees its place for the next row even
    while an earlier one still runs. At most `AHEAD * in_flight` results wait to be read:
    a slow reader, or a slow item, holds back the rows after them.
    """
    if in_flight < 1:
        raise ValueError(f"in_flight must be at least 1, not {in_flight}")
    places = asyncio.Semaphore(in_flight)
    unread = asyncio.Semaphore(AHEAD * in_flight)
    started: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()

    async def one(args: tuple[Any, ...]) -> Any:
        try:
            return await call(*args)
        finally:
            places.release()

    async def feed() -> None:
        rows = _zipped(iterables)
        try:
            async for args in rows:
                await unread.acquire()
                await places.acquire()
                started.put_nowait(asyncio.ensure_future(one(args)))
        finally:
            await rows.aclose()

    feeder = asyncio.ensure_future(feed())
    feeder.add_done_callback(started.put_nowait)  # after every call it started
    taken: asyncio.Future[Any] = feeder
    try:
        while (taken := await started.get()) is not feeder:
            unread.release()
            yield await taken
        feeder.result()  # the iterables' own failure, in its turn
    finally:
        left: list[asyncio.Future[Any]] = [feeder, taken]
        while not started.empty():
            left.append(started.get_nowait())
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


async def _zipped(
    iterables: Sequence[Iterable[Any] | AsyncIterable[Any]],
) -> AsyncGenerator[tuple[Any, ...], None]:
    """The rows of `zip(*iterables, strict=True)`, over plain and async iterables alike;
    the async ones are closed at the end (a stream's call with them)."""
    sources = [_async(each) for each in iterables]
    rows = 0
    try:
        while True:
            row = []
            for source in sources:
                with contextlib.suppress(StopAsyncIteration):
                    row.append(await anext(source))
            if not row:
                return
            if len(row) < len(sources):
                raise ValueError(f"map's iterables differ in length: one ended after {rows}")
            rows += 1
            yield tuple(row)
    finally:
        for source in sources:
            await source.aclose()


async def _async(values: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    """The values, asynchronously; an async iterable is closed when this is."""
    if isinstance(values, AsyncIterable):
        try:
            async for value in values:
                yield value
        finally:
            close = getattr(values, "aclose", None)
            if close is not None:
                await close()
    else:
        for value in values:
            yield value


def current_client() -> Client:
    """The client of the enclosing `async with arkitekt.connect()` block, else the one
    opened last with `open()`: in a registered function, the client its app serves with
    (sync code uses it as `with arkitekt.current_client() as client:`)."""
    client = _current.get() or (_opened[-1] if _opened else None)
    if client is None:
        raise ConfigurationError(
            "No arkitekt client is active. Use `async with arkitekt.connect():` around this call."
        )
    return client


def connect(url: str | None = None, token: str | None = None) -> Client:
    """A client for the platform at `url` (default: `ARKITEKT_URL`, then the config file
    `arkitekt server` wrote). Use it as `async with arkitekt.connect() as client:`, or, in
    code that is not async, as `with arkitekt.connect() as client:` (a `BlockingClient`)."""
    config = resolve_config(url, token)
    return Client(config.url, config.token)


def _session_name() -> str:
    """The app name of a script's or a notebook's functions: the script's name, or the
    notebook's (which Jupyter tells its kernels)."""
    import os
    import sys
    from pathlib import Path

    from .apps import app_name

    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script:
        return app_name(Path(script))
    notebook = os.environ.get("JPY_SESSION_NAME")
    return Path(notebook).stem if notebook else "notebook"
