"""Widgets: how forms (the dashboard's) show a port's input, as the function's author asks.

Put one in the port's `Annotated[...]`, beside its constraints:

    from arkitekt import register, widgets

    @register
    def annotate(
        note: Annotated[str, widgets.paragraph(rows=8)],
        threshold: Annotated[float, Ge(0), Le(1), widgets.slider(step=0.05)] = 0.5,
        overlay: Annotated[str, widgets.color()] = "#ff0000",
    ) -> str: ...

Without one, a form chooses by the port: a slider for a number with both bounds, a text
area for long text. A widget that does not fit its port fails at registration.
"""

from __future__ import annotations

from dataclasses import dataclass

from arkitekt.api.enums import WidgetKind

COLOR_PATTERN = "^#[0-9a-fA-F]{6}$"
"""What a colour's value looks like: the port of a `color()` accepts only this."""


@dataclass(frozen=True)
class Widget:
    """A hint for forms, part of the node's definition (`Port.widget`)."""

    kind: WidgetKind
    step: float | None = None
    rows: int | None = None
    placeholder: str | None = None


def text(placeholder: str) -> Widget:
    """A single line that shows `placeholder` while empty: an example value, say."""
    return Widget(WidgetKind.TEXT, placeholder=placeholder)


def paragraph(rows: int = 6, placeholder: str | None = None) -> Widget:
    """Several lines of text, `rows` of them in view."""
    return Widget(WidgetKind.PARAGRAPH, rows=rows, placeholder=placeholder)


def slider(step: float | None = None) -> Widget:
    """A slider between the port's bounds (it needs both), moving by `step`."""
    return Widget(WidgetKind.SLIDER, step=step)


def color() -> Widget:
    """A colour picker. The value is `#rrggbb`, and the port accepts nothing else."""
    return Widget(WidgetKind.COLOR)


__all__ = ["COLOR_PATTERN", "Widget", "color", "paragraph", "slider", "text"]
