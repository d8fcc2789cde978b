"""Arrays by reference: stored chunked, expanded lazily, read by region."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

import arkitekt
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import serving

np = pytest.importorskip("numpy")
pytest.importorskip("zarr")

from arkitekt.structures import Array, File  # noqa: E402
from arkitekt.structures.array import chunk_shape  # noqa: E402


class Plate(pydantic.BaseModel):
    well: str
    images: list[Array]
    mask: Array | None = None
    log: File | None = None


def brightest(plate: Plate) -> Plate:
    assert isinstance(plate, Plate)
    best = max(plate.images, key=lambda image: float(image.numpy().mean()))
    return Plate(well=plate.well, images=[best.numpy()], mask=best.numpy() > 1)  # adopted


def double(image: Array) -> Array:
    return Array(image.numpy() * 2)


def corner(image: Array) -> float:
    return float(image.read_sync(np.s_[:2, :2]).sum())


async def async_total(image: Array) -> float:
    return float((await image.load()).sum())


def same(image: Array) -> Array:
    return image


def stats(images: list[Array]) -> tuple[Array, int]:
    stacked = np.stack([np.asarray(image) for image in images])
    return Array(stacked.mean(axis=0)), len(images)


def test_chunks_are_slabs_of_rows_of_at_most_8_mib() -> None:
    assert chunk_shape((4096, 4096), 4) == (512, 4096)
    assert chunk_shape((10, 10), 8) == (10, 10)
    assert chunk_shape((), 8) == ()
    assert chunk_shape((3, 2000, 2000), 2) == (1, 2000, 2000)
    assert chunk_shape((2, 1_100_000), 8) == (1, 1 << 20)  # a row larger than a chunk


async def test_arrays_travel_both_ways(client: arkitekt.Client) -> None:
    image = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    async with serving(client, double, corner, async_total, stats):
        doubled = await client.call(double, Array(image))
        assert isinstance(doubled, Array)
        assert doubled.shape == (64, 48)
        assert doubled.dtype == np.uint16
        np.testing.assert_array_equal(await doubled.load(), image * 2)
        assert await client.call(corner, Array(image)) == float(image[:2, :2].sum())
        assert await client.call(async_total, Array(image)) == float(image.sum())
        mean, count = await client.call(stats, [Array(image), Array(image + 2)])
        assert count == 2
        np.testing.assert_array_equal(await mean.load(), image + 1.0)


async def test_an_unchanged_array_keeps_its_reference(client: arkitekt.Client) -> None:
    async with serving(client, same):
        sent = Array(np.ones((3, 3)))
        back = await client.call(same, sent)
        assert back.reference == sent.reference is not None


@pytest.mark.parametrize(
    ("shape", "keys", "region", "fetched"),
    [
        ((2048, 2048), [f"c/{i}/0" for i in range(4)], np.s_[600:610, 1500:1600], ["c/1/0"]),
        ((2, 1_100_000), ["c/0/0", "c/0/1", "c/1/0", "c/1/1"], np.s_[1, -5:], ["c/1/1"]),
    ],
    ids=["slabs", "split-rows"],
)
async def test_regions_fetch_only_their_chunks(
    client: arkitekt.Client, shape: Any, keys: list[str], region: Any, fetched: list[str]
) -> None:
    image = np.random.default_rng(1).random(shape)
    with client.storage.activate():
        reference = await Array(image).shrink()
    objects = await client.storage.objects(reference)
    assert sorted(objects) == [*keys, "zarr.json"]
    requested: list[str] = []
    original = client.storage.get

    async def counting(blob: str, key: str, **options: Any) -> bytes:
        requested.append(key)
        return await original(blob, key, **options)

    client.storage.get = counting  # type: ignore[method-assign]
    try:
        with client.storage.activate():
            lazy = await Array.expand(reference)
        assert requested == ["zarr.json"]
        np.testing.assert_array_equal(await lazy.read(region), image[region])
        assert requested == ["zarr.json", *fetched]
    finally:
        del client.storage.get
    np.testing.assert_array_equal(await lazy.load(), image)


async def test_any_layout_and_byte_order_round_trips(client: arkitekt.Client) -> None:
    base = np.arange(24, dtype=">i4").reshape(4, 6)
    for value in (base, base.T, base[:, ::2], np.asarray(7.5), np.zeros((0, 3)), base > 5):
        with client.storage.activate():
            back = await Array.expand(await Array(value).shrink())
        np.testing.assert_array_equal(await back.load(), value)
        assert back.shape == value.shape


@pytest.mark.parametrize(
    "value",
    [
        np.arange(3 * 2048 * 1024, dtype=np.uint16).reshape(6, 1024, 1024),  # slabs
        np.random.default_rng(2).random((2, 1_100_000)),  # rows split in chunks
        np.asarray(7.5),
        np.zeros((0, 3)),
    ],
    ids=["slabs", "split-rows", "scalar", "empty"],
)
async def test_a_stored_array_saves_to_npy_as_it_arrives(
    client: arkitekt.Client, tmp_path: Path, value: Any
) -> None:
    with client.storage.activate():
        lazy = await Array.expand(await Array(value).shrink())
    written: list[int] = []
    path = await lazy.save(tmp_path / "saved.part", written.append)
    assert path == tmp_path / "saved.part", "the name is kept as given"
    saved = np.load(path)
    np.testing.assert_array_equal(saved, value)
    assert saved.dtype == value.dtype
    assert sum(written) == value.nbytes
    if value.ndim == 3:
        assert len(written) > 1, "reported as each part is written"
        assert lazy._data is None, "never held whole in memory"


async def test_stored_arrays_are_plain_zarr(client: arkitekt.Client) -> None:
    with client.storage.activate():
        reference = await Array(np.zeros((4, 5), dtype=np.float32) + 1).shrink()
    metadata = json.loads(await client.storage.get(reference, "zarr.json"))
    assert metadata["shape"] == [4, 5]
    assert metadata["data_type"] == "float32"
    assert metadata["zarr_format"] == 3


async def test_blocking_reads_on_the_loop_are_refused(client: arkitekt.Client) -> None:
    with client.storage.activate():
        lazy = await Array.expand(await Array(np.ones(3)).shrink())
    with pytest.raises(arkitekt.StructureError, match=r"use `await array.load\(\)` instead"):
        lazy.numpy()
    assert (await asyncio.to_thread(lazy.numpy)).tolist() == [1.0, 1.0, 1.0]


def test_unsupported_dtypes_are_refused() -> None:
    with pytest.raises(arkitekt.StructureError, match="dtype <U1 is not supported"):
        Array(np.array(["a"]))


async def test_callers_by_name_get_arrays_too(client: arkitekt.Client) -> None:
    async with serving(client, double):
        node = await client.node(double)
        remote = arkitekt.Node.from_data(
            (await client.api.get_node(hash=node.hash)).model_dump()  # type: ignore[union-attr]
        )
        result = await client.call(remote, Array(np.ones(4)))
        assert isinstance(result, Array)
        np.testing.assert_array_equal(await result.load(), np.full(4, 2.0))
        assert storage_of(client) is client.storage


def ramp(n: int) -> Array:
    return np.arange(n)  # type: ignore[return-value]  # a plain ndarray, adopted


def lines(log: File) -> int:
    return log.read_sync().count(b"\n")


def either(image: Array | int) -> str:
    return type(image).__name__


async def test_plain_numpy_arrays_and_paths_pass_as_arrays_and_files(
    client: arkitekt.Client, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"x\n" * 5)
    async with serving(client, double, ramp, lines, either, stats):
        doubled = await client.call(double, np.arange(3))
        assert (await doubled.load()).tolist() == [0, 2, 4]
        returned = await client.call(ramp, 4)
        assert isinstance(returned, Array)
        assert (await returned.load()).tolist() == [0, 1, 2, 3]
        assert await client.call(lines, log) == 5
        assert await client.call(either, np.ones(2)) == "Array"
        mean, _ = await client.call(stats, [np.zeros(2), np.full(2, 4.0)])
        assert (await mean.load()).tolist() == [2.0, 2.0]
        with pytest.raises(arkitekt.StructureError, match=r"image: .*dtype <U1 is not supported"):
            await client.call(double, np.array(["a"]))
        with pytest.raises(arkitekt.ArgumentError, match="image: expected an Array, got"):
            await client.call(double, [1, 2])


async def test_pydantic_models_hold_arrays_and_files(
    client: arkitekt.Client, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"plate A1")
    async with serving(client, brightest):
        plate = Plate(well="A1", images=[np.zeros((2, 2)), np.full((2, 2), 3.0)], log=log)
        assert isinstance(plate.images[0], Array)
        assert isinstance(plate.log, File)
        result = await client.call(brightest, plate)
        assert isinstance(result, Plate)
        assert result.well == "A1"
        assert (await result.images[0].load()).tolist() == [[3.0, 3.0], [3.0, 3.0]]
        assert (await result.mask.load()).all()
        # A caller without the class passes and gets plain dicts, structures inside.
        by_name = await client.call("brightest", {"well": "B2", "images": [np.ones(2)]})
        assert by_name["well"] == "B2"
        assert isinstance(by_name["images"][0], Array)
    with pytest.raises(pydantic.ValidationError, match="expected Array, got list"):
        Plate(well="C3", images=[[1, 2]])
