"""The form's rules, in the browser, against the SDK's: what the dashboard sends is what a
Python caller would send, and a refused value gets the SDK's message."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

import annotated_types as at
import numpy as np
import pytest
from playwright.async_api import Page

from arkitekt.errors import ArgumentError
from arkitekt.runtime.nodes import node_of
from arkitekt.runtime.ports import to_wire
from arkitekt.testing import RunningPlatform

from .conftest import sign_in


class Stain(Enum):
    DAPI = "dapi"
    GFP = "gfp"


@dataclasses.dataclass
class Spot:
    y: float
    x: float
    label: str | None = None


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree]


def everything(
    count: Annotated[int, at.Ge(1), at.Lt(10)],
    ratio: Annotated[float, at.Gt(0)],
    name: Annotated[str, at.MaxLen(5)],
    code: Annotated[str, re.compile("^[a-z]+$")] | None,
    flag: bool,
    when: datetime,
    stain: Stain,
    speed: Literal["fast", "careful"],
    sizes: Annotated[list[int], at.MaxLen(3)],
    table: dict[str, list[float]],
    spot: Spot,
    tree: Tree,
    either: int | Spot,
    maybe: int | None = 4,
) -> None:
    """Every kind, nested."""


NODE = node_of(everything)


def wire(**values: Any) -> dict[str, Any]:
    """Arguments in their JSON form, as the SDK would send them."""
    ports = {port.key: port for port in NODE.args}
    return {key: to_wire(ports[key], value) for key, value in values.items()}


GOOD = wire(
    count=3,
    ratio=0.25,
    name="cells",
    code=None,
    flag=True,
    when=datetime.fromisoformat("2024-05-01T10:30:00+02:00"),
    stain=Stain.GFP,
    speed="careful",
    sizes=[1, 2],
    table={"a": [1.5, -2.0], "b": []},
    spot=Spot(1.0, 2.5, "nucleus"),
    tree=Tree("root", [Tree("leaf", [])]),
    either=Spot(0.0, 1.0),
    maybe=None,
)

# A page that reads drafts the way the form does: from JSON (defaults, a past call's
# arguments) into drafts, and back.
ROUND_TRIP = """async ([node, args]) => {
  const main = document.querySelector("script[type=module]").src;
  const ports = await import(new URL("ports.js", main));
  const models = ports.modelsOf(node);
  const draft = (port) => ports.draftOf(port, args[port.key], models);
  const drafts = Object.fromEntries(node.args.map((port) => [port.key, draft(port)]));
  return ports.readArgs(node.args, drafts, models);
}"""

READ_ONE = """async ([port, value]) => {
  const main = document.querySelector("script[type=module]").src;
  const ports = await import(new URL("ports.js", main));
  const draft = ports.draftOf(port, value, new Map());
  return ports.read(port, draft, new Map()).errors[port.key] ?? null;
}"""


def graphql_node() -> dict[str, Any]:
    """The node as the dashboard receives it from the API."""
    return NODE.to_input().model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.fixture
async def ports_page(page: Page, server: RunningPlatform) -> Page:
    await sign_in(page, server)
    return page


async def test_json_survives_the_form_unchanged(ports_page: Page) -> None:
    node = graphql_node()
    result = await ports_page.evaluate(ROUND_TRIP, [node, GOOD])
    assert result["errors"] == {}
    assert result["value"] == GOOD


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("count", 0),
        ("count", 10),
        ("ratio", 0.0),
        ("ratio", -1.5),
        ("name", "nucleus"),
        ("code", "ABC"),
        ("sizes", [1, 2, 3, 4]),
    ],
)
async def test_a_refused_value_gets_the_sdks_message(
    ports_page: Page, key: str, value: Any
) -> None:
    port = next(p for p in graphql_node()["args"] if p["key"] == key)
    shown = await ports_page.evaluate(READ_ONE, [port, value])
    with pytest.raises(ArgumentError) as refused:
        wire(**{key: value})
    assert f"{key}: {shown}" == str(refused.value)


NPY_OF = """async ([shape, dtype, values]) => {
  const main = document.querySelector("script[type=module]").src;
  const arrays = await import(new URL("arrays.js", main));
  const data = dtype === "float64" ? new Float64Array(values) : new Uint16Array(values);
  const blob = arrays.npyOf({ shape, dtype, data });
  return [...new Uint8Array(await blob.arrayBuffer())];
}"""


@pytest.mark.parametrize(
    "value",
    [
        np.arange(6, dtype=np.uint16).reshape(2, 3),
        np.linspace(0, 1, 5),
        np.asarray(2.5),
        np.zeros((0, 4), dtype=np.uint16),
    ],
    ids=["2d", "1d", "scalar", "empty"],
)
async def test_arrays_saved_from_the_page_are_npy_files_numpy_reads(
    ports_page: Page, value: np.ndarray[Any, Any]
) -> None:
    written = await ports_page.evaluate(
        NPY_OF, [list(value.shape), str(value.dtype), value.ravel().tolist()]
    )
    saved = np.load(io.BytesIO(bytes(written)))
    assert (saved.shape, saved.dtype) == (value.shape, value.dtype)
    np.testing.assert_array_equal(saved, value)
    assert bytes(written).index(b"\n") + 1 == len(written) - value.nbytes
    assert (len(written) - value.nbytes) % 64 == 0, "the data starts 64-byte aligned"
