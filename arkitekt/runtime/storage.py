"""Central storage, from the SDK's side: blobs over HTTP, streamed both ways.

A blob is an immutable set of named objects (one file, or the keys of a chunked array).
It lives on the platform; only its id travels in messages. Requests carry the client's
bearer token, and the platform checks access per blob.

    storage = storage_of(client.api)
    blob = await storage.create()
    await storage.put(blob, "image.tif", Path("image.tif"), media_type="image/tiff")
    async for chunk in storage.stream(blob, "image.tif"):
        ...

Structures reach the storage of the client that is shrinking or expanding them through
`current_storage()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from arkitekt.errors import (
    ApiError,
    ArkitektError,
    NotFoundError,
    ServerUnavailableError,
    StructureError,
    api_error,
)
from arkitekt.transport import Transport

CHUNK = 1 << 20  # bytes per read when streaming files and downloads
EXPECT_ABOVE = 64 << 20  # bytes of a body past which a put waits for `100 Continue`
CONCURRENCY = 8  # requests in flight per client: enough to fill loopback and LAN links

ProgressHook = Callable[[str, int, int | None], None]
"""Called as (label, bytes sent so far, total bytes or None) while an upload runs."""

_current: ContextVar[Storage | None] = ContextVar("arkitekt_storage", default=None)
upload_progress: ContextVar[ProgressHook | None] = ContextVar(
    "arkitekt_upload_progress", default=None
)
"""Set it to watch uploads (the CLI draws a progress bar from it)."""


@dataclass(frozen=True)
class BlobObject:
    key: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Blob:
    """One of your blobs: its id (the reference a structure travels as) and what it holds."""

    id: str
    size: int
    """Bytes, all its objects together."""
    objects: int
    created_at: datetime


@dataclass(frozen=True)
class BlobPage:
    stored: int
    """Bytes all your blobs hold."""
    blobs: list[Blob]


class Storage:
    """Blob access for one client, sharing its HTTP session and token."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.url = f"{transport.url}/blobs"
        self._limit = asyncio.Semaphore(CONCURRENCY)

    @contextlib.contextmanager
    def activate(self) -> Iterator[Storage]:
        """Makes this the storage structures use in the block (see `current_storage`)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def _object_url(self, blob: str, key: str) -> str:
        return f"{self.url}/{quote(blob, safe='')}/{quote(key, safe='/')}"

    @contextlib.asynccontextmanager
    async def _request(
        self, method: str, url: str, **options: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        async with self._limit:
            try:
                response = await self.transport.session.request(method, url, **options)
                self.transport.reached |= response.status < 500  # not a proxy's 502
            except (aiohttp.ClientConnectionError, OSError) as error:
                raise ServerUnavailableError(
                    f"Cannot reach the platform's storage at {self.url} ({error})."
                ) from error
            try:
                if response.status >= 400:
                    raise await _error(response)
                yield response
            finally:
                response.release()

    async def _json(self, method: str, url: str, **options: Any) -> Any:
        """The JSON a request answers, asked again while the platform restarts."""

        async def attempt(again: bool) -> Any:
            async with self._request(method, url, **options) as response:
                return await response.json()

        return await self.transport.patiently(attempt)

    async def create(self) -> str:
        """A new, empty blob owned by this client's user; returns its id."""
        body = await self._json("POST", self.url)  # a lost answer leaves an empty blob
        return str(body["id"])

    async def put(
        self,
        blob: str,
        key: str,
        data: bytes | memoryview | Path | AsyncIterable[bytes],
        *,
        media_type: str = "application/octet-stream",
    ) -> int:
        """Stores one object of a blob, streaming it; returns its size in bytes.

        Files are read piece by piece, never whole. Objects are written once.
        """
        data = _flat(data)
        hook = upload_progress.get()
        total = _size(data)
        headers = {"Content-Type": media_type}
        # A large body waits for the platform's `100 Continue`: a refusal (too large, no
        # access) comes before it is sent. The platform reads on through smaller ones.
        expect = total is None or total > EXPECT_ABOVE

        async def attempt(again: bool) -> int:
            if again:  # the try that failed may have stored it before its answer was lost
                landed = (await self.objects(blob)).get(key)
                if landed is not None and landed.size == total:
                    return landed.size
            body: Any = data
            # aiohttp sends small bodies in one write; large ones (files) stream in pieces.
            if not isinstance(data, bytes | memoryview) or len(data) > CHUNK or hook:
                body = _counting(_pieces(data), key, total, hook)
                if total is not None:
                    headers["Content-Length"] = str(total)
            async with self._request(
                "PUT", self._object_url(blob, key), data=body, headers=headers, expect100=expect
            ) as response:
                answer = await response.json()
            return int(answer["size"])

        if total is None:  # an async iterable's pieces cannot be sent again
            return await attempt(False)
        return await self.transport.patiently(attempt)

    async def get(
        self, blob: str, key: str, *, start: int | None = None, end: int | None = None
    ) -> bytes:
        """One object, or the bytes from `start` up to (not including) `end`."""
        headers = {}
        if start is not None or end is not None:
            last = "" if end is None else str(end - 1)
            headers["Range"] = f"bytes={start or 0}-{last}"

        async def attempt(again: bool) -> bytes:
            url = self._object_url(blob, key)
            async with self._request("GET", url, headers=headers) as response:
                return await response.read()

        return await self.transport.patiently(attempt)

    async def read_into(self, blob: str, key: str, buffer: memoryview) -> None:
        """Streams one object straight into `buffer`, which must have exactly its size."""

        async def attempt(again: bool) -> int:
            async with self._request("GET", self._object_url(blob, key)) as response:
                offset = 0
                async for piece in response.content.iter_chunked(CHUNK):
                    if offset + len(piece) > len(buffer):
                        raise StructureError(f"{blob}/{key} is larger than {len(buffer)} bytes.")
                    buffer[offset : offset + len(piece)] = piece
                    offset += len(piece)
            return offset

        offset = await self.transport.patiently(attempt)
        if offset != len(buffer):
            raise StructureError(f"{blob}/{key} has {offset} bytes, expected {len(buffer)}.")

    async def stream(self, blob: str, key: str) -> AsyncIterator[bytes]:
        """One object, piece by piece as it arrives."""
        async with self._request("GET", self._object_url(blob, key)) as response:
            async for piece in response.content.iter_chunked(CHUNK):
                yield piece

    async def blobs(self, *, limit: int = 100, before: str | None = None) -> BlobPage:
        """Your blobs, newest first, with what each holds and what all of them hold (what a
        storage quota bounds). Pass the last one's id as `before` for the next page.
        """
        params = {"limit": str(limit)}
        if before is not None:
            params["before"] = before
        body = await self._json("GET", self.url, params=params)
        blobs = [
            Blob(
                str(entry["id"]),
                int(entry["size"]),
                int(entry["objects"]),
                datetime.fromisoformat(entry["createdAt"]),
            )
            for entry in body["blobs"]
        ]
        return BlobPage(int(body["stored"]), blobs)

    async def delete(self, blob: str) -> None:
        """Frees a blob of yours and its objects; afterwards it answers as one that does
        not exist.

        Raises:
            ConflictError: It is a release's bundle, or a call that has not ended takes it
                as an argument.
            PermissionDeniedError: It is a teammate's: only its owner deletes it.
        """

        async def attempt(again: bool) -> None:
            try:
                async with self._request("DELETE", f"{self.url}/{quote(blob, safe='')}"):
                    pass
            except NotFoundError:
                if not again:  # else the try that failed deleted it before its answer was lost
                    raise

        await self.transport.patiently(attempt)

    async def objects(self, blob: str) -> dict[str, BlobObject]:
        """The objects of a blob, by key."""
        body = await self._json("GET", f"{self.url}/{quote(blob, safe='')}")
        return {
            key: BlobObject(key, int(entry["size"]), str(entry["mediaType"]))
            for key, entry in body["objects"].items()
        }


async def _error(response: aiohttp.ClientResponse) -> ArkitektError:
    text = await response.text()
    try:
        errors = json.loads(text)["errors"]
        return api_error(errors[0])
    except (ValueError, KeyError, IndexError, TypeError):
        said = f"The storage answered HTTP {response.status}: {text[:200]}"
        if response.status in (502, 503, 504):  # a proxy before a platform that restarts
            return ServerUnavailableError(said)
        return ApiError(said)


def _flat(data: Any) -> Any:
    """numpy buffers as plain bytes, so that pieces are sliced by byte."""
    if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
        return data.cast("B")
    return data


def _size(data: Any) -> int | None:
    if isinstance(data, bytes):
        return len(data)
    if isinstance(data, memoryview):
        return data.nbytes
    if isinstance(data, Path):
        return data.stat().st_size
    return None


async def _pieces(data: Any) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | memoryview):
        view = memoryview(data)
        for offset in range(0, len(view), CHUNK):
            yield view[offset : offset + CHUNK]  # type: ignore[misc]
    elif isinstance(data, Path):
        with data.open("rb") as file:
            while piece := await asyncio.to_thread(file.read, CHUNK):
                yield piece
    else:
        async for piece in data:
            yield piece


async def _counting(
    pieces: AsyncIterator[bytes], label: str, total: int | None, hook: ProgressHook | None
) -> AsyncIterator[bytes]:
    sent = 0
    async for piece in pieces:
        yield piece
        sent += len(piece)
        if hook is not None:
            hook(label, sent, total)


_by_transport: weakref.WeakKeyDictionary[Transport, Storage] = weakref.WeakKeyDictionary()


def storage_of(api: Any) -> Storage:
    """The storage of a client (`arkitekt.Client`, or the generated API client)."""
    api = getattr(api, "api", api)
    transport: Transport = api.transport
    storage = _by_transport.get(transport)
    if storage is None:
        storage = _by_transport[transport] = Storage(transport)
    return storage


def current_storage() -> Storage:
    """The storage of the client whose call is being shrunk or expanded.

    Raises:
        StructureError: Outside a call (no client is shrinking or expanding values).
    """
    storage = _current.get()
    if storage is None:
        raise StructureError(
            "No storage here: structures are shrunk and expanded while a connected client "
            "calls or serves a function (`async with arkitekt.connect():`)."
        )
    return storage


@contextlib.contextmanager
def using(storage: Storage | None) -> Iterator[None]:
    """Activates `storage` for the block, when one is given."""
    if storage is None:
        yield
        return
    with storage.activate():
        yield
