"""A zarr v3 store over one blob: each zarr key is an object of the blob.

zarr reads chunks with byte ranges, which the platform serves, so a region of an array
costs the chunks it touches, not the whole array.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.buffer.core import default_buffer_prototype

from arkitekt.errors import NotFoundError
from arkitekt.runtime.storage import Storage


class BlobStore(Store):
    """The objects of one blob as a zarr store. Writes go through once per key."""

    supports_writes: bool = True
    supports_deletes: bool = False
    supports_listing: bool = True

    def __init__(self, storage: Storage, blob: str, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.storage = storage
        self.blob = blob

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BlobStore)
            and other.blob == self.blob
            and other.storage is self.storage
            and other.read_only == self.read_only
        )

    def __hash__(self) -> int:
        return hash((self.blob, id(self.storage)))

    def __str__(self) -> str:
        return f"arkitekt-blob://{self.blob}"

    def with_read_only(self, read_only: bool = False) -> BlobStore:
        return type(self)(self.storage, self.blob, read_only=read_only)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        start, end = _bounds(byte_range)
        if isinstance(byte_range, SuffixByteRequest):
            size = (await self.storage.objects(self.blob))[key].size
            start, end = max(0, size - byte_range.suffix), None
        try:
            data = await self.storage.get(self.blob, key, start=start, end=end)
        except NotFoundError:
            return None
        return prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        import asyncio

        return list(
            await asyncio.gather(*(self.get(key, prototype, rng) for key, rng in key_ranges))
        )

    async def exists(self, key: str) -> bool:
        return key in await self.storage.objects(self.blob)

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await self.storage.put(self.blob, key, value.as_numpy_array().data)

    async def delete(self, key: str) -> None:
        raise NotImplementedError("Blobs are immutable: objects cannot be deleted.")

    async def list(self) -> AsyncIterator[str]:
        for key in await self.storage.objects(self.blob):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await self.storage.objects(self.blob):
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        keys = await self.storage.objects(self.blob)
        below = [
            k.removeprefix(prefix + "/") for k in keys if not prefix or k.startswith(prefix + "/")
        ]
        for name in sorted({k.split("/")[0] for k in below}):
            yield name


def _bounds(byte_range: Any) -> tuple[int | None, int | None]:
    if isinstance(byte_range, RangeByteRequest):
        return byte_range.start, byte_range.end
    if isinstance(byte_range, OffsetByteRequest):
        return byte_range.offset, None
    return None, None
