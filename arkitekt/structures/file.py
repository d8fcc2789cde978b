"""`File`: a file in central storage, with its name and media type."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath

from arkitekt.errors import StructureError
from arkitekt.runtime.storage import BlobObject, Storage, current_storage
from arkitekt.runtime.structures import register_structure

from .stored import Stored, blob_objects, holding


def safe_name(name: str) -> str:
    """`name` as a file name that stays in the folder it is written to."""
    last = PurePosixPath(name.replace("\\", "/")).name
    return last if last not in ("", ".", "..") else "data"


@register_structure(identifier="@arkitekt/file")
class File(Stored):
    """A file that travels by reference: uploaded when shrunk, streamed, never held whole.

        @register
        def count_lines(log: File) -> int:
            return log.read_sync().count(b"\\n")

        await client.call(count_lines, File("run.log"))

    Args:
        source: A path to upload, or the bytes themselves.
        name: The file's name; defaults to the path's name.
        media_type: Its media type; guessed from the name when omitted.
    """

    def __init__(
        self, source: str | Path | bytes, *, name: str | None = None, media_type: str | None = None
    ) -> None:
        super().__init__()
        self._path: Path | None = None
        self._bytes: bytes | None = None
        if isinstance(source, bytes):
            self._bytes = source
            self.size: int | None = len(source)
        else:
            self._path = Path(source)
            if not self._path.is_file():
                raise StructureError(f"No file at {self._path}.")
            self.size = self._path.stat().st_size
        if name is not None and safe_name(name) != name:
            raise StructureError(
                f"A File's name is a plain file name, not {name!r}: no folders, not '.' or '..'."
            )
        self.name = name or (self._path.name if self._path else "data")
        """The file's name (its object key in the blob)."""
        self.media_type = (
            media_type or mimetypes.guess_type(self.name)[0] or "application/octet-stream"
        )

    @classmethod
    def adopt(cls, value: object) -> File | None:
        """A `pathlib.Path` passed where a File is expected becomes one (a str stays a
        reference)."""
        return cls(value) if isinstance(value, Path) else None

    def __repr__(self) -> str:
        where = self.reference or str(self._path or "memory")
        return f"File({self.name!r}, {self.media_type}, {self.size} bytes, {where})"

    async def shrink(self) -> str:
        if self.reference is not None:
            return self.reference
        storage = current_storage()
        blob = await storage.create()
        source = self._path if self._path is not None else self._bytes
        assert source is not None
        self.size = await storage.put(blob, self.name, source, media_type=self.media_type)
        self._stored(blob, storage)
        return blob

    @classmethod
    async def expand(cls, value: str) -> File:
        storage = current_storage()
        return cls.from_objects(value, await blob_objects(storage, value), storage)

    @classmethod
    def from_objects(cls, value: str, objects: dict[str, BlobObject], storage: Storage) -> File:
        """The File of blob `value`, from its objects as the storage listed them."""
        if len(objects) != 1 or "zarr.json" in objects:
            raise StructureError(f"Blob {value} holds {holding(objects)}, not a File.")
        (found,) = objects.values()
        file = cls.__new__(cls)
        Stored.__init__(file)
        file._path, file._bytes = None, None
        file.name, file.media_type, file.size = found.key, found.media_type, found.size
        file._stored(value, storage)
        return file

    async def chunks(self) -> AsyncIterator[bytes]:
        """The content, piece by piece."""
        if self._path is not None:
            with self._path.open("rb") as handle:
                while piece := await asyncio.to_thread(handle.read, 1 << 20):
                    yield piece
            return
        if self._bytes is not None:
            yield self._bytes
            return
        assert self.reference is not None
        async for piece in self._target().stream(self.reference, self.name):
            yield piece

    async def read(self) -> bytes:
        """The whole content (for small files; `chunks` or `download` for large ones)."""
        return b"".join([piece async for piece in self.chunks()])

    async def download(
        self, path: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Writes the content to `path` (a folder gets the file's name), streaming.
        `progress` is told the bytes of each piece written."""
        target = Path(path)
        if await asyncio.to_thread(target.is_dir):
            target = target / safe_name(self.name)  # a stored name never leaves the folder
        with target.open("wb") as handle:
            async for piece in self.chunks():
                await asyncio.to_thread(handle.write, piece)
                if progress is not None:
                    progress(len(piece))
        return target

    def read_sync(self) -> bytes:
        """`read` for synchronous functions (which run in worker threads)."""
        if self._bytes is not None:
            return self._bytes
        if self._path is not None:
            return self._path.read_bytes()
        return self._blocking(self.read(), "await file.read()")

    def download_sync(self, path: str | Path) -> Path:
        """`download` for synchronous functions (which run in worker threads)."""
        return self._blocking(self.download(path), "await file.download(path)")
