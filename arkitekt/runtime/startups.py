"""`@startup`: what an app sets up once, before it serves, and tears down when it stops.

    @startup
    async def microscope() -> AsyncIterator[Microscope]:
        scope = await Microscope.connect("COM3")
        yield scope             # the app serves now
        await scope.close()     # when it stops, or before `arkitekt dev` starts a new version

    @register
    async def snap(exposure: float) -> Array:
        return Array(await microscope().snap(exposure))

Calling the decorated name gives what it produced: the app's functions share one
microscope, one loaded model, one session, opened once per process rather than once per
call. A startup may be a function (its result is the value), a generator (what it
yields; the rest runs at stop), sync or async. Sync ones run in a worker thread, so that
a slow model load does not stall the agent.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import PurePath
from types import CodeType, FunctionType, ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from arkitekt.errors import StartupError

from .context import in_thread

T = TypeVar("T")
log = logging.getLogger("arkitekt.startups")
_NOTHING: Any = object()


class Startup(Generic[T]):
    """A startup of an app; calling it gives what it produced while the app serves."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.name = getattr(function, "__name__", repr(function))
        self._value: T = _NOTHING
        self._failure: str | None = None
        self._heirs: list[Startup[T]] = []

    def __call__(self) -> T:
        if self._value is not _NOTHING:
            return self._value
        if self._failure:
            raise StartupError(
                f"{self.name}() is not available: its startup failed with {self._failure}",
                startup=self.name,
            )
        raise StartupError(
            f"{self.name}() is not started: startups run when the app serves (arkitekt "
            "run), in the order they are defined; a test that calls the app's functions "
            "directly starts them with `async with arkitekt.testing.started(...)`",
            startup=self.name,
        )

    if not TYPE_CHECKING:  # a type checker says so already, and earlier

        def __getattr__(self, attribute: str) -> Any:
            if attribute.startswith("__"):
                raise AttributeError(attribute)
            raise AttributeError(
                f"{self.name} is a startup, not what it produced: call it, "
                f"{self.name}().{attribute}"
            )

    def __repr__(self) -> str:
        return f"<startup {self.name}>"

    def adopt(self, running: Startup[T]) -> None:
        """Gives what `running` produced, for as long as it runs: a reload kept it."""
        self._value, self._failure = running._value, running._failure
        running._heirs.append(self)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[T]:
        """Runs the startup; its value is there until the block ends, then it is torn down.

        Raises:
            StartupError: The startup raised; the cause is chained.
        """
        function, began = self.function, time.monotonic()
        log.info("starting %s", self.name)  # a model may take a while to load
        try:
            if inspect.isasyncgenfunction(function):
                manager: Any = contextlib.asynccontextmanager(function)()
                value = await manager.__aenter__()
            elif inspect.isgeneratorfunction(function):
                manager = contextlib.contextmanager(function)()
                value = await in_thread(manager.__enter__)
            elif inspect.iscoroutinefunction(function):
                manager, value = None, await function()
            else:
                manager, value = None, await in_thread(function)
        except Exception as error:
            self._failure = f"{type(error).__name__}: {error}"
            raise StartupError(
                f"startup {self.name} failed: {self._failure}",
                startup=self.name,
                traceback=self._traceback(error),
            ) from error
        self._value, self._failure = value, None
        log.info("started %s in %.1f s", self.name, time.monotonic() - began)
        try:
            yield value
        finally:
            for each in (self, *self._heirs):
                each._value = _NOTHING
            self._heirs.clear()
            if manager is not None:
                await self._tear_down(manager)
                log.info("stopped %s", self.name)

    def _traceback(self, error: BaseException) -> str:
        """The error's traceback from the startup's own frame on: how the platform got
        there is not the app's business."""
        code = getattr(self.function, "__code__", None)
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code is not code:
            frames = frames.tb_next
        shown = error.with_traceback(frames) if frames is not None else error
        return "".join(traceback.format_exception(shown))

    async def _tear_down(self, manager: Any) -> None:
        # A failing teardown is the app's to fix, and must not keep the others from running.
        try:
            if hasattr(manager, "__aexit__"):
                await manager.__aexit__(None, None, None)
            else:
                await in_thread(manager.__exit__, None, None, None)
        except Exception:
            log.exception("The teardown of startup %s failed", self.name)


def unchanged(old: Sequence[Startup[Any]], new: Sequence[Startup[Any]]) -> bool:
    """Whether the new startups are the old ones again, as a reload that touched none of
    them finds them: the same code, using the same objects and values. The new ones may
    then adopt what the old ones produced instead of running again."""
    if len(old) != len(new):
        return False
    return all(_same(a.function, b.function) for a, b in zip(old, new, strict=True))


_PLAIN = (str, bytes, int, float, complex, bool, type(None), PurePath)


Assumed = set[tuple[int, int]]
"""Pairs of functions (or modules) being compared, taken as the same while they are: a
helper that calls itself, or a module that imports its importer, compares in finite time."""


def _same(old: Any, new: Any, assumed: Assumed | None = None) -> bool:
    code, other = getattr(old, "__code__", None), getattr(new, "__code__", None)
    if code is None or other is None or _without_lines(code) != _without_lines(other):
        return False
    if old.__globals__ is new.__globals__:
        return False  # one namespace (a notebook's): what it used then is gone, so re-run
    if old.__defaults__ != new.__defaults__ or old.__kwdefaults__ != new.__kwdefaults__:
        return False
    assumed = set() if assumed is None else assumed
    if _assumed(old, new, assumed):
        return True
    names = _global_names(code)
    cells = zip(old.__closure__ or (), new.__closure__ or (), strict=True)  # same code: same cells
    if not all(_same_value(a.cell_contents, b.cell_contents, names, assumed) for a, b in cells):
        return False
    return all(
        _same_value(
            old.__globals__.get(name, _NOTHING), new.__globals__.get(name, _NOTHING), names, assumed
        )
        for name in names
    )


def _same_value(old: Any, new: Any, names: set[str], assumed: Assumed) -> bool:
    """The same object (an installed module, a class it did not reload), equal plain data
    (a path, a constant), or a function of the app's (a helper, another startup) that is
    the same by the same measure. A local module the reload imported anew is the same when
    what the code may read of it (`names`) is. A class the reload defined again is not:
    what the old version made would not be an instance of the new class."""
    if old is new:
        return True
    if isinstance(old, Startup) and isinstance(new, Startup):
        return _same(old.function, new.function, assumed)
    if isinstance(old, FunctionType) and isinstance(new, FunctionType):
        return _same(old, new, assumed)
    if isinstance(old, ModuleType) and isinstance(new, ModuleType):
        if old.__name__ != new.__name__:
            return False
        return _assumed(old, new, assumed) or all(
            _same_value(getattr(old, n, _NOTHING), getattr(new, n, _NOTHING), names, assumed)
            for n in names
            if hasattr(old, n) or hasattr(new, n)
        )
    if isinstance(old, tuple) and type(old) is type(new) and len(old) == len(new):
        return all(_same_value(a, b, names, assumed) for a, b in zip(old, new, strict=True))
    return isinstance(old, _PLAIN) and type(old) is type(new) and bool(old == new)


def _assumed(old: Any, new: Any, assumed: Assumed) -> bool:
    """Whether the pair is being compared already; from now on, it is."""
    pair = (id(old), id(new))
    if pair in assumed:
        return True
    assumed.add(pair)
    return False


def _without_lines(code: CodeType) -> CodeType:
    """The code as written, wherever it is in the file: an edit above it moves it."""
    consts = tuple(_without_lines(c) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=1, co_linetable=b"", co_consts=consts)


def _global_names(code: CodeType) -> set[str]:
    """The names the code (and the code nested in it) may look up among the globals, or
    as attributes."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            names |= _global_names(constant)
    return names


@contextlib.asynccontextmanager
async def started(startups: Sequence[Startup[Any]]) -> AsyncIterator[None]:
    """Runs the startups in order; at the end of the block, tears them down in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        for each in startups:
            await stack.enter_async_context(each.running())
        yield


@overload
def startup(function: Callable[[], AsyncIterator[T]], /) -> Startup[T]: ...
@overload
def startup(function: Callable[[], Iterator[T]], /) -> Startup[T]: ...
@overload
def startup(function: Callable[[], Awaitable[T]], /) -> Startup[T]: ...
@overload
def startup(function: Callable[[], T], /) -> Startup[T]: ...


def startup(function: Callable[[], Any], /) -> Startup[Any]:
    """Runs a function once when the app starts serving (before any call), and what it
    yields, if it is a generator, is torn down when the app stops.

    Returns:
        The startup: call it to get what the function returned or yielded.

    Raises:
        RegistrationError: The function takes parameters (nothing would pass them).
    """
    from arkitekt.errors import RegistrationError

    from .registry import default_registry

    name = getattr(function, "__name__", repr(function))
    required = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise RegistrationError(
            f"a startup takes no arguments, and {required[0].name} has no default", function=name
        )
    handle: Startup[Any] = Startup(function)
    default_registry().add_startup(handle)
    return handle
