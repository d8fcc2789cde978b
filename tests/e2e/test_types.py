"""Every port kind, nested, through a real server and a real agent."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Literal

import annotated_types as at
import pydantic
import pytest

import arkitekt
from arkitekt.testing import serving


class Stain(Enum):
    DAPI = "dapi"
    GFP = "gfp"


@dataclasses.dataclass
class Centroid:
    y: float
    x: float


@dataclasses.dataclass
class Region:
    label: int
    area: int
    centroid: Centroid
    stain: Stain = Stain.DAPI


class Settings(pydantic.BaseModel):
    threshold: Annotated[float, at.Ge(0)]
    channels: list[Stain]
    note: str | None = None


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree]


def kind_int(x: Annotated[int, at.Gt(0)]) -> int:
    return x


def kind_float(x: float) -> float:
    return x


def kind_str(x: Annotated[str, at.MaxLen(10)]) -> str:
    return x


def kind_bool(x: bool) -> bool:
    return x


def kind_datetime(x: datetime) -> datetime:
    return x


def kind_enum(x: Stain) -> Stain:
    assert isinstance(x, Stain)
    return x


def kind_literal(x: Literal["fast", "careful"]) -> str:
    return x


def kind_list(x: list[int]) -> list[int]:
    return x


def kind_dict(x: dict[str, float]) -> dict[str, float]:
    return x


def kind_union(x: int | str) -> int | str:
    return x


def kind_model(x: Region) -> Region:
    assert isinstance(x, Region)
    assert isinstance(x.centroid, Centroid)
    return x


def kind_pydantic(x: Settings) -> Settings:
    assert isinstance(x, Settings)
    return x


def list_of_models(x: list[Region]) -> list[Region]:
    return x


def dict_of_lists(x: dict[str, list[int]]) -> dict[str, list[int]]:
    return x


def optional_union(x: int | str | None = None) -> int | str | None:
    return x


def enum_default(x: Stain = Stain.GFP) -> Stain:
    return x


def recursive_model(x: Tree) -> Tree:
    return x


REGION = Region(3, 120, Centroid(1.5, 2.5), Stain.GFP)
CASES: list[tuple[Any, Any]] = [
    (kind_int, 5),
    (kind_float, 0.25),
    (kind_str, "héllo"),
    (kind_bool, False),
    (kind_datetime, datetime(2026, 5, 1, 12, 30, tzinfo=UTC)),
    (kind_enum, Stain.GFP),
    (kind_literal, "careful"),
    (kind_list, [3, 1, 2]),
    (kind_dict, {"a": 1.0, "b": -2.5}),
    (kind_union, 7),
    (kind_union, "seven"),
    (kind_model, REGION),
    (kind_pydantic, Settings(threshold=0.5, channels=[Stain.DAPI, Stain.GFP])),
    (list_of_models, [REGION, Region(4, 1, Centroid(0, 0))]),
    (dict_of_lists, {"x": [1, 2], "y": []}),
    (optional_union, None),
    (optional_union, "text"),
    (enum_default, Stain.DAPI),
    (recursive_model, Tree("root", [Tree("leaf", []), Tree("branch", [Tree("twig", [])])])),
]


@pytest.mark.parametrize(("function", "value"), CASES, ids=lambda c: getattr(c, "__name__", None))
async def test_each_kind_round_trips_through_an_agent(
    client: arkitekt.Client, function: Any, value: Any
) -> None:
    async with serving(client, function):
        result = await client.call(function, value)
        assert result == value
        assert type(result) is type(value)
        if function is optional_union:
            assert await client.call(function) is None
        if function is enum_default:
            assert await client.call(function) is Stain.GFP


async def test_callers_without_the_classes_get_plain_values(client: arkitekt.Client) -> None:
    async with serving(client, list_of_models):
        node = await client.node(list_of_models)
        remote = arkitekt.Node.from_data((await client.api.get_node(hash=node.hash)).model_dump())  # type: ignore[union-attr]
        assert remote.hash == node.hash
        value = [{"label": 1, "area": 2, "centroid": {"y": 0.5, "x": 1.0}}]
        result = await client.call(remote, value)
        assert result == [
            {"label": 1, "area": 2, "centroid": {"y": 0.5, "x": 1.0}, "stain": "DAPI"}
        ]


async def test_constraints_are_checked_by_the_caller_and_the_agent(
    client: arkitekt.Client,
) -> None:
    async with serving(client, kind_int, kind_pydantic):
        with pytest.raises(arkitekt.ArgumentError, match="x: must be greater than 0, got 0"):
            await client.call(kind_int, 0)
        node = await client.node(kind_pydantic)
        raw = await client.api.assign(node=node.id, args={"x": {"threshold": -1.0, "channels": []}})
        with pytest.raises(arkitekt.RemoteError, match=r"x\.threshold: must be at least 0"):
            await arkitekt.Assignation(client, node, raw.id).result()


async def test_models_are_stored_with_the_node_and_hash_alike(client: arkitekt.Client) -> None:
    local = arkitekt.node_of(recursive_model)
    stored = await client.api.create_node(input=local.to_input())
    assert stored.hash == local.hash
    assert [m.identifier for m in stored.models] == ["Tree"]
    again = arkitekt.Node.from_data(stored.model_dump())
    assert again.hash == local.hash


# The seed's example, as written there (plus the two helpers it leaves to the reader).
SERVER: dict[str, list[int]] = {"abc": [1, 5, 3]}


class ComplexStructure:
    id: str  # A reference for this structure on central storage

    async def shrink(self):  # type: ignore[no-untyped-def]
        return self.id

    @classmethod
    async def expand(cls, value):  # type: ignore[no-untyped-def]
        return cls.load_from_server(value)

    @classmethod
    def load_from_server(cls, value: str) -> ComplexStructure:
        structure = cls()
        structure.id = value
        return structure

    def max(self) -> int:
        return max(SERVER[self.id])


def complex_call(x: ComplexStructure) -> int:
    return x.max()


def complex_echo(x: ComplexStructure) -> ComplexStructure:
    return x


async def test_the_seed_structure_example_works(client: arkitekt.Client) -> None:
    async with serving(client, complex_call, complex_echo):
        assert await client.call(complex_call, ComplexStructure.load_from_server("abc")) == 5
        echoed = await client.call(complex_echo, ComplexStructure.load_from_server("abc"))
        assert isinstance(echoed, ComplexStructure)
        assert echoed.id == "abc"
