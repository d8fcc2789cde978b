"""`Array`: a numpy array in central storage, chunked with zarr, expanded lazily."""

from __future__ import annotations

import math
from typing import Any

try:
    import numpy as np
    import zarr.api.asynchronous as zarr_async
    from zarr.core.array import AsyncArray
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"arkitekt.structures.Array needs numpy and zarr ({error.name} is missing): "
        'pip install "arkitekt[arrays]"'
    ) from error

from arkitekt.errors import StructureError
from arkitekt.runtime.storage import current_storage
from arkitekt.runtime.structures import register_structure

from .stored import Stored
from .zarrstore import BlobStore

CHUNK_BYTES = 8 << 20  # chunks of at most 8 MiB: region reads stay cheap, requests few


def chunk_shape(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Halves the longest side until a chunk holds at most CHUNK_BYTES: tiles, not rows."""
    chunks = [max(1, side) for side in shape]
    while math.prod(chunks) * itemsize > CHUNK_BYTES and max(chunks) > 1:
        longest = chunks.index(max(chunks))
        chunks[longest] = math.ceil(chunks[longest] / 2)
    return tuple(chunks)


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
        await zarr_async.create_array(
            BlobStore(storage, blob),
            data=np.ascontiguousarray(self._data),
            chunks=chunk_shape(self.shape, self.dtype.itemsize),
            compressors=None,
            filters=None,
        )
        self._stored(blob, storage)
        return blob

    @classmethod
    async def expand(cls, value: str) -> Array:
        storage = current_storage()
        opened = await zarr_async.open_array(
            store=BlobStore(storage, value, read_only=True), zarr_format=3
        )
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
            self._data = np.asarray(await self._zarr.getitem(...))
        return self._data

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
