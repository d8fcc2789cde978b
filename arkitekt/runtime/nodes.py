"""From a typed Python function to its node: the contract the platform stores.

How a signature maps to ports:

- `int`, `float`, `str`, `bool`, `datetime` become INT, FLOAT, STRING, BOOL, DATETIME;
- an `Enum` subclass or a `Literal` of strings becomes ENUM (members travel by name);
- `list[X]` becomes LIST and `dict[str, X]` DICT, with X as their child;
- `X | None` is nullable; a default makes an argument optional but not nullable,
  unless the default is `None`;
- `Annotated[X, Gt(0), MaxLen(5), ...]` adds constraints (annotated-types);
- the return annotation gives the return ports: none for `None`, one per item of a
  `tuple[...]`, and the item type of an `Iterator`/`AsyncIterator` for generators.

Descriptions come from the docstring (Google, NumPy or reST). Anything that cannot be
mapped raises `RegistrationError` naming the function, the parameter and the fix.
"""

from __future__ import annotations

import collections.abc
import enum
import hashlib
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import docstring_parser

from arkitekt.api.enums import NodeKind, PortKind
from arkitekt.api.input_types import NodeInput
from arkitekt.errors import ArgumentError, RegistrationError

from .ports import MISSING, Choice, Constraints, Port, to_wire

_SCALARS: dict[Any, PortKind] = {
    int: PortKind.INT,
    float: PortKind.FLOAT,
    str: PortKind.STRING,
    bool: PortKind.BOOL,
    datetime: PortKind.DATETIME,
}
_GENERATOR_ORIGINS = {
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
}


@dataclass(frozen=True)
class Node:
    """A node's definition; `id` is set once the platform stored it."""

    name: str
    kind: NodeKind
    args: tuple[Port, ...]
    returns: tuple[Port, ...]
    description: str | None = None
    id: str | None = None

    def to_input(self) -> NodeInput:
        return NodeInput(
            name=self.name,
            description=self.description,
            kind=self.kind,
            args=[port.to_input() for port in self.args],
            returns=[port.to_input() for port in self.returns],
        )

    @property
    def hash(self) -> str:
        """The content hash the platform identifies this node by."""
        return definition_hash(self.to_input().model_dump(mode="json"))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Node:
        """Builds a node from its GraphQL form (a fragment's `model_dump()`)."""
        return cls(
            id=data.get("id"),
            name=data["name"],
            kind=NodeKind(data["kind"]),
            description=data.get("description"),
            args=tuple(Port.from_data(p) for p in data["args"]),
            returns=tuple(Port.from_data(p) for p in data["returns"]),
        )

    def signature(self) -> str:
        """`add(a: int, b: int = 2) -> int`, as a person would write it."""
        args = []
        for port in self.args:
            text = f"{port.key}: {port.describe()}"
            if port.default is not MISSING:
                text += f" = {json.dumps(port.default)}"
            elif port.nullable:
                text += " = None"  # a nullable argument may be omitted
            args.append(text)
        returns = [port.describe() for port in self.returns]
        shown = (
            "None"
            if not returns
            else returns[0]
            if len(returns) == 1
            else ("tuple[" + ", ".join(returns) + "]")
        )
        if self.kind is NodeKind.GENERATOR:
            shown = f"Iterator[{shown}]"
        return f"{self.name}({', '.join(args)}) -> {shown}"

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Checks a call's arguments against the ports; returns them in wire form."""
        if len(args) > len(self.args):
            raise ArgumentError(
                f"{self.name} takes {len(self.args)} arguments, got {len(args)}", port="*args"
            )
        given = dict(zip((port.key for port in self.args), args, strict=False))
        for key, value in kwargs.items():
            if key in given:
                raise ArgumentError("given twice (by position and by name)", port=key)
            given[key] = value
        known = {port.key for port in self.args}
        for key in given:
            if key not in known:
                names = ", ".join(sorted(known)) or "no arguments"
                raise ArgumentError(f"unknown argument; {self.name} takes {names}", port=key)
        wire = {}
        for port in self.args:
            if port.key in given:
                wire[port.key] = to_wire(port, given[port.key])
            elif port.required:
                raise ArgumentError(f"missing argument of type {port.describe()}", port=port.key)
        return wire


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_nulls(v) if k != "default" else v
            for k, v in value.items()
            if v is not None and not (k in ("children", "choices") and not v)
        }
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def definition_hash(definition: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of a node: sorted keys, no nulls, no empty lists."""
    canonical = _strip_nulls(dict(definition))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _Builder:
    """Builds the ports of one function, raising errors that name it."""

    def __init__(self, function: Callable[..., Any], name: str) -> None:
        self.function = function
        self.name = name

    def error(self, message: str, parameter: str | None = None) -> RegistrationError:
        return RegistrationError(message, function=self.name, parameter=parameter)

    def port(self, key: str, annotation: Any, where: str, description: str | None = None) -> Port:
        nullable = False
        constraints: dict[str, Any] = {}
        if get_origin(annotation) is typing.Annotated:
            annotation, *metadata = get_args(annotation)
            constraints = self.constraints(metadata, where)
        members = _union_members(annotation)
        if members is not None and type(None) in members:
            nullable = True
            members = [m for m in members if m is not type(None)]
            annotation = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
            if get_origin(annotation) is typing.Annotated:
                annotation, *metadata = get_args(annotation)
                constraints |= self.constraints(metadata, where)
        port = self.bare_port(key, annotation, where)
        return Port(
            key=key,
            kind=port.kind,
            nullable=nullable,
            description=description,
            identifier=port.identifier,
            choices=port.choices,
            children=port.children,
            constraints=Constraints(**constraints),
            python_type=annotation,
        )

    def bare_port(self, key: str, annotation: Any, where: str) -> Port:
        if annotation in _SCALARS:
            return Port(key, _SCALARS[annotation])
        if annotation is inspect.Parameter.empty:
            raise self.error("has no type annotation; annotate it, e.g. `x: int`", where)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return Port(
                key,
                PortKind.ENUM,
                identifier=annotation.__name__,
                choices=tuple(Choice(value=m.name, label=m.name) for m in annotation),
            )
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Literal:
            if not all(isinstance(a, str) for a in args):
                raise self.error("Literal choices must be strings", where)
            return Port(key, PortKind.ENUM, choices=tuple(Choice(value=a, label=a) for a in args))
        if annotation in (list, dict, tuple, set) or origin in (tuple, set, frozenset):
            raise self.error(
                f"{_name(annotation)} says nothing about its items; "
                "use list[X] or dict[str, X] with a concrete X",
                where,
            )
        if origin in (list, collections.abc.Sequence):
            return Port(key, PortKind.LIST, children=(self.port("item", args[0], where),))
        if origin in (dict, collections.abc.Mapping):
            if args[0] is not str:
                raise self.error(f"dict keys must be str, not {_name(args[0])}", where)
            return Port(key, PortKind.DICT, children=(self.port("value", args[1], where),))
        if _union_members(annotation) is not None:
            raise self.error(
                f"{_name(annotation)}: unions other than `X | None` are not supported yet", where
            )
        raise self.error(
            f"{_name(annotation)} is not a type arkitekt can send; use int, float, str, bool, "
            "datetime, an Enum, list[X] or dict[str, X]",
            where,
        )

    def constraints(self, metadata: list[Any], where: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for item in metadata:
            # Interval, Len and pydantic's StringConstraints are groups of single markers.
            grouped = isinstance(item, annotated_types.GroupedMetadata)
            for marker in item if grouped else [item]:
                found |= self.constraint(marker, where)
        return found

    def constraint(self, marker: Any, where: str) -> dict[str, Any]:
        match marker:
            case annotated_types.Gt(gt=bound):
                return {"gt": _float(bound)}
            case annotated_types.Ge(ge=bound):
                return {"ge": _float(bound)}
            case annotated_types.Lt(lt=bound):
                return {"lt": _float(bound)}
            case annotated_types.Le(le=bound):
                return {"le": _float(bound)}
            case annotated_types.MinLen(min_length=size):
                return {"min_length": size}
            case annotated_types.MaxLen(max_length=size):
                return {"max_length": size}
            case re.Pattern():
                return {"pattern": marker.pattern}
            case str():
                return {}  # a plain string documents the port (see _annotated_description)
        pattern = getattr(marker, "pattern", None)
        if isinstance(pattern, str):
            return {"pattern": pattern}
        raise self.error(f"unsupported Annotated metadata {marker!r}", where)


def _float(bound: Any) -> float:
    return float(bound)


def _union_members(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return None


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _annotated_description(annotation: Any) -> str | None:
    if get_origin(annotation) is typing.Annotated:
        for item in get_args(annotation)[1:]:
            if isinstance(item, str):
                return item
    return None


def node_of(function: Callable[..., Any], *, name: str | None = None) -> Node:
    """The node of a function: its name, kind, ports and descriptions."""
    name = name or function.__name__
    builder = _Builder(function, name)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as error:
        raise builder.error(f"its annotations cannot be resolved ({error})") from error
    docs = docstring_parser.parse(inspect.getdoc(function) or "")
    described = {p.arg_name: p.description for p in docs.params}
    signature = inspect.signature(function)
    args = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise builder.error(
                "*args and **kwargs cannot be ports; name each parameter", parameter.name
            )
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        description = described.get(parameter.name) or _annotated_description(annotation)
        port = builder.port(parameter.name, annotation, parameter.name, description)
        args.append(_with_default(builder, port, parameter))
    is_generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
    returns = _returns(builder, hints.get("return", inspect.Parameter.empty), is_generator, docs)
    description = "\n\n".join(
        part for part in (docs.short_description, docs.long_description) if part
    )
    return Node(
        name=name,
        kind=NodeKind.GENERATOR if is_generator else NodeKind.FUNCTION,
        args=tuple(args),
        returns=returns,
        description=description or None,
    )


def _with_default(builder: _Builder, port: Port, parameter: inspect.Parameter) -> Port:
    if parameter.default is inspect.Parameter.empty:
        return port
    if parameter.default is None:
        if not port.nullable:
            raise builder.error(
                f"defaults to None but {port.describe()} does not allow None; "
                f"annotate it as `{port.describe()} | None`",
                parameter.name,
            )
        return port
    try:
        wire = to_wire(port, parameter.default, parameter.name)
    except ArgumentError as error:
        raise builder.error(
            f"the default {parameter.default!r} does not match {port.describe()} ({error})",
            parameter.name,
        ) from error
    return Port(**{**vars(port), "default": wire})


def _returns(
    builder: _Builder, annotation: Any, is_generator: bool, docs: docstring_parser.Docstring
) -> tuple[Port, ...]:
    if annotation is inspect.Parameter.empty:
        raise builder.error(
            "has no return annotation; annotate it (`-> None` when it returns nothing)", "return"
        )
    if is_generator:
        if get_origin(annotation) not in _GENERATOR_ORIGINS:
            raise builder.error(
                "is a generator: annotate it as Iterator[X] (or AsyncIterator[X])", "return"
            )
        annotation = get_args(annotation)[0]
    if annotation is None or annotation is type(None):
        return ()
    items = list(get_args(annotation)) if get_origin(annotation) is tuple else [annotation]
    if ... in items:
        raise builder.error("tuple[X, ...] has no fixed length; use list[X]", "return")
    descriptions = _return_descriptions(docs, len(items))
    return tuple(
        builder.port(f"return{i}", item, "return", descriptions[i]) for i, item in enumerate(items)
    )


_TYPED_LINE = re.compile(r"^[A-Za-z_][\w\[\], .|]*:\s+")


def _return_descriptions(docs: docstring_parser.Docstring, count: int) -> list[str | None]:
    """One description per return port. Google-style `Returns:` sections with one line per
    value come back from docstring-parser as one description; split them again."""
    returns = docs.many_returns
    if len(returns) == count:
        return [r.description for r in returns]
    if len(returns) == 1 and count > 1:
        lines = [line.strip() for line in (returns[0].description or "").splitlines()]
        lines = [line for line in lines if line]
        if len(lines) == count:
            if returns[0].type_name:  # `type: description` lines: drop the types
                lines = [lines[0], *(_TYPED_LINE.sub("", line) for line in lines[1:])]
            return list(lines)
    return [None] * count
