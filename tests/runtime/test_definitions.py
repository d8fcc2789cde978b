"""Unions, models and structures in definitions: how they map, and how refusals read."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import annotated_types as at
import pydantic
import pytest

from arkitekt import RegistrationError, Registry, StructureError, node_of, register
from arkitekt.api.enums import PortKind
from arkitekt.runtime.nodes import Node
from arkitekt.runtime.structures import register_structure, structure_named


@dataclasses.dataclass
class Centroid:
    y: float
    x: float


@dataclasses.dataclass
class Region:
    """A labelled region of an image.

    Attributes:
        label: Its label in the label image.
        area: How many pixels it covers.
    """

    label: Annotated[int, at.Gt(0)]
    area: int
    centroid: Centroid
    tags: list[str] = dataclasses.field(default_factory=list)


class Stage(pydantic.BaseModel):
    """Where the stage is."""

    x: float = pydantic.Field(description="In micrometres.", ge=0)
    z: float | None = None


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree]


class Image:
    """The seed's structure: a reference to central storage with two hooks."""

    def __init__(self, id: str) -> None:
        self.id = id

    async def shrink(self) -> str:
        return self.id

    @classmethod
    async def expand(cls, value: str) -> Image:
        return cls(value)


def test_unions_have_one_child_per_member() -> None:
    def f(a: int | str, b: int | str | None = None) -> None: ...

    a, b = node_of(f).args
    assert a.kind is PortKind.UNION
    assert [c.kind for c in a.children] == [PortKind.INT, PortKind.STRING]
    assert (a.nullable, b.nullable) == (False, True)
    assert b.describe() == "int | str | None"


def test_models_are_defined_once_and_referred_to_by_identifier() -> None:
    def f(regions: list[Region], first: Region, stage: Stage) -> dict[str, Region]: ...

    node = node_of(f)
    assert [m.identifier for m in node.models] == ["Centroid", "Region", "Stage"]
    regions, first, _ = node.args
    assert regions.children[0].kind is PortKind.MODEL
    assert regions.children[0].identifier == first.identifier == "Region"
    assert first.children == ()
    region = next(m for m in node.models if m.identifier == "Region")
    assert region.description == "A labelled region of an image."
    label, area, centroid, tags = region.fields
    assert (label.key, label.constraints.gt, label.description) == (
        "label",
        0,
        "Its label in the label image.",
    )
    assert area.description == "How many pixels it covers."
    assert centroid.identifier == "Centroid"
    assert (tags.kind, tags.default, tags.required) == (PortKind.LIST, [], False)
    model = next(m for m in node.models if m.identifier == "Stage")
    x, z = model.fields
    assert (x.description, x.constraints.ge, x.required) == ("In micrometres.", 0, True)
    assert (z.nullable, z.required) == (True, False)
    assert model.description == "Where the stage is."


def test_models_may_refer_to_themselves() -> None:
    def f(tree: Tree) -> int: ...

    node = node_of(f)
    (tree,) = node.models
    assert tree.fields[1].children[0].model is tree
    again = Node.from_data(node.to_input().model_dump())
    assert again.hash == node.hash
    assert again.models[0].fields[1].children[0].model is again.models[0]


def test_the_seed_structure_is_a_structure_port() -> None:
    def f(image: Image, images: list[Image] | None = None) -> Image: ...

    node = node_of(f)
    image, images = node.args
    assert (image.kind, image.identifier) == (PortKind.STRUCTURE, "Image")
    assert images.children[0].kind is PortKind.STRUCTURE
    assert node.returns[0].identifier == "Image"
    assert image.has_structures
    assert images.has_structures
    assert node.has_structures


def test_registered_structures_use_their_identifier() -> None:
    class Foreign:  # a class we do not own: no hooks
        pass

    register_structure(
        Foreign, identifier="@lab/foreign", shrink=lambda value: "ref", expand=lambda ref: Foreign()
    )

    def f(x):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"x": Foreign, "return": None}
    assert node_of(f).args[0].identifier == "@lab/foreign"
    assert structure_named("@lab/foreign") is not None
    with pytest.raises(StructureError, match="'@lab/foreign' already names"):
        register_structure(int, identifier="@lab/foreign", shrink=str, expand=int)

    @register_structure(identifier="@lab/decorated")
    class Decorated:
        async def shrink(self) -> str:
            return "d"

        @classmethod
        async def expand(cls, value: str) -> Decorated:
            return cls()

    def g(x):  # type: ignore[no-untyped-def]
        ...

    g.__annotations__ = {"x": Decorated, "return": None}
    assert node_of(g).args[0].identifier == "@lab/decorated"


def test_descriptions_from_annotated_markers() -> None:
    def f(
        a: Annotated[float, "The sigma."],
        b: Annotated[int, at.doc("How many."), at.Ge(1)] = 1,
    ) -> None: ...

    a, b = node_of(f).args
    assert a.description == "The sigma."
    assert (b.description, b.constraints.ge) == ("How many.", 1)


def test_models_and_unions_change_the_hash() -> None:
    def f(x: int | str) -> None: ...
    def g(x: str | int) -> None: ...

    assert node_of(f).hash != node_of(g, name="f").hash


class Unannotated:
    pass


@dataclasses.dataclass
class BadField:
    mask: object


@dataclasses.dataclass
class Dangling:
    other: Nowhere  # type: ignore[name-defined]  # noqa: F821


@dataclasses.dataclass
class BadDefault:
    area: int = "large"  # type: ignore[assignment]


def _twin() -> type:
    @dataclasses.dataclass
    class Centroid:  # the same name as the module's Centroid
        z: float

    return Centroid


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (
            Unannotated,
            r"f\(x\): tests.runtime.test_definitions.Unannotated has no shrink/expand; "
            r".*register a structure",
        ),
        (BadField, r"f\(x\): BadField.mask: object is not a type arkitekt can send"),
        (BadDefault, r"f\(x\): BadDefault.area: the default 'large' does not match int"),
        (Annotated[int, object()], r"f\(x\): unsupported Annotated metadata"),
        (Dangling, r"f\(x\): the annotations of Dangling cannot be resolved"),
        (Path, r"f\(x\): pathlib.Path is a place on one machine.*use arkitekt.File"),
        (Any, r"f\(x\): Any says nothing of what to send; give it a type"),
        (list[Image] | None, None),
    ],
    ids=[
        "unknown-class",
        "model-field",
        "model-default",
        "annotated",
        "unresolved",
        "path",
        "any",
        "fine",
    ],
)
def test_refusals_name_the_function_the_parameter_and_the_fix(
    annotation: Any, message: str | None
) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"x": annotation, "return": None}
    if message is None:
        register(f, registry=Registry())
        return
    with pytest.raises(RegistrationError, match=message) as caught:
        register(f, registry=Registry())
    assert (caught.value.function, caught.value.parameter) == ("f", "x")


def test_numpy_arrays_point_to_the_array_structure() -> None:
    numpy = pytest.importorskip("numpy")

    def f(x):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"x": numpy.ndarray, "return": None}
    with pytest.raises(RegistrationError, match=r"f\(x\): numpy.ndarray .*use arkitekt.Array"):
        node_of(f)


def test_two_models_with_one_name_are_refused() -> None:
    other = _twin()

    def f(a, b):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"a": Centroid, "b": other, "return": None}

    with pytest.raises(RegistrationError, match=r"f\(b\): two different models are named Centroid"):
        node_of(f)


def test_structures_cannot_have_defaults() -> None:
    def f(x: Image = Image("a")) -> None: ...  # noqa: B008

    with pytest.raises(RegistrationError, match=r"f\(x\): Image lives in central storage"):
        node_of(f)
