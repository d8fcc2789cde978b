"""The built-in structures: values that travel by reference to central storage.

- `File`: a file with its name and media type, streamed, never held whole.
- `Array`: a numpy array, stored chunked (zarr v3) so that regions load on their own.
  Needs the `arrays` extra (numpy, zarr): `pip install "arkitekt[arrays]"`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .file import File

if TYPE_CHECKING:
    from .array import Array

__all__ = ["Array", "File"]


def __getattr__(name: str) -> Any:
    # numpy and zarr load only when Array is used.
    if name == "Array":
        from .array import Array

        return Array
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
