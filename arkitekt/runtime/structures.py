"""Structures: values that travel by reference, shrunk on send and expanded on receive.

Any class opts in by defining two coroutines, as in

    class Image:
        async def shrink(self) -> str:
            return self.id                      # a reference to central storage

        @classmethod
        async def expand(cls, value: str) -> Image:
            return cls.load_from_server(value)

and is then usable as an argument or return annotation. Classes you do not own are
registered explicitly, with a stable identifier that becomes part of the definition:

    register_structure(xarray.DataArray, identifier="@lab/dataarray",
                       shrink=upload_dataarray, expand=download_dataarray)

`register_structure(identifier=...)` also works as a class decorator. `shrink` and `expand`
may be coroutine functions or plain functions. A class may also define a classmethod
`adopt(value)`, which returns an instance for a plain value that stands for one (`Array`
adopts a numpy array, `File` a `pathlib.Path`) and None for anything else: a caller or a
function then passes the plain value where the structure is expected.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar, overload, runtime_checkable

from arkitekt.errors import StructureError

T = TypeVar("T", bound=type)

Shrink = Callable[[Any], "Awaitable[str] | str"]
Expand = Callable[[str], "Awaitable[Any] | Any"]


@runtime_checkable
class Shrinkable(Protocol):
    """The hooks a class defines to travel by reference."""

    async def shrink(self) -> str: ...

    @classmethod
    async def expand(cls, value: str) -> Self: ...


@dataclass(frozen=True)
class Structure:
    """How one class travels: its identifier and its shrink/expand functions."""

    cls: type
    identifier: str
    """A stable name, part of every definition that uses the class."""
    shrink: Shrink
    expand: Expand
    adopt: Callable[[Any], Any] | None = None

    def adopted(self, value: Any) -> Any:
        """`value` as an instance of the class, when it is one or stands for one; else None."""
        if isinstance(value, self.cls):
            return value
        return self.adopt(value) if self.adopt is not None else None

    async def shrink_value(self, value: Any) -> str:
        """The reference for `value`; raises StructureError when shrink misbehaves."""
        reference = self.shrink(value)
        if inspect.isawaitable(reference):
            reference = await reference
        if not isinstance(reference, str):
            raise StructureError(
                f"{self.identifier}: shrink returned {type(reference).__name__}, "
                "expected a str reference"
            )
        return reference

    async def expand_value(self, reference: str) -> Any:
        value = self.expand(reference)
        if inspect.isawaitable(value):
            value = await value
        return value


_by_class: dict[type, Structure] = {}
_by_identifier: dict[str, Structure] = {}


@overload
def register_structure(
    cls: T, /, *, identifier: str, shrink: Shrink | None = None, expand: Expand | None = None
) -> T: ...


@overload
def register_structure(
    *, identifier: str, shrink: Shrink | None = None, expand: Expand | None = None
) -> Callable[[T], T]: ...


def register_structure(
    cls: T | None = None,
    /,
    *,
    identifier: str,
    shrink: Shrink | None = None,
    expand: Expand | None = None,
) -> T | Callable[[T], T]:
    """Makes a class travel by reference under a stable identifier.

    Args:
        cls: The class (omit it to use this as a class decorator).
        identifier: A stable name such as `@lab/image`; it is part of node definitions.
        shrink: Turns a value into its reference; defaults to the class's `shrink` method.
        expand: Turns a reference back into a value; defaults to the class's `expand`.

    Returns:
        The class, unchanged.

    Raises:
        StructureError: The identifier belongs to another class, or a hook is missing.
    """

    def decorate(cls: T) -> T:
        shrink_hook = shrink or getattr(cls, "shrink", None)
        expand_hook = expand or getattr(cls, "expand", None)
        if not callable(shrink_hook) or not callable(expand_hook):
            raise StructureError(
                f"{_qualified(cls)}: give shrink= and expand= (or define them on the class)"
            )
        if not identifier or identifier.strip() != identifier:
            raise StructureError(f"{_qualified(cls)}: the identifier must be a non-blank name")
        taken = _by_identifier.get(identifier)
        if taken is not None and taken.cls is not cls:
            raise StructureError(
                f"{identifier!r} already names {_qualified(taken.cls)}; choose another identifier"
            )
        adopt = getattr(cls, "adopt", None)
        _add(Structure(cls, identifier, shrink_hook, expand_hook, adopt), claim_identifier=True)
        return cls

    return decorate(cls) if cls is not None else decorate


def _add(structure: Structure, *, claim_identifier: bool) -> None:
    previous = _by_class.get(structure.cls)
    if previous is not None and _by_identifier.get(previous.identifier) is previous:
        del _by_identifier[previous.identifier]
    _by_class[structure.cls] = structure
    if claim_identifier or structure.identifier not in _by_identifier:
        _by_identifier[structure.identifier] = structure


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def is_shrinkable(cls: Any) -> bool:
    """Whether a class defines `shrink` and a classmethod `expand` itself."""
    if not isinstance(cls, type):
        return False
    return callable(getattr(cls, "shrink", None)) and isinstance(
        inspect.getattr_static(cls, "expand", None), classmethod
    )


def structure_of(cls: Any) -> Structure | None:
    """The structure a class travels as: registered (for it or a base class), or its own
    shrink/expand hooks, whose identifier is the class's name."""
    if not isinstance(cls, type):
        return None
    for base in cls.__mro__:
        found = _by_class.get(base)
        if found is not None:
            return found
    if is_shrinkable(cls):
        hooks = cls.shrink, cls.expand, getattr(cls, "adopt", None)  # type: ignore[attr-defined]
        structure = Structure(cls, cls.__name__, *hooks)
        # The first class to use a name claims it for lookups by identifier.
        _add(structure, claim_identifier=False)
        return structure
    return None


# The built-in structures register when their module loads; callers that meet their
# identifiers first (calling a node by name) load them on demand.
_BUILT_IN = {
    "@arkitekt/array": "arkitekt.structures.array",
    "@arkitekt/file": "arkitekt.structures.file",
}


def structure_named(identifier: str) -> Structure | None:
    """The structure registered in this process under `identifier`, if any."""
    if identifier not in _by_identifier and identifier in _BUILT_IN:
        with contextlib.suppress(ImportError):  # without the extra, it stays a reference
            importlib.import_module(_BUILT_IN[identifier])
    return _by_identifier.get(identifier)
