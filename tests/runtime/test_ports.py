"""Values against ports: what passes, what fails, and how the failure reads."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import annotated_types as at
import pytest

from arkitekt import ArgumentError, node_of
from arkitekt.runtime.ports import Port, from_wire, to_wire


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
