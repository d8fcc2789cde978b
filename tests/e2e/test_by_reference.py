"""Large data goes through central storage; GraphQL messages carry only references."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import arkitekt
from arkitekt.testing import serving

np = pytest.importorskip("numpy")
pytest.importorskip("zarr")

from arkitekt.structures import Array, File  # noqa: E402


def copy(image: Array) -> Array:
    return Array(image.numpy().copy())


def count_bytes(file: File) -> tuple[int, str]:
    return len(file.read_sync()), file.media_type


def measure_graphql(client: arkitekt.Client) -> list[int]:
    """Records the size of every GraphQL message this client sends or receives."""
    transport = client.api.transport
    sizes: list[int] = []
    execute, subscribe = transport.execute, transport.subscribe

    async def measured_execute(query: str, name: str | None, variables: dict[str, Any]) -> Any:
        sizes.append(len(json.dumps({"query": query, "variables": variables})))
        result = await execute(query, name, variables)
        sizes.append(len(json.dumps(result)))
        return result

    async def measured_subscribe(
        query: str, name: str | None, variables: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        sizes.append(len(json.dumps({"query": query, "variables": variables})))
        async for payload in subscribe(query, name, variables):
            sizes.append(len(json.dumps(payload)))
            yield payload

    transport.execute = measured_execute  # type: ignore[method-assign]
    transport.subscribe = measured_subscribe  # type: ignore[method-assign]
    return sizes


async def test_a_64_mib_array_goes_by_reference(server: Any) -> None:
    async with arkitekt.connect(server.url, server.token) as client:
        sizes = measure_graphql(client)
        image = np.random.default_rng(0).random((2048, 4096))  # 64 MiB of float64
        assert image.nbytes == 64 << 20
        async with serving(client, copy):
            result = await client.call(copy, Array(image))
            assert isinstance(result, Array)
            np.testing.assert_array_equal(await result.load(), image)
        assert result.reference is not None
        objects = await client.storage.objects(result.reference)
        assert sum(o.size for o in objects.values()) >= image.nbytes
    assert sizes
    assert max(sizes) < 8_000, sorted(sizes)[-5:]
    assert sum(sizes) < 64_000


async def test_files_travel_by_reference(client: arkitekt.Client, tmp_path: Any) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line\n" * 200_000)
    async with serving(client, count_bytes):
        assert await client.call(count_bytes, File(path)) == (1_000_000, "text/plain")
        assert await client.call(count_bytes, File(b"abc", name="x.bin")) == (
            3,
            "application/octet-stream",
        )
