"""`@register`: turns functions into implementations an agent can offer.

The decorator builds the function's node at once (so a bad signature fails at import, not
at the first call), records it in a registry, and returns the function unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from arkitekt.errors import RegistrationError

from .nodes import Node, node_of

if TYPE_CHECKING:
    from .startups import Startup

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "__arkitekt_implementation__"


SYNC_CONCURRENCY = 1
"""Sync functions run one at a time per instance unless they say otherwise."""
ASYNC_CONCURRENCY = 100
"""Async functions share the loop: at most this many at once per instance by default."""


@dataclass(frozen=True)
class Implementation:
    """A registered function: what it is called, its node, and how to run it."""

    interface: str
    node: Node
    function: Callable[..., Any]
    concurrency: int
    """How many assignations of it one instance runs at once."""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function) or inspect.isasyncgenfunction(
            self.function
        )

    @property
    def is_generator(self) -> bool:
        return inspect.isgeneratorfunction(self.function) or inspect.isasyncgenfunction(
            self.function
        )


class Registry:
    """The functions one agent offers, by interface name, and the app's startups."""

    def __init__(self, *, collecting: bool = False) -> None:
        self._implementations: dict[str, Implementation] = {}
        self.startups: list[Startup[Any]] = []
        """What the agent runs before it serves, in order (`@startup`)."""
        self.collecting = collecting
        """Whether `@register` notes what it refuses in `refused`, instead of raising: an
        app file's loader reports every bad function at once."""
        self.refused: list[RegistrationError] = []
        self._watchers: list[Callable[[], None]] = []

    @classmethod
    def of(cls, *functions: Callable[..., Any]) -> Registry:
        """A registry of these functions, keeping what `@register` said of each (its
        name, concurrency, idempotence); startups (`@startup`) among them run first."""
        from .startups import Startup

        registry = cls()
        for function in functions:
            if isinstance(function, Startup):
                registry.add_startup(function)
                continue
            registered = implementation_of(function)
            if registered is None:
                registry.add(function)
            else:
                registry.add(
                    function,
                    name=registered.interface,
                    concurrency=registered.concurrency,
                    idempotent=registered.node.idempotent,
                )
        return registry

    def add_startup(self, startup: Startup[Any]) -> None:
        """Runs `startup` before serving, after those added before; one that defines an
        earlier one again (a notebook's cell run again) takes its place."""
        for index, existing in enumerate(self.startups):
            if _redefines(startup.function, existing.function):
                self.startups[index] = startup
                break
        else:
            self.startups.append(startup)
        self._tell_watchers()

    def watch(self, changed: Callable[[], None]) -> Callable[[], None]:
        """Calls `changed` after each function or startup added or replaced from now on (in
        the thread that adds it); returns what stops that."""
        self._watchers.append(changed)
        return lambda: self._watchers.remove(changed)

    def add(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        concurrency: int | None = None,
        idempotent: bool = False,
    ) -> Implementation:
        interface = name or function.__name__
        if concurrency is not None and concurrency < 1:
            raise RegistrationError("concurrency must be at least 1", function=interface)
        existing = self._implementations.get(interface)
        if existing is not None and not _redefines(function, existing.function):
            raise RegistrationError(
                f"the name is already registered by {_where(existing.function)}; "
                "pass a different name with @register(name=...)",
                function=interface,
            )
        node = node_of(function, name=interface)
        if idempotent:
            node = dataclasses.replace(node, idempotent=True)
        if concurrency is None:
            is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
            concurrency = ASYNC_CONCURRENCY if is_async else SYNC_CONCURRENCY
        implementation = Implementation(interface, node, function, concurrency)
        self._implementations[interface] = implementation
        self._tell_watchers()
        return implementation

    def _tell_watchers(self) -> None:
        for changed in list(self._watchers):
            changed()

    def __iter__(self) -> Iterator[Implementation]:
        # A copy: a notebook may define a function while an agent reads the catalogue.
        return iter(list(self._implementations.values()))

    def __len__(self) -> int:
        return len(self._implementations)

    def __getitem__(self, interface: str) -> Implementation:
        return self._implementations[interface]

    def get(self, interface: str) -> Implementation | None:
        return self._implementations.get(interface)


def _redefines(new: Callable[..., Any], old: Callable[..., Any]) -> bool:
    """Whether `new` is `old` defined again: the same function, or one of the same name in
    the same module but from other source, as when a notebook's cell runs again. Two of one
    name in one file are a mistake, not a redefinition."""
    if new is old:
        return True
    same = ("__module__", "__qualname__")
    if any(getattr(new, a, None) != getattr(old, a, None) for a in same):
        return False
    new_code, old_code = getattr(new, "__code__", None), getattr(old, "__code__", None)
    if new_code is None or old_code is None:
        return False
    return bool(
        new_code.co_filename != old_code.co_filename
        or new_code.co_firstlineno == old_code.co_firstlineno
    )


def _where(function: Callable[..., Any]) -> str:
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)
    return f"{function.__qualname__} ({code.co_filename}:{code.co_firstlineno})"


_process_registry = Registry()
_current_registry: ContextVar[Registry | None] = ContextVar("arkitekt_registry", default=None)


def default_registry() -> Registry:
    """The registry `@register` adds to: the one `arkitekt run` serves."""
    registry = _current_registry.get()
    return registry if registry is not None else _process_registry


def implementation_of(function: Callable[..., Any]) -> Implementation | None:
    implementation = getattr(function, ATTRIBUTE, None)
    return implementation if isinstance(implementation, Implementation) else None


@overload
def register(function: F, /) -> F: ...


@overload
def register(
    *,
    name: str | None = None,
    concurrency: int | None = None,
    idempotent: bool = False,
    registry: Registry | None = None,
) -> Callable[[F], F]: ...


def register(
    function: F | None = None,
    /,
    *,
    name: str | None = None,
    concurrency: int | None = None,
    idempotent: bool = False,
    registry: Registry | None = None,
) -> F | Callable[[F], F]:
    """Offers a typed function on the platform when its app runs.

    Works as `@register`, `@register()` and `@register(name=...)`, on functions, async
    functions, generators and async generators. See `arkitekt.runtime.nodes` for how the
    signature becomes ports.

    Args:
        function: The function (when used without parentheses).
        name: The name callers find it by; defaults to the function's name.
        concurrency: How many calls one instance runs at once; by default one for sync
            functions (they hold a worker thread) and 100 for async ones.
        idempotent: Whether running it twice is harmless. Work lost with an agent is then
            re-run on another instance instead of ending DISCONNECTED.
        registry: Where to record it; defaults to the registry `arkitekt run` serves.

    Returns:
        The function, unchanged.

    Raises:
        RegistrationError: The signature cannot be mapped to ports; the message says why.
    """

    def decorate(function: F) -> F:
        target = registry if registry is not None else default_registry()
        try:
            implementation = target.add(
                function, name=name, concurrency=concurrency, idempotent=idempotent
            )
        except RegistrationError as error:
            if not target.collecting:
                raise
            target.refused.append(error)
            return function
        with contextlib.suppress(AttributeError):  # some callables take no attributes
            setattr(function, ATTRIBUTE, implementation)
        return function

    return decorate(function) if function is not None else decorate
