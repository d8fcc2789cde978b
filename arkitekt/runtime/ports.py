"""Ports, and how values cross the wire through them.

A `Port` is plain data: the same object describes a local function's parameter and a remote
node's argument. `to_wire` checks a Python value against a port and turns it into JSON;
`from_wire` checks JSON and turns it back into Python. Both raise `ArgumentError` naming the
port (a dotted path for nested values) and the rule that failed.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from arkitekt.api.enums import PortKind
from arkitekt.api.input_types import ChoiceInput, PortConstraintsInput, PortInput
from arkitekt.errors import ArgumentError


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
    python_type: Any = field(default=None, compare=False, repr=False)
    """Locally: the annotation the port came from, used to rebuild enum members."""

    @property
    def required(self) -> bool:
        return self.default is MISSING and not self.nullable

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
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Port:
        """Builds a port from its GraphQL form (a fragment's `model_dump()`)."""
        default = data.get("default")
        return cls(
            key=data["key"],
            kind=PortKind(data["kind"]),
            nullable=bool(data["nullable"]),
            default=MISSING if default is None else default,
            description=data.get("description"),
            label=data.get("label"),
            identifier=data.get("identifier"),
            choices=tuple(Choice(**c) for c in data.get("choices") or ()),
            children=tuple(cls.from_data(c) for c in data.get("children") or ()),
            constraints=Constraints(**(data.get("constraints") or {})),
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
            case PortKind.MODEL | PortKind.STRUCTURE:
                text = str(self.identifier)
            case _:
                text = _SCALAR_NAMES[self.kind]
        return f"{text} | None" if self.nullable else text


_SCALAR_NAMES = {
    PortKind.INT: "int",
    PortKind.FLOAT: "float",
    PortKind.STRING: "str",
    PortKind.BOOL: "bool",
    PortKind.DATETIME: "datetime",
}


def _fail(path: str, message: str) -> ArgumentError:
    return ArgumentError(message, port=path)


def _check_constraints(port: Port, value: Any, path: str) -> None:
    c = port.constraints
    if not c:
        return
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


def to_wire(port: Port, value: Any, path: str | None = None) -> Any:
    """Checks a Python value against the port and returns its JSON form."""
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
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(path, f"expected an int, got {_type_name(value)} {value!r}")
            return value
        case PortKind.FLOAT:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(path, f"expected a float, got {_type_name(value)} {value!r}")
            if not math.isfinite(value):
                raise _fail(path, f"must be a finite number, got {value!r}")
            return float(value)
        case PortKind.STRING:
            if not isinstance(value, str):
                raise _fail(path, f"expected a str, got {_type_name(value)} {value!r}")
            return value
        case PortKind.BOOL:
            if not isinstance(value, bool):
                raise _fail(path, f"expected a bool, got {_type_name(value)} {value!r}")
            return value
        case PortKind.DATETIME:
            if not isinstance(value, datetime):
                raise _fail(path, f"expected a datetime, got {_type_name(value)} {value!r}")
            return (value if value.tzinfo else value.astimezone()).isoformat()
        case PortKind.ENUM:
            return _enum_to_wire(port, value, path)
        case PortKind.LIST:
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise _fail(path, f"expected a list, got {_type_name(value)}")
            item = port.children[0]
            return [to_wire(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        case PortKind.DICT:
            if not isinstance(value, Mapping):
                raise _fail(path, f"expected a dict, got {_type_name(value)}")
            entry = port.children[0]
            for key in value:
                if not isinstance(key, str):
                    raise _fail(path, f"keys must be str, got {_type_name(key)} {key!r}")
            return {k: to_wire(entry, v, f"{path}.{k}") for k, v in value.items()}
        case _:
            raise _fail(path, f"{port.kind.value} ports are not supported by this version")


def _enum_to_wire(port: Port, value: Any, path: str) -> str:
    allowed = [choice.value for choice in port.choices]
    wire = value.name if isinstance(value, enum.Enum) else value
    if wire not in allowed:
        raise _fail(path, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(wire)


def from_wire(port: Port, value: Any, path: str | None = None) -> Any:
    """Checks a JSON value against the port and returns its Python form."""
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
            if not isinstance(value, list):
                raise _fail(path, f"expected a list, got {_type_name(value)}")
            _check_constraints(port, value, path)
            item = port.children[0]
            return [from_wire(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        case PortKind.DICT:
            if not isinstance(value, dict):
                raise _fail(path, f"expected a dict, got {_type_name(value)}")
            _check_constraints(port, value, path)
            entry = port.children[0]
            return {k: from_wire(entry, v, f"{path}.{k}") for k, v in value.items()}
        case _:
            return to_wire(port, value, path)
