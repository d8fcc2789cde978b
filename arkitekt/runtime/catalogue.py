"""An app's catalogue: the definitions its functions become, as data to print.

`arkitekt inspect app.py` shows them without a platform: what each function takes and
returns, with kinds, defaults, constraints, widgets, descriptions and the content hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .nodes import Node
from .ports import MISSING, Port, _number
from .registry import Registry


@dataclass(frozen=True)
class PortRow:
    """One line of the table: a port, or a model's field (`where` says which)."""

    where: str
    """`args`, `returns`, or the model's identifier."""
    key: str
    kind: str
    type: str
    default: str
    constraints: str
    widget: str
    description: str


def definitions(registry: Registry) -> list[dict[str, Any]]:
    """Each function's definition as JSON-ready data, as the platform stores it."""
    return [
        {
            "interface": implementation.interface,
            "hash": implementation.node.hash,
            **implementation.node.to_input().model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
        }
        for implementation in registry
    ]


def port_rows(node: Node) -> list[PortRow]:
    """The node's ports, then the fields of its models, one row each."""
    rows = [_row("args", port) for port in node.args]
    rows += [_row("returns", port) for port in node.returns]
    for model in node.models:
        rows += [_row(model.identifier, field) for field in model.fields]
    return rows


def _row(where: str, port: Port) -> PortRow:
    return PortRow(
        where=where,
        key=port.key,
        kind=port.kind.value,
        type=port.describe(),
        default=_default_text(where, port),
        constraints=constraints_text(port),
        widget=widget_text(port),
        description=port.description or "",
    )


def _default_text(where: str, port: Port) -> str:
    """The default as JSON; `null` for an argument that may be left out because it is
    nullable (it then arrives as None); nothing for a return."""
    if port.default is not MISSING:
        return json.dumps(port.default)
    return "null" if port.nullable and where != "returns" else ""


def widget_text(port: Port) -> str:
    """`slider, step 0.05`: how forms show the port, when its author said."""
    widget = port.widget
    if widget is None:
        return ""
    parts = [widget.kind.value.lower()]
    if widget.step is not None:
        parts.append(f"step {_number(widget.step)}")
    if widget.rows is not None:
        parts.append(f"{widget.rows} rows")
    if widget.placeholder is not None:
        parts.append(f"placeholder {widget.placeholder!r}")
    return ", ".join(parts)


def constraints_text(port: Port) -> str:
    """`> 0, <= 10, len <= 5, matches '^a'`: the rules a value must follow."""
    c = port.constraints
    parts = [
        f"{symbol} {_number(bound)}"
        for symbol, bound in ((">", c.gt), (">=", c.ge), ("<", c.lt), ("<=", c.le))
        if bound is not None
    ]
    if c.min_length is not None:
        parts.append(f"len >= {c.min_length}")
    if c.max_length is not None:
        parts.append(f"len <= {c.max_length}")
    if c.pattern is not None:
        parts.append(f"matches {c.pattern!r}")
    return ", ".join(parts)
