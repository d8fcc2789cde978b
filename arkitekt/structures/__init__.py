"""The built-in structures: values that travel by reference to central storage.

- `File`: a file with its name and media type, streamed, never held whole.
- `Array`: a numpy array, stored chunked (zarr v3) so that regions load on their own.
  Needs the `arrays` extra (numpy, zarr): `pip install "arkitekt[arrays]"`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arkitekt.runtime.storage import current_storage

from .file import File
from .stored import blob_objects

if TYPE_CHECKING:
    from .array import Array

__all__ = ["Array", "File", "expand"]


async def expand(reference: str) -> Array | File:
    """What the blob `reference` names, from the current storage: an Array for a stored
    array, a File for a stored file (`Client.expand` uses the client's storage)."""
    storage = current_storage()
    objects = await blob_objects(storage, reference)
    if "zarr.json" in objects:
        from .array import Array

        return await Array.expand(reference)
    return File.from_objects(reference, objects, storage)  # or an error saying what it holds


def __getattr__(name: str) -> Any:
    # numpy and zarr load only when Array is used.
    if name == "Array":
        from .array import Array

        return Array
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
