"""Widgets: the author's hints for forms, in definitions, checked against their ports."""

from __future__ import annotations

import re
from typing import Annotated, Any

import annotated_types as at
import pytest

from arkitekt import ArgumentError, RegistrationError, Registry, node_of, register, widgets
from arkitekt.api.enums import WidgetKind
from arkitekt.runtime.nodes import Node
from arkitekt.runtime.ports import to_wire


def annotate(
    note: Annotated[str, widgets.paragraph(rows=8, placeholder="What did you see?")],
    threshold: Annotated[float, at.Ge(0), at.Le(1), widgets.slider(step=0.05)] = 0.5,
    overlay: Annotated[str, widgets.color()] = "#ff0000",
    stain: Annotated[str, widgets.text("e.g. DAPI")] | None = None,
) -> str:
    return note


def test_widgets_travel_in_the_definition() -> None:
    node = node_of(annotate)
    note, threshold, overlay, stain = node.args
    assert note.widget == widgets.Widget(
        WidgetKind.PARAGRAPH, rows=8, placeholder="What did you see?"
    )
    assert (threshold.widget, threshold.constraints.ge) == (widgets.slider(step=0.05), 0)
    assert (stain.widget, stain.nullable) == (widgets.text("e.g. DAPI"), True)
    # A colour accepts only what its picker gives.
    assert overlay.constraints.pattern == widgets.COLOR_PATTERN
    assert to_wire(overlay, "#00ff7f") == "#00ff7f"
    with pytest.raises(ArgumentError, match="overlay: must match"):
        to_wire(overlay, "green")
    # What the platform stores reads back the same, and the hint is part of the contract.
    again = Node.from_data(
        {**node.to_input().model_dump(mode="json"), "id": "n", "hash": node.hash}
    )
    assert again.args == node.args

    def hinted(note: Annotated[str, widgets.paragraph()]) -> None: ...
    def bare(note: str) -> None: ...

    assert node_of(hinted).hash != node_of(bare, name="hinted").hash


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[int, widgets.paragraph()], r"widgets.paragraph\(\) is for str ports, not int"),
        (Annotated[str, widgets.slider()], r"widgets.slider\(\) is for int and float ports"),
        (
            Annotated[float, at.Ge(0), widgets.slider()],
            r"a slider needs both bounds: Annotated\[float, Ge\(0\), Le\(1\)",
        ),
        (
            Annotated[int, at.Ge(0), at.Le(9), widgets.slider(step=0.5)],
            "a slider's step must be positive and whole, for an int, not 0.5",
        ),
        (Annotated[str, widgets.paragraph(rows=0)], "a paragraph shows 1 to 100 rows, not 0"),
        (
            Annotated[str, re.compile("^[a-z]+$"), widgets.color()],
            "a colour is '#rrggbb'; leave out the pattern",
        ),
        (
            Annotated[str, widgets.color(), widgets.text("x")],
            "give a port one widget at most",
        ),
    ],
    ids=["paragraph-int", "slider-str", "one-bound", "half-step", "no-rows", "pattern", "two"],
)
def test_a_widget_that_does_not_fit_its_port_is_refused(annotation: Any, message: str) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"x": annotation, "return": None}
    with pytest.raises(RegistrationError, match=message) as caught:
        register(f, registry=Registry())
    assert (caught.value.function, caught.value.parameter) == ("f", "x")
