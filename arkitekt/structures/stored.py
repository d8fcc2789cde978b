"""What the built-in structures share: a reference into central storage, once there is
one, and blocking access for synchronous code running in worker threads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Self, TypeVar

from arkitekt.errors import NotFoundError, StructureError
from arkitekt.runtime.blocking import running_loop
from arkitekt.runtime.storage import BlobObject, Storage, current_storage

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

T = TypeVar("T")

_BLOB_ID = re.compile(r"[0-9a-f]{32}")


def check_reference(reference: str) -> None:
    """Refuses what cannot be a blob's id (a local path, say) before asking the storage."""
    if not _BLOB_ID.fullmatch(reference):
        raise StructureError(
            f"{reference!r} is not a reference to central storage: those are 32 hexadecimal "
            "digits, as a call's results and `arkitekt upload` print them."
        )


async def blob_objects(storage: Storage, reference: str) -> dict[str, BlobObject]:
    """The objects of the blob `reference` names; a StructureError saying why when it
    names none, instead of the storage's bare 404."""
    check_reference(reference)
    try:
        return await storage.objects(reference)
    except NotFoundError as error:
        raise StructureError(
            f"No blob {reference} in central storage that you may read: it was never "
            "stored, or it was deleted (`arkitekt blob list` shows yours)."
        ) from error


def holding(objects: dict[str, BlobObject]) -> str:
    """What a blob holds, in a few words, for errors about the wrong kind of blob."""
    if "zarr.json" in objects:
        return "an Array"
    if len(objects) == 1:
        return f"the file {next(iter(objects))!r}"
    return f"{len(objects)} objects"


class Stored:
    """A value that is, or will be, a blob on the platform."""

    def __init__(self) -> None:
        self._reference: str | None = None
        self._storage: Storage | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def adopt(cls, value: Any) -> Self | None:
        """An instance for a plain value that stands for one; None for any other."""
        return None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Lets a pydantic model hold the structure in a field: an instance, or a value it
        adopts (a numpy array for an `Array`)."""
        from pydantic_core import core_schema

        def validated(value: Any) -> Stored:
            adopted = value if isinstance(value, cls) else cls.adopt(value)
            if adopted is None:
                raise ValueError(f"expected {cls.__name__}, got {type(value).__name__}")
            return adopted

        return core_schema.no_info_plain_validator_function(validated)

    @property
    def reference(self) -> str | None:
        """The blob's id, once the value is stored; shrinking again reuses it."""
        return self._reference

    def _stored(self, reference: str, storage: Storage) -> None:
        self._reference, self._storage = reference, storage
        self._loop = asyncio.get_running_loop()

    def _target(self) -> Storage:
        """The storage that holds the value (when expanded), else the current one."""
        return self._storage or current_storage()

    def _blocking(self, coroutine: Coroutine[Any, Any, T], instead: str) -> T:
        """Runs I/O from synchronous code: on the loop that expanded the value, while the
        calling thread waits. Refuses on that loop itself, which would wait for itself; from
        another loop's thread (a notebook using the blocking client) it reads, as sync code
        does."""
        if self._loop is not None and running_loop() is self._loop:
            coroutine.close()
            raise StructureError(f"This would block the event loop: use `{instead}` instead.")
        if self._loop is None or self._loop.is_closed() or not self._loop.is_running():
            coroutine.close()
            raise StructureError(
                "The client that expanded this value is closed; expand it again to read it."
            )
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
