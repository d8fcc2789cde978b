"""From a typed Python function to its node: the contract the platform stores.

How a signature maps to ports:

- `int`, `float`, `str`, `bool`, `datetime` become INT, FLOAT, STRING, BOOL, DATETIME;
- an `Enum` subclass or a `Literal` of strings becomes ENUM (members travel by name; a
  string value is the member's label, which callers may pass too);
- `list[X]` becomes LIST and `dict[str, X]` DICT, with X as their child;
- `X | Y` becomes UNION, with one child per member;
- a dataclass or a pydantic model becomes MODEL: the node defines it once (its fields are
  ports) and ports refer to it by identifier, so models may nest and recurse;
- a class with `shrink`/`expand` hooks, or one given to `register_structure`, becomes
  STRUCTURE: it travels as a reference to central storage;
- `X | None` is nullable; a default makes an argument optional but not nullable,
  unless the default is `None`;
- `Annotated[X, Gt(0), MaxLen(5), ...]` adds constraints (annotated-types), a plain
  string or `annotated_types.doc("...")` in it describes the port, and a widget
  (`arkitekt.widgets`) tells forms how to show it;
- the return annotation gives the return ports: none for `None`, one per item of a
  `tuple[...]`, and the item type of an `Iterator`/`AsyncIterator` for generators.

Descriptions come from the docstring (Google, NumPy or reST). Anything that cannot be
mapped raises `RegistrationError` naming the function, the parameter and the fix.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
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
from functools import cached_property
from pathlib import PurePath
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import docstring_parser

from arkitekt.api.enums import NodeKind, PortKind, WidgetKind
from arkitekt.api.input_types import NodeInput
from arkitekt.errors import ArgumentError, RegistrationError
from arkitekt.widgets import COLOR_PATTERN, Widget

from .ports import (
    MISSING,
    Choice,
    Constraints,
    Model,
    Port,
    expand,
    from_wire,
    is_model_class,
    shrink,
    to_wire,
)
from .storage import Storage, using
from .structures import structure_of

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
    models: tuple[Model, ...] = ()
    """The models MODEL ports refer to, sorted by identifier."""
    idempotent: bool = False
    """Safe to run more than once: work lost with an agent is re-run on another instance."""

    def to_input(self) -> NodeInput:
        return NodeInput(
            name=self.name,
            description=self.description,
            kind=self.kind,
            args=[port.to_input() for port in self.args],
            returns=[port.to_input() for port in self.returns],
            models=[model.to_input() for model in self.models] or None,
            idempotent=True if self.idempotent else None,
        )

    @property
    def hash(self) -> str:
        """The content hash the platform identifies this node by."""
        return definition_hash(self.to_input().model_dump(mode="json"))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Node:
        """Builds a node from its GraphQL form (a fragment's `model_dump()`)."""
        models = Model.from_data(data.get("models") or ())
        return cls(
            id=data.get("id"),
            name=data["name"],
            kind=NodeKind(data["kind"]),
            description=data.get("description"),
            args=tuple(Port.from_data(p, models) for p in data["args"]),
            returns=tuple(Port.from_data(p, models) for p in data["returns"]),
            models=tuple(models[key] for key in sorted(models)),
            idempotent=bool(data.get("idempotent")),
        )

    def signature(self) -> str:
        """`add(a: int, b: int = 2) -> int`, as a person would write it."""
        args = []
        for port in self.args:
            text = f"{port.key}: {port.describe()}"
            if port.default is not MISSING:
                text += f" = {python_literal(port.default)}"
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
        """Matches a call's arguments to the ports; returns them by key, unconverted.

        Raises:
            ArgumentError: Too many, unknown, duplicated or missing arguments.
        """
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
        for port in self.args:
            if port.key not in given and port.required:
                raise ArgumentError(f"missing argument of type {port.describe()}", port=port.key)
        return given

    @cached_property
    def has_structures(self) -> bool:
        return any(port.has_structures for port in (*self.args, *self.returns))

    @cached_property
    def returns_have_structures(self) -> bool:
        return any(port.has_structures for port in self.returns)

    async def shrink_args(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, storage: Storage | None = None
    ) -> dict[str, Any]:
        """A call's arguments in wire form, checked, with structures shrunk to references
        (uploaded to `storage`, concurrently)."""
        given = self.bind(args, kwargs)
        ports = [port for port in self.args if port.key in given]
        if not self.has_structures:
            return {port.key: to_wire(port, given[port.key]) for port in ports}
        with using(storage):
            values = await asyncio.gather(*(shrink(port, given[port.key]) for port in ports))
        return {port.key: value for port, value in zip(ports, values, strict=True)}

    async def expand_args(self, wire: Any, *, storage: Storage | None = None) -> dict[str, Any]:
        """The keyword arguments for a call from their wire form, checked and expanded."""
        if not isinstance(wire, dict):
            raise ArgumentError("expected an object keyed by port", port="args")
        known = {port.key for port in self.args}
        for key in wire:
            if key not in known:
                names = ", ".join(sorted(known)) or "no arguments"
                raise ArgumentError(f"unknown argument; {self.name} takes {names}", port=key)
        kwargs: dict[str, Any] = {}
        for port in self.args:
            if port.key in wire:
                kwargs[port.key] = wire[port.key]
            elif port.required:
                raise ArgumentError(f"missing argument of type {port.describe()}", port=port.key)
            elif port.default is MISSING:  # nullable and omitted
                kwargs[port.key] = None
        ports = [port for port in self.args if port.key in kwargs]
        if not self.has_structures:
            return {port.key: from_wire(port, kwargs[port.key]) for port in ports}
        with using(storage):
            values = await asyncio.gather(*(expand(port, kwargs[port.key]) for port in ports))
        return {port.key: value for port, value in zip(ports, values, strict=True)}

    async def shrink_returns(self, result: Any, *, storage: Storage | None = None) -> list[Any]:
        """A function's result as one JSON value per return port, structures shrunk."""
        ports = self.returns
        values = (result,) if len(ports) == 1 else result
        if len(ports) > 1 and (not isinstance(result, tuple) or len(result) != len(ports)):
            raise ArgumentError(
                f"expected a tuple of {len(ports)} values, got {result!r}", port="return"
            )
        pairs = zip(ports, values, strict=True)
        if not self.returns_have_structures:  # plain values: no tasks, no storage
            return [to_wire(port, value) for port, value in pairs]
        with using(storage):
            shrunk = await asyncio.gather(*(shrink(port, value) for port, value in pairs))
        return list(shrunk)

    async def expand_returns(
        self, wire: list[Any], *, storage: Storage | None = None
    ) -> tuple[Any, ...]:
        """The values of one YIELD, checked and expanded."""
        if len(wire) != len(self.returns):
            raise ArgumentError(
                f"expected {len(self.returns)} values, got {len(wire)}", port="return"
            )
        pairs = zip(self.returns, wire, strict=True)
        if not self.returns_have_structures:
            return tuple(from_wire(port, value) for port, value in pairs)
        with using(storage):
            values = await asyncio.gather(*(expand(port, value) for port, value in pairs))
        return tuple(values)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_nulls(v) if k != "default" else v
            for k, v in value.items()
            if v is not None and not (k in ("children", "choices", "models") and not v)
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
        self.models: dict[str, Model] = {}
        self.fields: list[str] = []
        """The model fields being built, innermost last, for error messages."""

    def error(self, message: str, parameter: str | None = None) -> RegistrationError:
        if self.fields:
            message = f"{self.fields[-1]}: {message}"
        return RegistrationError(message, function=self.name, parameter=parameter)

    def port(self, key: str, annotation: Any, where: str, description: str | None = None) -> Port:
        nullable = False
        metadata: list[Any] = []
        if get_origin(annotation) is typing.Annotated:
            annotation, *metadata = get_args(annotation)
        members = _union_members(annotation)
        if members is not None and type(None) in members:
            nullable = True
            members = [m for m in members if m is not type(None)]
            annotation = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
            if get_origin(annotation) is typing.Annotated:
                annotation, *inner = get_args(annotation)
                metadata += inner
        port = dataclasses.replace(
            self.bare_port(key, annotation, where),
            nullable=nullable,
            description=description,
            constraints=Constraints(**self.constraints(metadata, where)),
            python_type=annotation,
        )
        widgets = [item for item in metadata if isinstance(item, Widget)]
        if len(widgets) > 1:
            raise self.error("give a port one widget at most", where)
        return self.with_widget(port, widgets[0], where) if widgets else port

    def with_widget(self, port: Port, widget: Widget, where: str) -> Port:
        """The port with its widget, once the widget is seen to fit it."""
        misfit = _widget_misfit(port, widget)
        if misfit is not None:
            raise self.error(misfit, where)
        constraints = port.constraints
        if widget.kind is WidgetKind.COLOR:  # the picker gives nothing else
            constraints = dataclasses.replace(constraints, pattern=COLOR_PATTERN)
        return dataclasses.replace(port, constraints=constraints, widget=widget)

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
                choices=tuple(Choice(value=m.name, label=_label(m)) for m in annotation),
            )
        structure = structure_of(annotation)
        if structure is not None:
            return Port(key, PortKind.STRUCTURE, identifier=structure.identifier)
        if is_model_class(annotation):
            return self.model_port(key, annotation, where)
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Literal:
            if not all(isinstance(a, str) for a in args):
                raise self.error("Literal choices must be strings", where)
            return Port(key, PortKind.ENUM, choices=tuple(Choice(value=a, label=a) for a in args))
        if annotation in (list, dict, tuple, set, frozenset):
            raise self.error(
                f"{_name(annotation)} says nothing about its items; "
                "use list[X] or dict[str, X] with a concrete X",
                where,
            )
        if origin in (set, frozenset):
            item = _name(args[0]) if args else "X"
            raise self.error(f"{_name(annotation)} has no JSON form; use list[{item}]", where)
        if origin is tuple:
            raise self.error(
                f"{_name(annotation)} inside a port is not supported; use list[X], or a "
                "dataclass for named fields (only a function's return may be a tuple: "
                "several values)",
                where,
            )
        if origin in (list, collections.abc.Sequence):
            return Port(key, PortKind.LIST, children=(self.port("item", args[0], where),))
        if origin in (dict, collections.abc.Mapping):
            if args[0] is not str:
                raise self.error(f"dict keys must be str, not {_name(args[0])}", where)
            return Port(key, PortKind.DICT, children=(self.port("value", args[1], where),))
        members = _union_members(annotation)
        if members is not None:
            children = tuple(self.port(str(i), m, where) for i, m in enumerate(members))
            return Port(key, PortKind.UNION, children=children)
        raise self.error(_unsupported(annotation), where)

    def model_port(self, key: str, cls: type, where: str) -> Port:
        identifier = cls.__name__
        model = self.models.get(identifier)
        if model is not None and model.python_type is not cls:
            raise self.error(
                f"two different models are named {identifier} "
                f"({_qualified(model.python_type)} and {_qualified(cls)}); rename one",
                where,
            )
        if model is None:
            docs = docstring_parser.parse(cls.__dict__.get("__doc__") or "")
            if (docs.short_description or "").startswith(f"{identifier}("):
                docs = docstring_parser.parse("")  # the signature dataclasses writes
            model = Model(identifier, description=_description(docs), python_type=cls)
            self.models[identifier] = model  # before the fields: they may refer back to it
            described = {p.arg_name: p.description for p in docs.params}
            try:
                found = _model_fields(cls)
            except Exception as error:  # e.g. a forward reference that names nothing
                raise self.error(
                    f"the annotations of {identifier} cannot be resolved ({error})", where
                ) from error
            fields = tuple(self.field_port(identifier, f, where, described) for f in found)
            object.__setattr__(model, "fields", fields)
        return Port(key, PortKind.MODEL, identifier=identifier, model=model)

    def field_port(
        self, model: str, field: _Field, where: str, described: dict[str, str | None]
    ) -> Port:
        self.fields.append(f"{model}.{field.name}")
        try:
            annotation = field.annotation
            if field.metadata:  # pydantic keeps Field(gt=0) apart from the annotation
                annotation = typing.Annotated[(annotation, *field.metadata)]
            description = (
                field.description
                or described.get(field.name)
                or _annotated_description(field.annotation)
            )
            port = self.port(field.name, annotation, where, description)
            return _with_default(self, port, field.default, where)
        finally:
            self.fields.pop()

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
            case Widget():
                return {}  # how forms show the port (see with_widget)
        if _marker_description(marker) is not None:
            return {}  # describes the port (see _annotated_description)
        pattern = getattr(marker, "pattern", None)
        if isinstance(pattern, str):
            return {"pattern": pattern}
        raise self.error(
            f"unsupported Annotated metadata {marker!r}; use annotated-types constraints "
            "(Gt, Ge, Lt, Le, MinLen, MaxLen), a regex pattern, a description string, or a "
            "widget (arkitekt.widgets)",
            where,
        )


def _label(member: enum.Enum) -> str:
    """What forms show for an enum member, and callers may pass for it: its value when that
    is a string (`"otsu"` for `OTSU = "otsu"`), else its name."""
    return member.value if isinstance(member.value, str) else member.name


def _widget_misfit(port: Port, widget: Widget) -> str | None:
    """Why `widget` cannot show `port`, if it cannot."""
    name = f"widgets.{widget.kind.value.lower()}()"
    slider = widget.kind is WidgetKind.SLIDER
    if port.kind not in ((PortKind.INT, PortKind.FLOAT) if slider else (PortKind.STRING,)):
        return f"{name} is for {'int and float' if slider else 'str'} ports, not {port.describe()}"
    c = port.constraints
    if slider and ((c.gt, c.ge) == (None, None) or (c.lt, c.le) == (None, None)):
        return f"a slider needs both bounds: Annotated[{port.describe()}, Ge(0), Le(1), {name}]"
    step = widget.step
    if slider and step is not None and (step <= 0 or (port.kind is PortKind.INT and step % 1)):
        whole = " and whole, for an int" if port.kind is PortKind.INT else ""
        return f"a slider's step must be positive{whole}, not {step}"
    if widget.kind is WidgetKind.PARAGRAPH and not 1 <= (widget.rows or 0) <= 100:
        return f"a paragraph shows 1 to 100 rows, not {widget.rows}"
    if widget.kind is WidgetKind.COLOR and c.pattern not in (None, COLOR_PATTERN):
        return "a colour is '#rrggbb'; leave out the pattern"
    return None


@dataclass(frozen=True)
class _Field:
    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when there is none
    description: str | None = None
    metadata: tuple[Any, ...] = ()


def _model_fields(cls: type) -> list[_Field]:
    """The fields of a dataclass or a pydantic model, with resolved annotations."""
    hints = typing.get_type_hints(cls, include_extras=True)
    empty = inspect.Parameter.empty
    if dataclasses.is_dataclass(cls):
        fields = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default: Any = f.default
            if f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            fields.append(
                _Field(f.name, hints[f.name], empty if default is dataclasses.MISSING else default)
            )
        return fields
    from pydantic_core import PydanticUndefined

    found = []
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        if info.default_factory is not None:
            default = info.default_factory()
        else:
            default = empty if info.default is PydanticUndefined else info.default
        found.append(_Field(name, hints[name], default, info.description, tuple(info.metadata)))
    return found


def _unsupported(annotation: Any) -> str:
    name = _qualified(annotation) if isinstance(annotation, type) else _name(annotation)
    if name.startswith("numpy."):
        return f"{name} cannot travel in messages; use arkitekt.Array (it travels by reference)"
    if annotation is Any:
        return (
            "Any says nothing of what to send; give it a type: int, float, str, bool, "
            "datetime, an Enum, list[X], dict[str, X], a dataclass, a pydantic model or a "
            "structure (arkitekt.Array, arkitekt.File)"
        )
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return (
            f"{name} is a place on one machine, not what is there; use arkitekt.File: "
            "callers send a file, and a Path the function returns is uploaded"
        )
    if isinstance(annotation, type) and annotation.__module__ != "builtins":
        return (
            f"{name} has no shrink/expand; give it `async def shrink(self) -> str` and "
            "`@classmethod async def expand(cls, value)`, register a structure for it "
            "(arkitekt.register_structure), or make it a dataclass"
        )
    return (
        f"{name} is not a type arkitekt can send; use int, float, str, bool, datetime, an "
        "Enum, list[X], dict[str, X], a dataclass, a pydantic model or a structure"
    )


def python_literal(value: Any) -> str:
    """A default as Python source: `False` and `None`, not JSON's `false` and `null`."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(key)}: {python_literal(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    return json.dumps(value)


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _float(bound: Any) -> float:
    return float(bound)


def _union_members(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return None


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _marker_description(marker: Any) -> str | None:
    """A plain string, or a documentation marker (`annotated_types.doc`, PEP 727's Doc)."""
    if isinstance(marker, str):
        return marker
    documentation = getattr(marker, "documentation", None)
    return documentation if isinstance(documentation, str) else None


def _annotated_description(annotation: Any) -> str | None:
    if get_origin(annotation) is typing.Annotated:
        for item in get_args(annotation)[1:]:
            text = _marker_description(item)
            if text is not None:
                return text
    return None


def _description(docs: docstring_parser.Docstring) -> str | None:
    text = "\n\n".join(part for part in (docs.short_description, docs.long_description) if part)
    return text or None


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
        args.append(_with_default(builder, port, parameter.default, parameter.name))
    is_generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
    returns = _returns(builder, hints.get("return", inspect.Parameter.empty), is_generator, docs)
    return Node(
        name=name,
        kind=NodeKind.GENERATOR if is_generator else NodeKind.FUNCTION,
        args=tuple(args),
        returns=returns,
        description=_description(docs),
        models=tuple(builder.models[key] for key in sorted(builder.models)),
    )


def _with_default(builder: _Builder, port: Port, default: Any, where: str) -> Port:
    if default is inspect.Parameter.empty:
        return port
    if default is None:
        if not port.nullable:
            raise builder.error(
                f"defaults to None but {port.describe()} does not allow None; "
                f"annotate it as `{port.describe()} | None`",
                where,
            )
        return port
    if port.has_structures:
        raise builder.error(
            f"{port.describe()} lives in central storage and cannot have a default; "
            "default to None instead",
            where,
        )
    try:
        wire = to_wire(port, default, where)
    except ArgumentError as error:
        raise builder.error(
            f"the default {default!r} does not match {port.describe()} ({error})", where
        ) from error
    return dataclasses.replace(port, default=wire)


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
