"""`Array`: a numpy array in central storage, chunked with zarr, expanded lazily."""

from __future__ import annotations

import asyncio
import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

try:
    import numpy as np
    import zarr.api.asynchronous as zarr_async
    from zarr.codecs import BytesCodec, Endian
    from zarr.core.array import AsyncArray
    from zarr.core.buffer import Buffer
    from zarr.core.chunk_grids import RegularChunkGrid
    from zarr.errors import ArrayNotFoundError
    from zarr.storage import MemoryStore
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"arkitekt.structures.Array needs numpy and zarr ({error.name} is missing): "
        'pip install "arkitekt[arrays]"'
    ) from error

from arkitekt.errors import NotFoundError, StructureError
from arkitekt.runtime.storage import current_storage
from arkitekt.runtime.structures import register_structure

from .stored import Stored, blob_objects, check_reference, holding
from .zarrstore import BlobStore

CHUNK_BYTES = 8 << 20  # chunks of at most 8 MiB: region reads stay cheap, requests few
PARTS_AHEAD = 8  # chunks a save fetches ahead of the one it writes


def chunk_shape(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunks of at most CHUNK_BYTES, split along the first axis while it can be: slabs of
    whole rows are contiguous in memory, so they upload without a copy and load with one
    plain copy. Rows larger than a chunk are split further, axis by axis."""
    chunks = [max(1, side) for side in shape]
    for axis in range(len(chunks)):
        rest = math.prod(chunks[axis + 1 :]) * itemsize
        chunks[axis] = max(1, min(chunks[axis], CHUNK_BYTES // max(1, rest)))
        if math.prod(chunks) * itemsize <= CHUNK_BYTES:
            break
    return tuple(chunks)


def _slabs(shape: tuple[int, ...], chunks: tuple[int, ...]) -> bool:
    """Whether each chunk is a run of whole rows (contiguous in a C-ordered array)."""
    return len(shape) > 0 and math.prod(shape) > 0 and chunks[1:] == shape[1:]


def _raw_slabs(opened: AsyncArray[Any]) -> bool:
    """Whether a stored array's chunks are raw little-endian slabs of whole rows."""
    metadata = opened.metadata
    codecs: tuple[Any, ...] = getattr(metadata, "codecs", ())
    grid = getattr(metadata, "chunk_grid", None)
    return (
        sys.byteorder == "little"
        and len(codecs) == 1
        and isinstance(codecs[0], BytesCodec)
        and codecs[0].endian in (Endian.little, None)
        and isinstance(grid, RegularChunkGrid)
        and _slabs(tuple(opened.shape), tuple(grid.chunk_shape))
    )


def _write_npy(path: Path, data: np.ndarray[Any, Any]) -> None:
    with path.open("wb") as handle:  # a path would get `.npy` appended when it lacks one
        np.save(handle, data)


def _chunk_key(opened: AsyncArray[Any], index: int) -> str:
    key: str = opened.metadata.encode_chunk_key((index,) + (0,) * (opened.ndim - 1))
    return key


@register_structure(identifier="@arkitekt/array")
class Array(Stored):
    """A numpy array that travels by reference.

    Shrinking stores it as a zarr v3 array (uncompressed chunks of at most 8 MiB) in one
    blob; expanding reads only its metadata. The data comes when asked for: the whole
    array with `await array.load()`, or a region with `await array.read(np.s_[0:64, :])`,
    which fetches only the chunks it touches. Synchronous functions (run in worker threads)
    use `array.numpy()`, `array.read_sync(...)` or `np.asarray(array)`.

        @register
        def denoise(image: Array, sigma: float) -> Array:
            return Array(gaussian_filter(image.numpy(), sigma))

    Args:
        data: Anything `numpy.asarray` accepts, of a numeric or boolean dtype.
    """

    def __init__(self, data: Any) -> None:
        super().__init__()
        array = np.asarray(data)
        if array.dtype.kind not in "biufc":
            raise StructureError(
                f"Array holds numbers and booleans; dtype {array.dtype} is not supported."
            )
        self._data: np.ndarray[Any, Any] | None = array
        self._zarr: AsyncArray[Any] | None = None
        self.shape: tuple[int, ...] = array.shape
        self.dtype: np.dtype[Any] = array.dtype

    @classmethod
    def adopt(cls, value: Any) -> Array | None:
        """A numpy array passed where an Array is expected becomes one."""
        return cls(value) if isinstance(value, np.ndarray) else None

    def __repr__(self) -> str:
        where = self.reference or ("memory" if self._data is not None else "?")
        return f"Array(shape={self.shape}, dtype={self.dtype}, {where})"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    async def shrink(self) -> str:
        if self.reference is not None:
            return self.reference  # unchanged since it was stored
        assert self._data is not None
        storage = current_storage()
        blob = await storage.create()
        data = np.require(self._data, self.dtype.newbyteorder("<"), requirements="C")
        chunks = chunk_shape(self.shape, self.dtype.itemsize)
        if not _slabs(data.shape, chunks):
            await zarr_async.create_array(
                BlobStore(storage, blob), data=data, chunks=chunks, compressors=None, filters=None
            )
        else:
            # Slabs of whole rows are the chunks' bytes already: upload them straight from
            # the array's memory, with the metadata zarr writes for them (into memory first,
            # so that everything goes up at once).
            metadata: dict[str, Buffer] = {}
            opened = await zarr_async.create_array(
                MemoryStore(metadata),
                shape=data.shape,
                dtype=data.dtype,
                chunks=chunks,
                compressors=None,
                filters=None,
                fill_value=0,
            )
            rows = chunks[0]
            await asyncio.gather(
                *(storage.put(blob, key, value.to_bytes()) for key, value in metadata.items()),
                *(
                    storage.put(blob, _chunk_key(opened, index), data[start : start + rows].data)
                    for index, start in enumerate(range(0, data.shape[0], rows))
                ),
            )
        self._stored(blob, storage)
        return blob

    @classmethod
    async def expand(cls, value: str) -> Array:
        storage = current_storage()
        check_reference(value)
        try:
            opened = await zarr_async.open_array(
                store=BlobStore(storage, value, read_only=True), zarr_format=3
            )
        except (ArrayNotFoundError, NotFoundError) as error:
            # Say what the reference names instead: nothing, or another kind of blob.
            objects = await blob_objects(storage, value)
            raise StructureError(f"Blob {value} holds {holding(objects)}, not an Array.") from error
        array = cls.__new__(cls)
        Stored.__init__(array)
        array._data, array._zarr = None, opened
        array.shape, array.dtype = tuple(opened.shape), np.dtype(opened.dtype)
        array._stored(value, storage)
        return array

    async def load(self) -> np.ndarray[Any, Any]:
        """The whole array, fetched once (chunks concurrently) and kept."""
        if self._data is None:
            assert self._zarr is not None
            if _raw_slabs(self._zarr):
                data = np.empty(self.shape, self.dtype)
                await self._fill_slabs(self._zarr, data)
                self._data = data
            else:
                self._data = np.asarray(await self._zarr.getitem(...))
        return self._data

    async def save(self, path: str | Path, progress: Callable[[int], None] | None = None) -> Path:
        """Writes the array to a `.npy` file (`numpy.load` reads it) as its chunks arrive,
        in order: however large it is, a few chunks at a time are in memory. `progress` is
        told the bytes of each part written."""
        target = Path(path)
        opened = self._zarr
        if self._data is not None or opened is None or 0 in self.shape or not self.shape:
            data = await self.load()
            await asyncio.to_thread(_write_npy, target, data)
            if progress is not None:
                progress(data.nbytes)
            return target
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        handle = await asyncio.to_thread(target.open, "wb")
        try:
            np.lib.format.write_array_header_1_0(handle, header)
            async for part in self._parts(opened):
                await asyncio.to_thread(handle.write, part.data)
                if progress is not None:
                    progress(part.nbytes)
        finally:
            await asyncio.to_thread(handle.close)
        return target

    async def _parts(self, opened: AsyncArray[Any]) -> AsyncIterator[np.ndarray[Any, Any]]:
        """The array's rows in order, a chunk's rows at a time, the next few fetched while
        one is being used."""
        rows = opened.metadata.chunk_grid.chunk_shape[0]
        raw = _raw_slabs(opened)

        async def part(index: int, start: int) -> np.ndarray[Any, Any]:
            end = min(start + rows, self.shape[0])
            if not raw:
                return np.ascontiguousarray(await self.read(slice(start, end)), self.dtype)
            block = np.empty((end - start, *self.shape[1:]), self.dtype)
            await self._read_slab(opened, index, block)
            return block

        ahead: deque[asyncio.Future[np.ndarray[Any, Any]]] = deque()
        try:
            for index, start in enumerate(range(0, self.shape[0], rows)):
                ahead.append(asyncio.ensure_future(part(index, start)))
                if len(ahead) > PARTS_AHEAD:
                    yield await ahead.popleft()
            while ahead:
                yield await ahead.popleft()
        finally:
            for pending in ahead:
                pending.cancel()

    async def _fill_slabs(self, opened: AsyncArray[Any], data: np.ndarray[Any, Any]) -> None:
        """Streams each uncompressed slab straight into the array's memory: one copy of
        the bytes, where zarr's decoding would make two."""
        rows = opened.metadata.chunk_grid.chunk_shape[0]
        await asyncio.gather(
            *(
                self._read_slab(opened, index, data[start : start + rows])
                for index, start in enumerate(range(0, self.shape[0], rows))
            )
        )

    async def _read_slab(
        self, opened: AsyncArray[Any], index: int, into: np.ndarray[Any, Any]
    ) -> None:
        assert self.reference is not None
        try:
            key = _chunk_key(opened, index)
            await self._target().read_into(self.reference, key, into.data.cast("B"))
        except NotFoundError:  # zarr leaves out chunks that hold only the fill value
            into[...] = opened.metadata.fill_value

    async def read(self, region: Any = ...) -> np.ndarray[Any, Any]:
        """A region (numpy basic indexing), fetching only the chunks it touches."""
        if self._data is not None:
            return np.asarray(self._data[region])
        assert self._zarr is not None
        return np.asarray(await self._zarr.getitem(region))

    def numpy(self) -> np.ndarray[Any, Any]:
        """The whole array, from synchronous code (worker threads block while it loads)."""
        if self._data is not None:
            return self._data
        return self._blocking(self.load(), "await array.load()")

    def read_sync(self, region: Any = ...) -> np.ndarray[Any, Any]:
        """`read` for synchronous code."""
        if self._data is not None:
            return np.asarray(self._data[region])
        return self._blocking(self.read(region), "await array.read(region)")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        data = self.numpy()
        return data.astype(dtype) if dtype is not None else data
