"""What a running function can ask of its assignation: report progress, log, check for cancel.

These work in async functions, sync functions (which run in a worker thread) and
generators of both kinds; outside an assignation they do nothing. What a function prints
or logs with `logging` reaches its caller the same way (`forwarding`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from arkitekt.api.enums import AssignationEventKind, LogLevel
from arkitekt.api.input_types import EventInput
from arkitekt.errors import AssignationCancelledError

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
T = TypeVar("T")

MAX_TEXT = 64 * 1024
"""Characters a log line, a message or a traceback keeps: events stay small messages."""
CLIPPED = ("message", "traceback")


@dataclass
class Running:
    """The assignation a function is running for."""

    assignation: str
    report: Callable[[EventInput, int | None], None]
    """Takes an event, and its size when known."""
    loop: asyncio.AbstractEventLoop
    reported: int = 0
    """How many events it reported: each event's `index` (the platform skips repeats)."""
    interruptible: bool = True
    """Async code is cancelled at once; sync code is asked to stop."""
    started: bool = False
    """Whether the function runs yet (it may wait for a free slot)."""
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = "Cancelled."
    """What the CANCELLED event says when it comes."""
    printing: str = ""
    """What the function printed since its last whole line."""
    waiting: set[Future[Any]] = field(default_factory=set)
    """What sync code waits for from the loop (the calls it makes): cancelled with it."""

    def request_cancel(self, reason: str | None = None) -> None:
        """Asks the function to stop, and stops the calls its sync code waits for."""
        self.stop_reason = reason or self.stop_reason
        self.cancel_requested.set()
        for future in list(self.waiting):
            future.cancel()

    @contextlib.contextmanager
    def waiting_on(self, future: Future[Any]) -> Iterator[None]:
        """While sync code waits for `future`, a cancel request cancels it."""
        self.waiting.add(future)
        try:
            if self.cancel_requested.is_set():
                future.cancel()
            yield
        finally:
            self.waiting.discard(future)

    def printed(self, text: str) -> None:
        """Output of `print`: each whole line goes to the caller as an INFO log line."""
        if "\n" not in text:
            self.printing += text
            return
        *lines, rest = (self.printing + text).split("\n")
        self.printing = ""
        for line in lines:
            self.send(AssignationEventKind.LOG, message=line, level=LogLevel.INFO)
        self.printing = rest

    def send(self, kind: AssignationEventKind, size: int | None = None, **values: Any) -> None:
        """Reports an event, from the loop or from a worker thread, in order."""
        if self.printing:  # a line printed without its end comes before what follows it
            line, self.printing = self.printing, ""
            self.send(AssignationEventKind.LOG, message=line, level=LogLevel.INFO)
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:  # a worker thread running sync code
            on_loop = False
        if on_loop:
            self._emit(kind, size, values)
        else:
            self.loop.call_soon_threadsafe(self._emit, kind, size, values)

    def _emit(self, kind: AssignationEventKind, size: int | None, values: dict[str, Any]) -> None:
        for name in CLIPPED:
            if len(values.get(name) or "") > MAX_TEXT:
                values[name] = clip(values[name])
        self.reported += 1
        event = EventInput(assignation=self.assignation, index=self.reported, kind=kind, **values)
        self.report(event, size)


def clip(text: str) -> str:
    """A text cut to `MAX_TEXT` characters, saying how much was cut."""
    return f"{text[:MAX_TEXT]}… ({len(text) - MAX_TEXT} more characters)"


current: ContextVar[Running | None] = ContextVar("arkitekt_running", default=None)


def progress(percent: float, message: str | None = None) -> None:
    """Reports how far the function got (0 to 100), with an optional message.

    Raises:
        AssignationCancelledError: The caller cancelled the assignation; let it propagate.
    """
    running = current.get()
    if running is None:
        return
    if running.cancel_requested.is_set():
        raise AssignationCancelledError("Cancelled by the caller.", assignation=running.assignation)
    percent = min(100.0, max(0.0, float(percent)))
    running.send(AssignationEventKind.PROGRESS, progress=percent, message=message)


def log(message: str, level: Level = "INFO") -> None:
    """Sends a log line to the caller, in order with the function's results."""
    running = current.get()
    if running is None:
        return
    running.send(AssignationEventKind.LOG, message=str(message), level=LogLevel(level))


def cancelled() -> bool:
    """Whether the caller asked to cancel: sync functions check this to stop early."""
    running = current.get()
    return running is not None and running.cancel_requested.is_set()


class CallLogs(logging.Handler):
    """Sends the `logging` records a running function emits (its own, its libraries') to
    its caller as LOG events, in order with its results. Records outside a call, and the
    platform's own, are left to the other handlers."""

    LEVELS = {"DEBUG": LogLevel.DEBUG, "INFO": LogLevel.INFO, "WARNING": LogLevel.WARNING}

    def emit(self, record: logging.LogRecord) -> None:
        running = current.get()
        if running is None or record.name.split(".", 1)[0] == "arkitekt":
            return
        try:
            message = self.format(record)
        except Exception:  # a bad format string: logging's own complaint, not a crash
            self.handleError(record)
            return
        level = self.LEVELS.get(record.levelname, LogLevel.ERROR)
        running.send(AssignationEventKind.LOG, message=message, level=level)


class CallOutput:
    """`sys.stdout` while an agent serves: what a running function prints still prints,
    and reaches its caller too, line by line (`Running.printed`)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        running = current.get()
        if running is not None:
            running.printed(text)
        written = self.stream.write(text)  # some consoles' streams return None
        return len(text) if written is None else int(written)

    def __getattr__(self, name: str) -> Any:  # flush, encoding, isatty, fileno...
        return getattr(self.stream, name)


class _Forwarding:
    """While any agent of this process serves: one `CallLogs` on the root logger, and
    `CallOutput` as `sys.stdout`."""

    def __init__(self) -> None:
        self.handler = CallLogs()
        self.agents = 0
        self.undo: list[Callable[[], None]] = []

    def start(self) -> None:
        self.agents += 1
        if self.agents > 1:
            return
        output = CallOutput(sys.stdout)
        sys.stdout = output  # what functions print goes through it

        def restore() -> None:
            if sys.stdout is output:  # unless someone replaced it since
                sys.stdout = output.stream

        self.undo.append(restore)
        root, resort = logging.getLogger(), logging.lastResort
        if not root.handlers and root.level == logging.WARNING and resort is not None:
            # Logging is not configured: INFO now reaches callers, and warnings still print
            # (a handler on the root would otherwise silence Python's last-resort one).
            root.addHandler(resort)
            root.setLevel(logging.INFO)
            self.undo += [
                lambda: root.removeHandler(resort),
                lambda: root.setLevel(logging.WARNING),
            ]
        root.addHandler(self.handler)
        self.undo.append(lambda: root.removeHandler(self.handler))

    def stop(self) -> None:
        self.agents -= 1
        if self.agents == 0:
            while self.undo:
                self.undo.pop()()


forwarding = _Forwarding()
"""Agents start it when they serve and stop it when they close."""


_app_threads = 0
_app_threads_lock = threading.Lock()
_app_executor = ThreadPoolExecutor(1024, thread_name_prefix="arkitekt-app")
"""The threads of the app's sync code, apart from the loop's default ones (which asyncio
caps at a few per core, and which the connection needs for its own work, DNS lookups):
a sync function runs as many calls at once as its concurrency says, even when they wait
for other calls. Threads start as calls need them; the functions' concurrency bounds
how many."""


async def in_thread(function: Callable[..., T], /, *args: Any) -> T:
    """Runs the app's sync code in a worker thread, with the caller's context, counted: a
    process told to stop need not wait for code that will not stop (`app_threads`)."""
    run = functools.partial(contextvars.copy_context().run, _counted, function, *args)
    return await asyncio.get_running_loop().run_in_executor(_app_executor, run)


def _counted(function: Callable[..., T], *args: Any) -> T:
    global _app_threads
    with _app_threads_lock:
        _app_threads += 1
    try:
        return function(*args)
    finally:
        with _app_threads_lock:
            _app_threads -= 1


def app_threads() -> int:
    """How many worker threads run the app's sync code now (a function, a startup)."""
    return _app_threads
