"""`key=value` on the command line: each value read as its port expects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import typer

from arkitekt import node_of
from arkitekt.cli.calling import parse_arguments
from arkitekt.structures import Array


def measure(
    image: Array,
    values: list[float],
    strict: bool = False,
    limit: int | None = None,
    note: str | None = None,
) -> None: ...


NODE = node_of(measure)
REFERENCE = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        (["strict=true", "limit=null", "note=null"], {"strict": True, "limit": None, "note": None}),
        # Python's spellings, as a scientist types them.
        (["strict=True", "limit=None"], {"strict": True, "limit": None}),
        (["strict=FALSE"], {"strict": False}),
        (["note=None"], {"note": "None"}),  # a str port takes it as it is
        (["values=[1, 2.5]", f"image={REFERENCE}"], {"values": [1, 2.5], "image": REFERENCE}),
    ],
)
def test_values_are_read_as_their_ports_expect(
    arguments: list[str], parsed: dict[str, object]
) -> None:
    assert parse_arguments(NODE, arguments) == parsed


@pytest.mark.parametrize(
    "arguments",
    [["strict=1", "strict=0"], ["values=[1,x]"], ["image={path}"]],
    ids=["twice", "not-json", "local-file"],
)
def test_mistakes_stop_before_anything_is_sent(
    arguments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cells.npy"
    path.write_bytes(b"")
    with pytest.raises(typer.Exit):
        parse_arguments(NODE, [a.format(path=path) for a in arguments])
    assert "error:" in capsys.readouterr().err


@dataclasses.dataclass
class Plate:
    well: str
    image: Array


def stack(planes: list[Array], channels: dict[str, Array], plate: Plate) -> None: ...


def test_local_files_go_wherever_arrays_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in (1, 2, 3):
        np.save(tmp_path / f"{value}.npy", np.full(2, value))
    parsed = parse_arguments(
        node_of(stack),
        [
            f'planes=["@{tmp_path}/1.npy", "@{tmp_path}/2.npy", "{REFERENCE}"]',
            f'channels={{"dapi": "@{tmp_path}/3.npy"}}',
            f'plate={{"well": "A1", "image": "@{tmp_path}/1.npy"}}',
        ],
    )
    first, second, stored = parsed["planes"]
    assert (first.numpy().tolist(), second.numpy().tolist(), stored) == ([1, 1], [2, 2], REFERENCE)
    assert parsed["channels"]["dapi"].numpy().tolist() == [3, 3]
    assert parsed["plate"]["well"] == "A1"
    assert parsed["plate"]["image"].numpy().tolist() == [1, 1]

    with pytest.raises(typer.Exit):
        parse_arguments(node_of(stack), [f'planes=["@{tmp_path}/1.npy", "@{tmp_path}/9.npy"]'])
    assert f"planes[1]: no file at {tmp_path}/9.npy" in capsys.readouterr().err
