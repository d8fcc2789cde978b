"""Ports, and how values cross the wire through them.

A `Port` is plain data: the same object describes a local function's parameter and a remote
node's argument. `to_wire` checks a Python value against a port and turns it into JSON;
`from_wire` checks JSON and turns it back into Python. Both raise `ArgumentError` naming the
port (a dotted path for nested values) and the rule that failed.

Structures travel by reference: `shrink` and `expand` are the async versions of `to_wire`
and `from_wire` that also run the structures' hooks (uploads and downloads happen
concurrently). On ports without structures they are exactly `to_wire` and `from_wire`.

Wire forms: scalars as JSON, datetimes as ISO 8601, enum members by name, models as
objects keyed by field, structures as their reference (a string), and a union's value as
`{"use": index, "value": ...}` so that the receiver never guesses which member was meant.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import math
import numbers
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Final

from arkitekt.api.enums import PortKind, WidgetKind
from arkitekt.api.input_types import (
    ChoiceInput,
    ModelInput,
    PortConstraintsInput,
    PortInput,
    WidgetInput,
)
from arkitekt.errors import ArgumentError, StructureError
from arkitekt.widgets import Widget

from .structures import Structure, structure_named, structure_of


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""No default: the argument must be given (unless the port is nullable)."""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    description: str | None = None


@dataclass(frozen=True)
class Constraints:
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in vars(self).values())


@dataclass(frozen=True)
class Model:
    """A record type (a dataclass or a pydantic model): its fields are ports.

    A node defines each of its models once; MODEL ports refer to them by identifier, so
    models may nest and even refer to themselves.
    """

    identifier: str
    fields: tuple[Port, ...] = ()
    description: str | None = None
    python_type: Any = field(default=None, compare=False, repr=False)
    """Locally: the class the values are built as. Remote models arrive as dicts."""

    def to_input(self) -> ModelInput:
        return ModelInput(
            identifier=self.identifier,
            description=self.description,
            fields=[port.to_input() for port in self.fields],
        )

    @staticmethod
    def from_data(data: Iterable[Mapping[str, Any]]) -> dict[str, Model]:
        """Models from their GraphQL form, with the references between them resolved."""
        items = list(data)
        models = {
            item["identifier"]: Model(item["identifier"], description=item.get("description"))
            for item in items
        }
        for item in items:
            fields = tuple(Port.from_data(f, models) for f in item["fields"])
            # Fields may refer back to their own model: fill them in once all exist.
            object.__setattr__(models[item["identifier"]], "fields", fields)
        return models


@dataclass(frozen=True)
class Port:
    """One argument or return value: its key, kind, and what values it accepts."""

    key: str
    kind: PortKind
    nullable: bool = False
    default: Any = MISSING
    """The default as JSON (the wire form), or MISSING."""
    description: str | None = None
    label: str | None = None
    identifier: str | None = None
    choices: tuple[Choice, ...] = ()
    children: tuple[Port, ...] = ()
    constraints: Constraints = Constraints()
    widget: Widget | None = None
    """How forms show its input, when the function's author said (`arkitekt.widgets`)."""
    python_type: Any = field(default=None, compare=False, repr=False)
    """Locally: the annotation the port came from, used to rebuild enum members."""
    model: Model | None = field(default=None, compare=False, repr=False)
    """For MODEL ports: the model `identifier` names, from the node's models."""

    @property
    def required(self) -> bool:
        return self.default is MISSING and not self.nullable

    @cached_property
    def has_structures(self) -> bool:
        """Whether values of this port may hold structures (and need shrink/expand)."""
        return _has_structures(self, set())

    @cached_property
    def constrained(self) -> bool:
        return bool(self.constraints)

    def to_input(self) -> PortInput:
        return PortInput(
            key=self.key,
            kind=self.kind,
            nullable=self.nullable,
            default=None if self.default is MISSING else self.default,
            description=self.description,
            label=self.label,
            identifier=self.identifier,
            choices=[ChoiceInput(**vars(c)) for c in self.choices] or None,
            children=[child.to_input() for child in self.children] or None,
            constraints=PortConstraintsInput(**vars(self.constraints))
            if self.constraints
            else None,
            widget=WidgetInput(**vars(self.widget)) if self.widget else None,
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any], models: Mapping[str, Model] | None = None) -> Port:
        """Builds a port from its GraphQL form (a fragment's `model_dump()`)."""
        default = data.get("default")
        identifier = data.get("identifier")
        return cls(
            key=data["key"],
            kind=PortKind(data["kind"]),
            nullable=bool(data["nullable"]),
            default=MISSING if default is None else default,
            description=data.get("description"),
            label=data.get("label"),
            identifier=identifier,
            choices=tuple(Choice(**c) for c in data.get("choices") or ()),
            children=tuple(cls.from_data(c, models) for c in data.get("children") or ()),
            constraints=Constraints(**(data.get("constraints") or {})),
            widget=_widget(data.get("widget")),
            model=(models or {}).get(identifier) if identifier else None,
        )

    def describe(self) -> str:
        """A short type, as a person would write it: `list[int] | None`."""
        match self.kind:
            case PortKind.LIST:
                text = f"list[{self.children[0].describe()}]"
            case PortKind.DICT:
                text = f"dict[str, {self.children[0].describe()}]"
            case PortKind.UNION:
                text = " | ".join(child.describe() for child in self.children)
            case PortKind.ENUM:
                text = (
                    self.identifier
                    or "Literal[" + ", ".join(repr(c.value) for c in self.choices) + "]"
                )
            case PortKind.MODEL:
                text = str(self.identifier)
            case PortKind.STRUCTURE:
                text = structure_name(str(self.identifier))
            case _:
                text = _SCALAR_NAMES[self.kind]
        return f"{text} | None" if self.nullable else text


STRUCTURE_NAMES = {"@arkitekt/array": "Array", "@arkitekt/file": "File"}
"""The built-in structures go by their classes' names (as the dashboard shows them)."""


def structure_name(identifier: str) -> str:
    return STRUCTURE_NAMES.get(identifier, identifier)


def _a(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


_SCALAR_NAMES = {
    PortKind.INT: "int",
    PortKind.FLOAT: "float",
    PortKind.STRING: "str",
    PortKind.BOOL: "bool",
    PortKind.DATETIME: "datetime",
}


def _widget(data: Mapping[str, Any] | None) -> Widget | None:
    if not data:
        return None
    return Widget(
        WidgetKind(data["kind"]), data.get("step"), data.get("rows"), data.get("placeholder")
    )


def _has_structures(port: Port, seen: set[str]) -> bool:
    if port.kind is PortKind.STRUCTURE:
        return True
    if port.kind is PortKind.MODEL and port.model is not None:
        if port.model.identifier in seen:
            return False
        seen.add(port.model.identifier)
        return any(_has_structures(f, seen) for f in port.model.fields)
    return any(_has_structures(child, seen) for child in port.children)


def _fail(path: str, message: str) -> ArgumentError:
    return ArgumentError(message, port=path)


def _check_constraints(port: Port, value: Any, path: str) -> None:
    if not port.constrained:
        return
    c = port.constraints
    if isinstance(value, int | float):
        for bound, holds, word in (
            (c.gt, operator.gt, "greater than"),
            (c.ge, operator.ge, "at least"),
            (c.lt, operator.lt, "less than"),
            (c.le, operator.le, "at most"),
        ):
            if bound is not None and not holds(value, bound):
                raise _fail(path, f"must be {word} {_number(bound)}, got {value!r}")
    if isinstance(value, str | list | dict):
        size = len(value)
        unit = "characters" if isinstance(value, str) else "items"
        if c.min_length is not None and size < c.min_length:
            raise _fail(path, f"must have at least {c.min_length} {unit}, got {size}")
        if c.max_length is not None and size > c.max_length:
            raise _fail(path, f"must have at most {c.max_length} {unit}, got {size}")
    if c.pattern is not None and isinstance(value, str) and not re.search(c.pattern, value):
        raise _fail(path, f"must match the pattern {c.pattern!r}, got {value!r}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _got(value: Any) -> str:
    """`str 'one'`: a refused value's type and the start of its repr, for messages."""
    shown = repr(value)
    return f"{_type_name(value)} {shown if len(shown) <= 80 else shown[:77] + '...'}"


# Python -> wire


def to_wire(port: Port, value: Any, path: str | None = None) -> Any:
    """Checks a Python value against the port and returns its JSON form.

    Structures must already be references here; `shrink` runs their hooks.
    """
    path = path or port.key
    if value is None:
        if port.nullable:
            return None
        raise _fail(path, "must not be None")
    wire = _to_wire(port, value, path)
    _check_constraints(port, wire if port.kind is not PortKind.DATETIME else value, path)
    return wire


def _to_wire(port: Port, value: Any, path: str) -> Any:
    match port.kind:
        case PortKind.INT:
            if type(value) is int:
                return value
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise _fail(path, f"expected an int, got {_got(value)}")
            return int(value)  # numpy.int64, say
        case PortKind.FLOAT:
            if type(value) is float and math.isfinite(value):
                return value
            if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy.bool_ too
                raise _fail(path, f"expected a float, got {_got(value)}")
            if not math.isfinite(value):
                raise _fail(path, f"must be a finite number, got {value!r}")
            return float(value)
        case PortKind.STRING:
            if not isinstance(value, str):
                raise _fail(path, f"expected a str, got {_got(value)}")
            return value
        case PortKind.BOOL:
            if not isinstance(value, bool) and not _is_bool(value):
                raise _fail(path, f"expected a bool, got {_got(value)}")
            return bool(value)
        case PortKind.DATETIME:
            if not isinstance(value, datetime):
                raise _fail(path, f"expected a datetime, got {_got(value)}")
            return (value if value.tzinfo else value.astimezone()).isoformat()
        case PortKind.ENUM:
            return _enum_to_wire(port, value, path)
        case PortKind.LIST:
            item = port.children[0]
            return [to_wire(item, v, p) for p, v in _list_items(value, path)]
        case PortKind.DICT:
            entry = port.children[0]
            return {k: to_wire(entry, v, f"{path}.{k}") for k, v in _dict_items(value, path)}
        case PortKind.MODEL:
            return {
                f.key: to_wire(f, v, f"{path}.{f.key}") if v is not MISSING else f.default
                for f, v in _model_items(port, value, path)
            }
        case PortKind.UNION:
            index = _member(port, value, path)
            return {"use": index, "value": to_wire(port.children[index], value, path)}
        case PortKind.STRUCTURE:
            if not isinstance(value, str):
                raise _fail(path, f"a {port.identifier} must be shrunk to its reference first")
            return value
    raise _fail(path, f"{port.kind.value} ports are not supported by this version")


def _enum_to_wire(port: Port, value: Any, path: str) -> str:
    allowed = [choice.value for choice in port.choices]
    wire = value.name if isinstance(value, enum.Enum) else value
    if wire in allowed:
        return str(wire)
    # A member's label (an enum's string value: "otsu" for OTSU = "otsu") names it too.
    labelled = [choice.value for choice in port.choices if choice.label == value]
    if len(labelled) == 1 and isinstance(value, str):
        return labelled[0]
    raise _fail(path, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _list_items(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, list | tuple):
        pass  # the common case, told first
    elif _is_array(value) and value.ndim >= 1:
        value = value.tolist()  # a numpy array: its items as Python numbers
    elif isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _fail(path, f"expected a list, got {_got(value)}")
    return [(f"{path}[{i}]", v) for i, v in enumerate(value)]


def _is_array(value: Any) -> bool:
    """A numpy array (or scalar), told apart without importing numpy."""
    return hasattr(value, "dtype") and hasattr(value, "tolist") and hasattr(value, "ndim")


def _is_bool(value: Any) -> bool:
    """A numpy bool scalar (`numpy.bool_`, which is not a Python bool)."""
    return _is_array(value) and value.ndim == 0 and value.dtype.kind == "b"


def _dict_items(value: Any, path: str) -> list[tuple[str, Any]]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected a dict, got {_got(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(path, f"keys must be str, got {_type_name(key)} {key!r}")
    return list(value.items())


def _model_of(port: Port, path: str) -> Model:
    if port.model is None:
        raise _fail(path, f"the definition of model {port.identifier} is missing")
    return port.model


def _model_items(port: Port, value: Any, path: str) -> list[tuple[Port, Any]]:
    """Each field with its value (MISSING when a mapping omits a field that has a default)."""
    model = _model_of(port, path)
    cls = model.python_type
    if isinstance(value, Mapping):
        known = {f.key for f in model.fields}
        for key in value:
            if key not in known:
                raise _fail(f"{path}.{key}", f"{model.identifier} has no such field")
        found = value
    elif (cls is not None and isinstance(value, cls)) or (
        cls is None and all(hasattr(value, f.key) for f in model.fields)
    ):
        found = {f.key: getattr(value, f.key) for f in model.fields}
    else:
        raise _fail(path, f"expected a {model.identifier}, got {_type_name(value)}")
    items = []
    for f in model.fields:
        if f.key in found:
            items.append((f, found[f.key]))
        elif f.default is not MISSING:
            items.append((f, MISSING))
        elif f.nullable:
            items.append((f, None))
        else:
            raise _fail(f"{path}.{f.key}", f"missing field of type {f.describe()}")
    return items


def _member(port: Port, value: Any, path: str) -> int:
    """The first member of a union that accepts the value."""
    for index, child in enumerate(port.children):
        if _accepts(child, value):
            return index
    raise _fail(path, f"expected {port.describe()}, got {_got(value)}")


def _accepts(port: Port, value: Any) -> bool:
    if port.kind is PortKind.STRUCTURE:
        structure = _structure(port)
        if structure is None:  # unknown here: only its reference can be passed
            return isinstance(value, str) and bool(value)
        with contextlib.suppress(StructureError):
            return structure.adopted(value) is not None
        return False
    if port.has_structures:
        return _may_hold(port, value)
    try:
        to_wire(port, value)
    except ArgumentError:
        return False
    return True


def _may_hold(port: Port, value: Any) -> bool:
    """A shallow check for composite members that hold structures."""
    match port.kind:
        case PortKind.LIST:
            return isinstance(value, Sequence) and not isinstance(value, str | bytes)
        case PortKind.DICT:
            return isinstance(value, Mapping)
        case PortKind.MODEL:
            cls = port.model.python_type if port.model else None
            return isinstance(value, cls) if cls is not None else isinstance(value, Mapping)
    return True


def _structure(port: Port) -> Structure | None:
    found = structure_of(port.python_type) if port.python_type is not None else None
    if found is None and port.identifier:
        found = structure_named(port.identifier)
    return found


# wire -> Python


def from_wire(port: Port, value: Any, path: str | None = None) -> Any:
    """Checks a JSON value against the port and returns its Python form.

    Structures stay references here; `expand` runs their hooks.
    """
    path = path or port.key
    if value is None:
        if port.nullable:
            return None
        raise _fail(path, "must not be null")
    match port.kind:
        case PortKind.DATETIME:
            if not isinstance(value, str):
                raise _fail(path, f"expected an ISO 8601 string, got {value!r}")
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError as error:
                raise _fail(path, f"expected an ISO 8601 string, got {value!r}") from error
            to_wire(port, parsed, path)
            return parsed
        case PortKind.ENUM:
            _enum_to_wire(port, value, path)
            member_type = port.python_type
            if isinstance(member_type, type) and issubclass(member_type, enum.Enum):
                return member_type[value]
            return value
        case PortKind.LIST:
            items = _wire_list(port, value, path)
            return [from_wire(port.children[0], v, p) for p, v in items]
        case PortKind.DICT:
            entries = _wire_dict(port, value, path)
            return {k: from_wire(port.children[0], v, f"{path}.{k}") for k, v in entries}
        case PortKind.MODEL:
            fields = _wire_model(port, value, path)
            return _build(
                port, {f.key: from_wire(f, v, f"{path}.{f.key}") for f, v in fields}, path
            )
        case PortKind.UNION:
            child, inner = _wire_union(port, value, path)
            return from_wire(child, inner, path)
        case PortKind.STRUCTURE:
            return _wire_reference(port, value, path)
        case _:
            return to_wire(port, value, path)


def _wire_list(port: Port, value: Any, path: str) -> list[tuple[str, Any]]:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {_got(value)}")
    _check_constraints(port, value, path)
    return [(f"{path}[{i}]", v) for i, v in enumerate(value)]


def _wire_dict(port: Port, value: Any, path: str) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        raise _fail(path, f"expected a dict, got {_got(value)}")
    _check_constraints(port, value, path)
    return list(value.items())


def _wire_model(port: Port, value: Any, path: str) -> list[tuple[Port, Any]]:
    model = _model_of(port, path)
    if not isinstance(value, dict):
        raise _fail(path, f"expected a {model.identifier} object, got {_type_name(value)}")
    items = _model_items(port, value, path)
    return [(f, f.default if v is MISSING else v) for f, v in items]


def _build(port: Port, values: dict[str, Any], path: str) -> Any:
    model = _model_of(port, path)
    cls = model.python_type
    if cls is None:
        return values
    try:
        return cls(**values)
    except Exception as error:  # a model's own validation refused the values
        raise _fail(path, f"{model.identifier} refused the values: {error}") from error


def _wire_union(port: Port, value: Any, path: str) -> tuple[Port, Any]:
    use = value.get("use") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or set(value) != {"use", "value"}
        or not isinstance(use, int)
        or isinstance(use, bool)
        or not 0 <= use < len(port.children)
    ):
        raise _fail(
            path,
            f'expected {{"use": 0..{len(port.children) - 1}, "value": ...}} '
            f"for {port.describe()}, got {value!r}",
        )
    return port.children[use], value["value"]


def _wire_reference(port: Port, value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        name = structure_name(str(port.identifier))
        raise _fail(path, f"expected {_a(name)} reference (a str), got {value!r}")
    return value


# Structures: the async walks


async def shrink(port: Port, value: Any, path: str | None = None) -> Any:
    """`to_wire`, shrinking the structures in the value to references (concurrently)."""
    path = path or port.key
    if not port.has_structures or value is None:
        return to_wire(port, value, path)
    match port.kind:
        case PortKind.STRUCTURE:
            return await _shrink_structure(port, value, path)
        case PortKind.LIST:
            wire = await _gather(shrink, port.children[0], _list_items(value, path))
            _check_constraints(port, wire, path)
            return wire
        case PortKind.DICT:
            entries = _dict_items(value, path)
            values = await _gather(
                shrink, port.children[0], [(f"{path}.{k}", v) for k, v in entries]
            )
            mapping = dict(zip((k for k, _ in entries), values, strict=True))
            _check_constraints(port, mapping, path)
            return mapping
        case PortKind.MODEL:
            fields = _model_items(port, value, path)
            values = await asyncio.gather(
                *(
                    shrink(f, v, f"{path}.{f.key}") if v is not MISSING else _constant(f.default)
                    for f, v in fields
                )
            )
            return {f.key: v for (f, _), v in zip(fields, values, strict=True)}
        case PortKind.UNION:
            index = _member(port, value, path)
            return {"use": index, "value": await shrink(port.children[index], value, path)}
    raise _fail(path, f"{port.kind.value} ports hold no structures")


async def _shrink_structure(port: Port, value: Any, path: str) -> str:
    structure = _structure(port)
    try:
        adopted = structure.adopted(value) if structure is not None else None
        if structure is not None and adopted is not None:
            return await structure.shrink_value(adopted)
    except StructureError as error:
        raise StructureError(f"{path}: {error}") from error
    except Exception as error:
        raise StructureError(
            f"{path}: shrinking the {port.identifier} failed: {type(error).__name__}: {error}"
        ) from error
    if isinstance(value, str) and value:
        if port.identifier in STRUCTURE_NAMES:  # a blob's id: refuse a path before sending
            from arkitekt.structures.stored import check_reference

            try:
                check_reference(value)
            except StructureError as error:
                raise _fail(path, str(error)) from None
        return value  # already a reference
    if structure is None:
        raise _fail(path, f"{port.identifier} is not known here; pass its reference")
    raise _fail(
        path, f"expected {_a(structure_name(str(port.identifier)))}, got {_type_name(value)}"
    )


async def expand(port: Port, value: Any, path: str | None = None) -> Any:
    """`from_wire`, expanding references to structures (concurrently).

    A structure this process does not know (by class or identifier) stays a reference.
    """
    path = path or port.key
    if not port.has_structures or value is None:
        return from_wire(port, value, path)
    match port.kind:
        case PortKind.STRUCTURE:
            return await _expand_structure(port, _wire_reference(port, value, path), path)
        case PortKind.LIST:
            return await _gather(expand, port.children[0], _wire_list(port, value, path))
        case PortKind.DICT:
            entries = _wire_dict(port, value, path)
            items = [(f"{path}.{k}", v) for k, v in entries]
            values = await _gather(expand, port.children[0], items)
            return dict(zip((k for k, _ in entries), values, strict=True))
        case PortKind.MODEL:
            fields = _wire_model(port, value, path)
            values = await asyncio.gather(*(expand(f, v, f"{path}.{f.key}") for f, v in fields))
            return _build(port, {f.key: v for (f, _), v in zip(fields, values, strict=True)}, path)
        case PortKind.UNION:
            child, inner = _wire_union(port, value, path)
            return await expand(child, inner, path)
    raise _fail(path, f"{port.kind.value} ports hold no structures")


async def _expand_structure(port: Port, reference: str, path: str) -> Any:
    structure = _structure(port)
    if structure is None:
        return reference
    try:
        return await structure.expand_value(reference)
    except StructureError as error:
        raise StructureError(f"{path}: {error}") from error
    except Exception as error:
        raise StructureError(
            f"{path}: expanding the {port.identifier} {reference!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from error


async def _gather(
    walk: Callable[[Port, Any, str], Any], port: Port, items: list[tuple[str, Any]]
) -> list[Any]:
    return list(await asyncio.gather(*(walk(port, v, p) for p, v in items)))


async def _constant(value: Any) -> Any:
    return value


def is_model_class(annotation: Any) -> bool:
    """Dataclasses and pydantic models become MODEL ports."""
    if not isinstance(annotation, type):
        return False
    if dataclasses.is_dataclass(annotation):
        return True
    from pydantic import BaseModel

    return issubclass(annotation, BaseModel)
