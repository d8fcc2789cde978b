"""Where blob bytes live: a folder in the data directory, or an S3-compatible bucket.

A backend stores objects under paths (`<blob id>/<key>`), streams them in and out piece by
piece, and serves byte ranges. It knows nothing about users: `blobs.py` checks access.

    ARKITEKT_STORAGE_URL=s3://bucket/prefix?endpoint_url=http://minio:9000&region=eu-west-1

selects S3 (credentials from the usual AWS variables or files); unset, blobs go to
`<data dir>/blobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, urlparse

from .errors import LimitExceeded
from .settings import Settings

PIECE = 1 << 20  # bytes per disk or network read, and per write to disk
PART = 8 << 20  # bytes per S3 multipart part (S3 wants at least 5 MiB but the last)


class Backend(Protocol):
    async def write(self, path: str, pieces: AsyncIterable[bytes]) -> int:
        """Stores the object at `path`; returns its size. Visible only once complete."""

    def read(self, path: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes from `start` up to (not including) `end`."""

    async def delete(self, path: str) -> None: ...

    async def delete_blob(self, blob: str) -> None:
        """Deletes every object of the blob."""


class StorageFull(LimitExceeded):
    """The disk is full, but for what the database needs (HTTP 507)."""


class LocalBackend:
    """Objects as files below a folder; written to a temporary name, then renamed.

    Writes stop short of the last `reserve` bytes of the disk: a full disk would stop the
    database too (it shares the disk, by default)."""

    def __init__(self, root: Path, reserve: int = 0) -> None:
        self.root = root
        self.reserve = reserve

    def _write(self, file: BinaryIO, pieces: list[bytes], size: int) -> None:
        free = shutil.disk_usage(file.name).free
        if free - size < self.reserve:
            raise StorageFull(
                f"The platform's storage is full: {free >> 20} MiB free, and "
                f"{self.reserve >> 20} MiB are kept for its database. Delete blobs "
                "(`arkitekt blob list`, then `arkitekt blob delete`), set a blob retention, "
                "or give the server more disk."
            )
        file.writelines(pieces)

    def file_of(self, path: str) -> Path:
        """Where the object at `path` (`blob/key`) is kept."""
        return self.root / path[:2] / path

    async def write(self, path: str, pieces: AsyncIterable[bytes]) -> int:
        target = self.file_of(path)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        size = 0
        try:
            with partial.open("wb") as file:
                # Disk writes block: gather the network's small pieces, write them in a thread
                # (writelines: without joining them into one more copy).
                batch: list[bytes] = []
                batched = 0
                async for piece in pieces:
                    batch.append(piece)
                    batched += len(piece)
                    if batched >= PIECE:
                        await asyncio.to_thread(self._write, file, batch, batched)
                        size, batch, batched = size + batched, [], 0
                await asyncio.to_thread(self._write, file, batch, batched)
                size += batched
            await asyncio.to_thread(os.replace, partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return size

    async def read(self, path: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self.file_of(path).open("rb") as file:
            file.seek(start)
            left = end - start
            while left > 0:
                piece = await asyncio.to_thread(file.read, min(PIECE, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    async def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.file_of(path).unlink)

    async def delete_blob(self, blob: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.file_of(blob), ignore_errors=True)


class S3Backend:
    """Objects in an S3-compatible bucket, through boto3 in worker threads.

    Uploads stream as multipart uploads of `PART` bytes: a server holds at most one part
    of each upload in memory.
    """

    def __init__(self, url: str) -> None:
        try:
            import boto3  # type: ignore[import-untyped]
        except ImportError as error:
            raise RuntimeError('S3 storage needs boto3: pip install "arkitekt[s3]"') from error
        parsed = urlparse(url)
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client: Any = boto3.client(
            "s3", endpoint_url=options.get("endpoint_url"), region_name=options.get("region")
        )

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    async def write(self, path: str, pieces: AsyncIterable[bytes]) -> int:
        key, buffer, size = self._key(path), bytearray(), 0
        upload: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for piece in pieces:
                buffer += piece
                if len(buffer) >= PART:
                    if upload is None:
                        started = await asyncio.to_thread(
                            self.client.create_multipart_upload, Bucket=self.bucket, Key=key
                        )
                        upload = started["UploadId"]
                    parts.append(await self._part(key, upload, len(parts) + 1, bytes(buffer)))
                    size += len(buffer)
                    buffer.clear()
            size += len(buffer)
            if upload is None:
                await asyncio.to_thread(
                    self.client.put_object, Bucket=self.bucket, Key=key, Body=bytes(buffer)
                )
                return size
            if buffer:
                parts.append(await self._part(key, upload, len(parts) + 1, bytes(buffer)))
            await asyncio.to_thread(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload,
                MultipartUpload={"Parts": parts},
            )
            return size
        except BaseException:
            if upload is not None:
                await asyncio.to_thread(
                    self.client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload
                )
            raise

    async def _part(self, key: str, upload: str, number: int, data: bytes) -> dict[str, Any]:
        answer = await asyncio.to_thread(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=data,
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def read(self, path: str, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        answer = await asyncio.to_thread(
            self.client.get_object,
            Bucket=self.bucket,
            Key=self._key(path),
            Range=f"bytes={start}-{end - 1}",
        )
        body = answer["Body"]
        try:
            while piece := await asyncio.to_thread(body.read, PIECE):
                yield piece
        finally:
            body.close()

    async def delete(self, path: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(path))

    async def delete_blob(self, blob: str) -> None:
        pages = self.client.get_paginator("list_objects_v2")  # 1,000 keys a page
        for page in await asyncio.to_thread(
            lambda: list(pages.paginate(Bucket=self.bucket, Prefix=self._key(f"{blob}/")))
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                await asyncio.to_thread(
                    self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": keys}
                )


def make_backend(settings: Settings) -> Backend:
    url = settings.storage_url
    if not url:
        return LocalBackend(settings.data_dir / "blobs", settings.reserved_disk)
    if url.startswith("s3://"):
        return S3Backend(url)
    if url.startswith("file://"):
        return LocalBackend(Path(url.removeprefix("file://")), settings.reserved_disk)
    raise ValueError(f"Unknown storage URL {url!r}: use s3://bucket/prefix or file:///folder")
