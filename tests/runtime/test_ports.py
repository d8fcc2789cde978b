"""Values against ports: what passes, what fails, and how the failure reads."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import annotated_types as at
import numpy as np
import pydantic
import pytest

from arkitekt import ArgumentError, StructureError, node_of
from arkitekt.runtime.ports import Port, expand, from_wire, shrink, to_wire


class Stain(Enum):
    DAPI = 1
    GFP = 2


def port_of(annotation: Any) -> Port:
    def f(x):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"x": annotation, "return": None}
    return node_of(f).args[0]


@pytest.mark.parametrize(
    ("annotation", "value", "wire"),
    [
        (int, 3, 3),
        (float, 3, 3.0),
        (str, "s", "s"),
        (bool, False, False),
        (Stain, Stain.GFP, "GFP"),
        (list[int], (1, 2), [1, 2]),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (int | None, None, None),
        (datetime, datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "2026-01-02T03:04:00+00:00"),
    ],
)
def test_values_round_trip(annotation: Any, value: Any, wire: Any) -> None:
    port = port_of(annotation)
    assert to_wire(port, value) == wire
    back = from_wire(port, wire)
    assert back == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize(
    ("annotation", "value", "wire"),
    [
        (int, np.int64(7), 7),
        (float, np.float32(1.5), 1.5),
        (float, np.uint8(2), 2.0),
        (bool, np.bool_(True), True),
        (list[float], np.array([0.5, 1.0]), [0.5, 1.0]),
        (list[list[int]], np.arange(4).reshape(2, 2), [[0, 1], [2, 3]]),
        (Annotated[int, at.Gt(0)], np.int16(3), 3),
    ],
)
def test_numpy_numbers_and_arrays_fit_number_and_list_ports(
    annotation: Any, value: Any, wire: Any
) -> None:
    sent = to_wire(port_of(annotation), value)
    assert sent == wire
    assert json.dumps(sent) == json.dumps(wire), "plain Python values, ready for JSON"


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (int, np.bool_(True), "x: expected an int, got bool"),
        (int, np.float64(1.0), "x: expected an int, got float64"),
        (bool, np.int64(1), "x: expected a bool, got int64"),
        (float, np.float64("nan"), "x: must be a finite number"),
        (Annotated[int, at.Gt(0)], np.int64(0), "x: must be greater than 0, got 0"),
    ],
)
def test_numpy_values_are_checked_like_python_ones(
    annotation: Any, value: Any, message: str
) -> None:
    with pytest.raises(ArgumentError, match=message):
        to_wire(port_of(annotation), value)


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (int, True, "x: expected an int, got bool True"),
        (int, 1.5, "x: expected an int, got float 1.5"),
        (float, "1", "x: expected a float, got str '1'"),
        (float, float("nan"), "x: must be a finite number"),
        (str, None, "x: must not be None"),
        (Stain, "RED", "x: must be one of 'DAPI', 'GFP', got 'RED'"),
        (list[int], [1, "2"], r"x\[1\]: expected an int, got str '2'"),
        (list[int], "12", "x: expected a list, got str"),
        (dict[str, list[int]], {"a": [1, None]}, r"x.a\[1\]: must not be None"),
        (dict[str, int], {1: 1}, "x: keys must be str, got int 1"),
        (Annotated[int, at.Gt(0)], 0, "x: must be greater than 0, got 0"),
        (Annotated[float, at.Le(1.5)], 2, "x: must be at most 1.5, got 2.0"),
        (Annotated[str, at.MaxLen(3)], "long", "x: must have at most 3 characters, got 4"),
        (Annotated[list[int], at.MinLen(1)], [], "x: must have at least 1 items, got 0"),
    ],
)
def test_bad_values_name_the_port_and_the_rule(annotation: Any, value: Any, message: str) -> None:
    with pytest.raises(ArgumentError, match=message) as caught:
        to_wire(port_of(annotation), value)
    assert caught.value.port.startswith("x")


def test_wire_values_are_checked_on_the_way_in() -> None:
    with pytest.raises(ArgumentError, match="x: expected an ISO 8601 string"):
        from_wire(port_of(datetime), "yesterday")
    with pytest.raises(ArgumentError, match="x: must not be null"):
        from_wire(port_of(int), None)
    assert from_wire(port_of(Stain), "DAPI") is Stain.DAPI
    remote = Port.from_data(port_of(Stain).to_input().model_dump())
    assert from_wire(remote, "DAPI") == "DAPI"  # without the local class, the name itself


@dataclasses.dataclass
class Spot:
    x: float
    y: float
    label: str | None = None


class Tag(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1)


@dataclasses.dataclass
class Positive:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def node_port(annotation: Any) -> Port:
    """A port with its node's models resolved (MODEL ports need them)."""
    return port_of(annotation)


@pytest.mark.parametrize(
    ("annotation", "value", "wire"),
    [
        (int | str, "a", {"use": 1, "value": "a"}),
        (int | str, 3, {"use": 0, "value": 3}),
        (float | list[int], [1], {"use": 1, "value": [1]}),
        (Spot, Spot(1, 2), {"x": 1.0, "y": 2.0, "label": None}),
        (list[Spot], [Spot(0, 1, "a")], [{"x": 0.0, "y": 1.0, "label": "a"}]),
        (Tag, Tag(name="dapi"), {"name": "dapi"}),
        (dict[str, Tag | int], {"a": 1}, {"a": {"use": 1, "value": 1}}),
    ],
)
def test_unions_and_models_round_trip(annotation: Any, value: Any, wire: Any) -> None:
    port = node_port(annotation)
    assert to_wire(port, value) == wire
    assert from_wire(port, wire) == value


def test_models_accept_mappings_and_fill_defaults() -> None:
    port = node_port(Spot)
    assert to_wire(port, {"x": 1, "y": 2}) == {"x": 1.0, "y": 2.0, "label": None}
    assert from_wire(port, {"x": 1.0, "y": 2.0}) == Spot(1.0, 2.0)
    remote = Port.from_data(port.to_input().model_dump(), {})
    assert remote.model is None


@pytest.mark.parametrize(
    ("annotation", "wire", "message"),
    [
        (int | str, 3, r'x: expected \{"use": 0..1, "value": ...\} for int \| str, got 3'),
        (int | str, {"use": 2, "value": 1}, r'x: expected \{"use": 0..1'),
        (int | str, {"use": 0, "value": "a"}, "x: expected an int, got str 'a'"),
        (Spot, {"x": 1.0}, "x.y: missing field of type float"),
        (Spot, {"x": 1.0, "y": 2.0, "z": 3}, "x.z: Spot has no such field"),
        (Spot, [1, 2], "x: expected a Spot object, got list"),
        (Tag, {"name": ""}, "x.name: must have at least 1 characters, got 0"),
        (Positive, {"value": -1}, "x: Positive refused the values: negative"),
        (list[Spot], [{"x": 1.0, "y": "a"}], r"x\[0\].y: expected a float"),
    ],
)
def test_bad_union_and_model_values_name_the_port(annotation: Any, wire: Any, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        from_wire(node_port(annotation), wire)


def test_python_values_that_fit_no_member_are_refused() -> None:
    with pytest.raises(ArgumentError, match=r"x: expected int \| str, got float 1.5"):
        to_wire(node_port(int | str), 1.5)
    with pytest.raises(ArgumentError, match="x: expected a Spot, got Tag"):
        to_wire(node_port(Spot), Tag(name="a"))


class Box:
    """A structure that keeps its values in a dict instead of central storage."""

    shelf: dict[str, Box] = {}

    def __init__(self, content: str) -> None:
        self.content = content

    async def shrink(self) -> str:
        reference = f"box-{len(Box.shelf)}"
        Box.shelf[reference] = self
        return reference

    @classmethod
    async def expand(cls, value: str) -> Box:
        if value not in cls.shelf:
            raise KeyError(value)
        return cls.shelf[value]


async def test_structures_shrink_and_expand_anywhere_in_a_value() -> None:
    port = node_port(dict[str, list[Box | int]])
    a, b = Box("a"), Box("b")
    wire = await shrink(port, {"k": [a, 1, b]})
    assert wire["k"][1] == {"use": 1, "value": 1}
    assert [item["use"] for item in wire["k"]] == [0, 1, 0]
    assert all(isinstance(item["value"], str | int) for item in wire["k"])
    back = await expand(port, wire)
    assert back["k"][0] is a
    assert back["k"][2] is b
    assert to_wire(node_port(int), 3) == await shrink(node_port(int), 3)


class Label:
    """A structure of its own that adopts ints: `7` stands for `Label("7")`."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def shrink(self) -> str:
        return f"label-{self.text}"

    @classmethod
    async def expand(cls, value: str) -> Label:
        return cls(value.removeprefix("label-"))

    @classmethod
    def adopt(cls, value: object) -> Label | None:
        return cls(str(value)) if isinstance(value, int) else None


async def test_a_structure_adopts_the_plain_values_it_stands_for() -> None:
    assert await shrink(node_port(list[Label]), [Label("a"), 7, "label-b"]) == [
        "label-a",
        "label-7",
        "label-b",  # a str stays a reference
    ]
    with pytest.raises(ArgumentError, match="x: expected a Label, got float"):
        await shrink(node_port(Label), 1.5)


class Method(Enum):
    OTSU = "otsu"
    LI = "li"


def test_an_enum_member_is_passed_by_its_name_or_its_string_value() -> None:
    port = node_port(Method)
    assert [(c.value, c.label) for c in port.choices] == [("OTSU", "otsu"), ("LI", "li")]
    assert [to_wire(port, v) for v in (Method.LI, "LI", "li")] == ["LI"] * 3
    assert from_wire(port, "LI") is Method.LI
    with pytest.raises(ArgumentError, match="x: must be one of 'OTSU', 'LI', got 'Li'"):
        to_wire(port, "Li")
    # Values that are not strings label nothing: the names stay the way to pass them.
    assert [c.label for c in node_port(Stain).choices] == ["DAPI", "GFP"]


def test_a_refused_value_is_shown_but_not_whole() -> None:
    with pytest.raises(ArgumentError) as refused:
        to_wire(node_port(int), "7" * 10_000)
    assert str(refused.value) == f"x: expected an int, got str '{'7' * 76}..."
    with pytest.raises(ArgumentError, match=r"x: expected a list, got str '1,2'"):
        to_wire(node_port(list[int]), "1,2")


async def test_structure_failures_name_the_port() -> None:
    with pytest.raises(
        StructureError, match=r"x\[0\]: expanding the Box 'missing' failed: KeyError"
    ):
        await expand(node_port(list[Box]), ["missing"])
    with pytest.raises(ArgumentError, match="x: expected a Box, got int"):
        await shrink(node_port(Box), 3)
    remote = Port(key="x", kind=port_of(Box).kind, identifier="@nobody/knows")
    assert await expand(remote, "ref-1") == "ref-1"  # unknown here: stays a reference
