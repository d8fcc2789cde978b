"""`arkitekt inspect`: an app's definitions, without a platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import annotated_types as at

from arkitekt import Registry, node_of, widgets
from arkitekt.runtime.catalogue import constraints_text, definitions, port_rows

ROOT = Path(__file__).parents[2]


def scale(
    image: list[float],
    factor: Annotated[float, at.Gt(0), at.Le(10)] = 2.0,
    label: Annotated[str, at.MaxLen(5), "A short tag."] = "x",
) -> list[float]:
    """Scale an image.

    Args:
        image: The pixels.
    """
    return [v * factor for v in image]


def test_rows_show_kinds_defaults_constraints_and_descriptions() -> None:
    rows = port_rows(node_of(scale))
    assert [(r.where, r.key, r.kind, r.type) for r in rows] == [
        ("args", "image", "LIST", "list[float]"),
        ("args", "factor", "FLOAT", "float"),
        ("args", "label", "STRING", "str"),
        ("returns", "return0", "LIST", "list[float]"),
    ]
    assert (rows[1].default, rows[1].constraints) == ("2.0", "> 0, <= 10")
    assert (rows[2].default, rows[2].constraints, rows[2].description) == (
        '"x"',
        "len <= 5",
        "A short tag.",
    )
    assert rows[0].description == "The pixels."
    assert constraints_text(node_of(scale).args[0]) == ""


def test_rows_show_the_widget_an_author_chose() -> None:
    def note(
        text: Annotated[str, widgets.paragraph(rows=4, placeholder="Seen?")],
        level: Annotated[int, at.Ge(0), at.Le(8), widgets.slider(step=2)] = 4,
        plain: str = "",
    ) -> None: ...

    assert [row.widget for row in port_rows(node_of(note))] == [
        "paragraph, 4 rows, placeholder 'Seen?'",
        "slider, step 2",
        "",
    ]


def test_a_nullable_argument_defaults_to_null_and_a_return_to_nothing() -> None:
    def find(near: int | None = None, limit: int | None = 5) -> int | None: ...

    rows = port_rows(node_of(find))
    assert [(r.key, r.default) for r in rows] == [
        ("near", "null"),
        ("limit", "5"),
        ("return0", ""),
    ]


def test_definitions_are_the_stored_form_with_the_hash() -> None:
    registry = Registry()
    registry.add(scale)
    (definition,) = definitions(registry)
    assert definition["hash"] == node_of(scale).hash
    assert definition["interface"] == "scale"
    assert definition["args"][1]["constraints"] == {"gt": 0.0, "le": 10.0}
    assert definition["args"][1]["default"] == 2.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "arkitekt", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_inspect_prints_a_table_or_json(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "from dataclasses import dataclass\n"
        "from arkitekt import register\n\n"
        "@dataclass\nclass Spot:\n    x: float\n    y: float\n\n"
        "@register\ndef find(threshold: float = 0.5) -> list[Spot]:\n"
        '    """Find spots."""\n    return []\n'
    )
    table = run("inspect", str(app))
    assert table.returncode == 0, table.stderr
    assert "find(threshold: float = 0.5) -> list[Spot]" in table.stdout
    assert "Find spots." in table.stdout
    assert "Spot" in table.stdout
    assert "widget" not in table.stdout  # a column only when some port has one
    listed = run("inspect", str(app), "--json")
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)
    assert found["name"] == "find"
    assert found["models"][0]["identifier"] == "Spot"
    assert [f["key"] for f in found["models"][0]["fields"]] == ["x", "y"]
    assert len(found["hash"]) == 64


def test_inspect_names_what_is_wrong(tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text(
        "from arkitekt import register\n\n@register\ndef f(x: list) -> int:\n    return 1\n"
    )
    result = run("inspect", str(app))
    assert result.returncode == 1
    assert "f(x): list says nothing about its items" in result.stderr

    app.write_text(
        "from arkitekt import register\n\n"
        "@register\ndef f(x: list) -> int:\n    return 1\n\n"
        "@register\ndef g(x: int) -> int:\n    return 1\n\n"
        "@register\ndef h(y) -> int:\n    return 1\n"
    )
    every = run("inspect", str(app))
    assert every.returncode == 1
    assert "broken.py: 2 functions cannot be registered:" in every.stderr, "each, at once"
    assert "f(x): list says nothing" in every.stderr
    assert "h(y): has no type annotation" in every.stderr
