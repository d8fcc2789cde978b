"""Central storage over HTTP: streamed objects, ranges, write-once, access per blob."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np
import pytest

import arkitekt
from arkitekt.runtime.storage import Storage, storage_of, upload_progress
from arkitekt.server import tables
from arkitekt.server.db import make_engine
from arkitekt.server.limits import Limits
from arkitekt.structures import Array, File
from arkitekt.testing import RunningPlatform, running_server, serving
from tests.accounts import add_team, add_user
from tests.processes import Process, free_port
from tests.shipping.apps import publish


@pytest.fixture
def storage(client: arkitekt.Client) -> Storage:
    return storage_of(client)


async def test_objects_round_trip_with_ranges(storage: Storage) -> None:
    blob = await storage.create()
    data = bytes(range(256)) * 5000
    assert await storage.put(blob, "c/0/0", data, media_type="application/x-test") == len(data)
    assert await storage.get(blob, "c/0/0") == data
    assert await storage.get(blob, "c/0/0", start=1000, end=1010) == data[1000:1010]
    assert await storage.get(blob, "c/0/0", start=len(data) - 3) == data[-3:]
    objects = await storage.objects(blob)
    assert objects["c/0/0"].size == len(data)
    assert objects["c/0/0"].media_type == "application/x-test"
    streamed = b"".join([piece async for piece in storage.stream(blob, "c/0/0")])
    assert streamed == data


async def test_files_and_async_sources_stream(storage: Storage, tmp_path: Path) -> None:
    path = tmp_path / "image.tif"
    path.write_bytes(b"\x00\x01" * 3_000_000)

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([i]) * 100_000

    blob = await storage.create()
    await storage.put(blob, path.name, path, media_type="image/tiff")
    await storage.put(blob, "generated", pieces())
    assert hashlib.sha256(await storage.get(blob, path.name)).digest() == (
        hashlib.sha256(path.read_bytes()).digest()
    )
    assert len(await storage.get(blob, "generated")) == 1_000_000


async def test_a_files_name_never_leaves_the_folder_it_is_written_to(
    storage: Storage, tmp_path: Path
) -> None:
    with pytest.raises(
        arkitekt.StructureError, match=re.escape("plain file name, not '../notes.txt'")
    ):
        File(b"x", name="../notes.txt")
    # Another client may store a name with folders: reading it writes inside the folder.
    blob = await storage.create()
    await storage.put(blob, "results/notes.txt", b"hello\n")
    with storage.activate():
        stored = await File.expand(blob)
    assert stored.name == "results/notes.txt"
    written = await stored.download(tmp_path)
    assert written == tmp_path / "notes.txt"
    assert written.read_text() == "hello\n"


async def test_objects_are_written_once(storage: Storage) -> None:
    blob = await storage.create()
    await storage.put(blob, "zarr.json", b"{}")
    with pytest.raises(arkitekt.ConflictError, match="objects are written once"):
        await storage.put(blob, "zarr.json", b"{ }")
    assert await storage.get(blob, "zarr.json") == b"{}"


async def test_bad_requests_get_codes(server: RunningPlatform, storage: Storage) -> None:
    blob = await storage.create()
    await storage.put(blob, "data", b"0123456789")
    with pytest.raises(arkitekt.NotFoundError):
        await storage.get(blob, "missing")
    with pytest.raises(arkitekt.NotFoundError):
        await storage.get("0" * 32, "data")
    with pytest.raises(arkitekt.InvalidInputError, match="not a valid object key"):
        await storage.put(blob, "back\\slash", b"")
    url = f"{server.url}/blobs/{blob}/data"
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={**headers, "Range": "bytes=20-30"}) as response:
            assert response.status == 416
            assert response.headers["Content-Range"] == "bytes */10"
        async with session.head(url, headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == "10"
        for bad in ({}, {"Authorization": "Bearer ark_nope"}):
            async with session.get(url, headers=bad) as response:
                assert response.status == 401
                body = await response.json()
                assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_blobs_are_read_by_the_owners_teams_only(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    team = await add_team(client)
    _, owner_token = await add_user(client, "owner", teams=[team])
    _, teammate_token = await add_user(client, "teammate", teams=[team])
    _, outsider_token = await add_user(client, "outsider")
    async with (
        arkitekt.connect(server.url, owner_token) as owner,
        arkitekt.connect(server.url, teammate_token) as teammate,
        arkitekt.connect(server.url, outsider_token) as outsider,
    ):
        mine = await storage_of(owner).create()
        await storage_of(owner).put(mine, "data", b"secret")
        # A teammate reads it (an agent of theirs expands the owner's arguments)...
        assert await storage_of(teammate).get(mine, "data") == b"secret"
        with pytest.raises(arkitekt.PermissionDeniedError, match="only its owner may"):
            await storage_of(teammate).put(mine, "more", b"x")
        # ...anybody else finds nothing there, exactly as for a blob that does not exist.
        theirs = storage_of(outsider)
        for attempt in (
            theirs.get(mine, "data"),
            theirs.put(mine, "more", b"x"),
            theirs.objects(mine),
            storage_of(client).get(mine, "data"),  # platform admins are no exception
        ):
            with pytest.raises(arkitekt.NotFoundError, match=f"No blob with id '{mine}'"):
                await attempt
        own = await theirs.create()
        await theirs.put(own, "data", b"theirs")
        assert await theirs.get(own, "data") == b"theirs"


async def test_the_owner_deletes_a_blob_and_its_bytes_leave(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    team = await add_team(client)
    _, owner_token = await add_user(client, "deleter", teams=[team])
    _, teammate_token = await add_user(client, "deleters-teammate", teams=[team])
    async with (
        arkitekt.connect(server.url, owner_token) as owner,
        arkitekt.connect(server.url, teammate_token) as teammate,
    ):
        mine, kept = storage_of(owner), await storage_of(owner).create()
        blob = await mine.create()
        await mine.put(blob, "zarr.json", b"{}")
        await mine.put(blob, "c/0", b"x" * 1000)
        await mine.put(kept, "data", b"kept")
        folder = server.data_dir / "blobs" / blob[:2] / blob
        assert folder.is_dir()

        with pytest.raises(arkitekt.PermissionDeniedError, match="only its owner may"):
            await storage_of(teammate).delete(blob)
        await mine.delete(blob)

        for attempt in (mine.get(blob, "c/0"), mine.objects(blob), mine.delete(blob)):
            with pytest.raises(arkitekt.NotFoundError, match=f"No blob with id '{blob}'"):
                await attempt
        assert not folder.exists()
        assert await mine.get(kept, "data") == b"kept"


async def test_a_bundle_and_a_pending_argument_are_not_deleted(tmp_path: Path) -> None:
    with running_server(tmp_path) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            published = await publish(client, "app")
            (release,) = [r for r in await client.api.releases() if r.id == published]
            with pytest.raises(arkitekt.ConflictError, match="is the bundle of app"):
                await client.storage.delete(release.blob)
            assert await client.storage.get(release.blob, "bundle.tar.gz") == b"bundle"

            async with serving(client, count_lines):
                pass  # its agent is gone: a call waits QUEUED
            with client.storage.activate():
                pending = await File(b"x\n" * 3, name="run.log").shrink()
            waiting = await client.assign("count_lines", log=pending)
            with pytest.raises(arkitekt.ConflictError, match="cancel the call or let it end"):
                await client.storage.delete(pending)
            assert await client.storage.get(pending, "run.log") == b"x\n" * 3

            await waiting.cancel()
            await client.storage.delete(pending)
            with pytest.raises(arkitekt.NotFoundError):
                await client.storage.get(pending, "run.log")


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real S3-compatible server (moto's) on a free loopback port."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    try:
        host, port = s3.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="arkitekt"
        )
        yield f"s3://arkitekt/lab?endpoint_url={endpoint}&region=us-east-1"
    finally:
        s3.stop()


async def test_the_s3_backend_stores_blobs_in_the_bucket(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("ARKITEKT_STORAGE_URL", s3_url)
    data = bytes(range(251)) * 80_000  # 20 MB: a multipart upload of three parts
    with running_server(tmp_path) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            storage = storage_of(client)
            blob = await storage.create()
            await storage.put(blob, "c/0", data)
            assert (
                await storage.get(blob, "c/0", start=9_000_000, end=9_000_100)
                == (data[9_000_000:9_000_100])
            )
            assert await storage.get(blob, "c/0") == data
    assert not (tmp_path / "blobs").exists()
    endpoint = s3_url.split("endpoint_url=")[1].split("&")[0]
    listed = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(
        Bucket="arkitekt", Prefix="lab/"
    )
    assert [item["Key"] for item in listed["Contents"]] == [f"lab/{blob}/c/0"]
    assert listed["Contents"][0]["Size"] == len(data)


async def test_uploads_report_progress(storage: Storage, tmp_path: Path) -> None:
    path = tmp_path / "stack.raw"
    path.write_bytes(b"\x07" * 3_500_000)
    seen: list[tuple[str, int, int | None]] = []
    hook = upload_progress.set(lambda key, sent, total: seen.append((key, sent, total)))
    try:
        blob = await storage.create()
        await storage.put(blob, "stack.raw", path)
    finally:
        upload_progress.reset(hook)
    assert len(seen) == 4  # 1 MiB pieces
    assert [sent for _, sent, _ in seen] == sorted(sent for _, sent, _ in seen)
    assert seen[-1] == ("stack.raw", 3_500_000, 3_500_000)


def test_the_cli_uploads_a_file_and_prints_its_reference(
    server: RunningPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "arkitekt", "upload", str(path)],
        env={**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    reference = result.stdout.strip()
    assert len(reference) == 32
    missing = subprocess.run(
        [sys.executable, "-m", "arkitekt", "upload", str(tmp_path / "nope.txt")],
        env={**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 1
    assert "no file at" in missing.stderr


def count_lines(log: File) -> int:
    return log.read_sync().count(b"\n")


async def test_an_uploaded_reference_is_a_file_argument(
    client: arkitekt.Client, tmp_path: Path
) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"x\n" * 321)
    with client.storage.activate():
        reference = await File(path).shrink()
    async with serving(client, count_lines):
        assert await client.call("count_lines", log=reference) == 321


def arkitekt_cli(server: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arkitekt", *args],
        env={**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token},
        capture_output=True,
        text=True,
        timeout=60,
    )


def total(image: Array) -> float:
    return float(image.numpy().sum())


async def test_the_cli_passes_local_files_as_structures(
    server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    log, image = tmp_path / "run.log", tmp_path / "cells.npy"
    log.write_bytes(b"x\n" * 77)
    np.save(image, np.arange(12, dtype=np.uint16).reshape(3, 4))
    async with serving(client, count_lines, total):
        counted = await asyncio.to_thread(
            arkitekt_cli, server, "call", "count_lines", f"log=@{log}"
        )
        assert (counted.returncode, counted.stdout.strip()) == (0, "77"), counted.stderr
        summed = await asyncio.to_thread(arkitekt_cli, server, "call", "total", f"image=@{image}")
        assert (summed.returncode, summed.stdout.strip()) == (0, "66.0"), summed.stderr

        missing = await asyncio.to_thread(
            arkitekt_cli, server, "call", "count_lines", f"log=@{tmp_path / 'nope.log'}"
        )
        assert missing.returncode == 1
        assert "log: no file at" in missing.stderr
        not_numpy = await asyncio.to_thread(arkitekt_cli, server, "call", "total", f"image=@{log}")
        assert not_numpy.returncode == 1
        assert f"image: {log} is not a numeric .npy file" in not_numpy.stderr


def double(image: Array) -> Array:
    return Array(image.numpy() * 2)


async def test_references_chain_calls_and_wrong_ones_say_what_they_name(
    server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    image = tmp_path / "cells.npy"
    np.save(image, np.arange(4, dtype=np.int32))
    async with serving(client, double, total, count_lines):
        # Piped, a lone structure prints as its bare reference: the next call takes it.
        doubled = await asyncio.to_thread(arkitekt_cli, server, "call", "double", f"image=@{image}")
        reference = doubled.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{32}", reference), doubled.stdout
        summed = await asyncio.to_thread(
            arkitekt_cli, server, "call", "total", f"image={reference}"
        )
        assert summed.stdout.strip() == "12.0", summed.stderr

        path = await asyncio.to_thread(arkitekt_cli, server, "call", "total", f"image={image}")
        assert path.returncode == 1
        assert f"image: {image} is a local file" in path.stderr
        assert f"pass image=@{image}" in path.stderr
        # It failed before the function ran: there is no traceback to ask for.
        gone = await asyncio.to_thread(arkitekt_cli, server, "call", "total", f"image={'f' * 32}")
        assert "in central storage" in gone.stderr
        assert "--verbose" not in gone.stderr

        with client.storage.activate():
            log = await File(b"x\n", name="run.log").shrink()
        refused = "image: 'abc' is not a reference to central storage"
        with pytest.raises(arkitekt.ArgumentError, match=refused):
            await client.call("total", image="abc")  # before it is sent
        node = await client.node("total")
        raw = await client.api.assign(node=node.id, args={"image": "abc"})  # unchecked
        with pytest.raises(arkitekt.AssignationError, match=refused):
            await arkitekt.Assignation(client, node, raw.id).result()
        wrong = {
            ("total", "f" * 32): f"No blob {'f' * 32} in central storage",
            ("total", log): f"Blob {log} holds the file 'run.log', not an Array.",
            ("count_lines", reference): f"Blob {reference} holds an Array, not a File.",
        }
        for (name, value), message in wrong.items():
            port = "image" if name == "total" else "log"
            with pytest.raises(arkitekt.AssignationError, match=re.escape(message)):
                await client.call(name, **{port: value})


async def test_a_client_expands_a_reference_into_what_its_blob_holds(
    server: RunningPlatform, client: arkitekt.Client
) -> None:
    with client.storage.activate():
        image = await Array(np.arange(12, dtype=np.uint8).reshape(3, 4)).shrink()
        notes = await File(b"seen\n", name="notes.txt").shrink()

    array = await client.expand(image)
    assert isinstance(array, Array)
    assert (array.shape, array.dtype) == ((3, 4), np.uint8)
    assert (await array.read((slice(1, 2), slice(None)))).tolist() == [[4, 5, 6, 7]]
    file = await client.expand(notes)
    assert isinstance(file, File)
    assert (file.name, await file.read()) == ("notes.txt", b"seen\n")
    with pytest.raises(arkitekt.StructureError, match="is not a reference"):
        await client.expand("notes.txt")

    def in_a_script() -> tuple[list[list[int]], bytes]:
        with arkitekt.connect(server.url, server.token) as blocking:
            expanded = blocking.expand(image)
            text = blocking.expand(notes)
            assert isinstance(text, File)
            return np.asarray(expanded).tolist(), text.read_sync()

    assert await asyncio.to_thread(in_a_script) == (
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]],
        b"seen\n",
    )


async def test_download_writes_blobs_to_files_and_overwrites_nothing(
    server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with client.storage.activate():
        image = await Array(np.arange(6, dtype=np.int16).reshape(2, 3)).shrink()
        notes = await File(b"seen\n", name="notes.txt").shrink()
        other = await File(b"other\n", name="notes.txt").shrink()

    def download(*references: str) -> subprocess.CompletedProcess[str]:
        return arkitekt_cli(server, "download", *references, "--to", str(out))

    first = await asyncio.to_thread(download, image, notes, other)
    assert first.returncode == 0, first.stderr
    written = [out / f"{image}.npy", out / "notes.txt", out / f"notes-{other[:8]}.txt"]
    assert first.stdout.split() == [str(path) for path in written]
    assert np.load(written[0]).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.load(written[0]).dtype == np.int16
    assert [path.read_text() for path in written[1:]] == ["seen\n", "other\n"]

    again = await asyncio.to_thread(download, image)
    assert again.returncode == 1
    assert f"{out / image}.npy exists already" in again.stderr
    wrong = await asyncio.to_thread(download, "f" * 32)
    assert f"No blob {'f' * 32} in central storage" in wrong.stderr
    assert sorted(out.iterdir()) == sorted(written), "no partial file is left behind"


def tiles(image: Array, n: int) -> Iterator[tuple[Array, File]]:
    data = image.numpy()
    for i in range(n):
        yield Array(data + i), File(f"tile {i}\n".encode(), name="tile.txt")


async def test_the_cli_saves_structures_in_results_and_overwrites_nothing(
    server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    image, out = tmp_path / "cells.npy", tmp_path / "out"
    np.save(image, np.arange(6, dtype=np.int32).reshape(2, 3))
    async with serving(client, tiles):
        args = ("call", "tiles", f"image=@{image}", "n=2", "--save", str(out))
        first = await asyncio.to_thread(arkitekt_cli, server, *args)
        again = await asyncio.to_thread(arkitekt_cli, server, *args)
        plain = await asyncio.to_thread(arkitekt_cli, server, *args[:4])
    assert (first.returncode, first.stderr, again.stderr) == (0, "", ""), first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines() + again.stdout.splitlines()]
    assert lines == [
        [f"{out}/tiles-{i:04d}.npy", f"{out}/tiles-{i + 1:04d}-tile.txt"] for i in (1, 3, 5, 7)
    ]
    assert np.load(out / "tiles-0003.npy").tolist() == [[1, 2, 3], [4, 5, 6]]
    assert (out / "tiles-0008-tile.txt").read_text() == "tile 1\n"
    # Without --save, each structure shows as its reference, which a call can take.
    assert re.fullmatch(r'\["\w{32}", "\w{32}"\]', plain.stdout.splitlines()[0]), plain.stdout


async def test_blobs_past_the_retention_are_freed_but_bundles_and_pending_arguments_stay(
    tmp_path: Path,
) -> None:
    half_a_second = 0.5 / 86_400
    with running_server(tmp_path, blob_retention=half_a_second) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            storage = storage_of(client)
            old = await storage.create()
            await storage.put(old, "c/0", b"old")
            published = await publish(client, "app")
            (release,) = [r for r in await client.api.releases() if r.id == published]
            async with serving(client, count_lines):
                pass  # its agent is gone: a call waits QUEUED
            with client.storage.activate():
                pending = await File(b"x\n" * 3, name="run.log").shrink()
            waiting = await client.assign("count_lines", log=pending)
            await asyncio.sleep(0.6)
            fresh = await storage.create()
            await storage.put(fresh, "data", b"fresh")

            assert await asyncio.to_thread(platform.expire_blobs) == 1
            with pytest.raises(arkitekt.NotFoundError):
                await storage.get(old, "c/0")
            assert list((tmp_path / "blobs").glob(f"*/{old}")) == []
            assert await storage.get(fresh, "data") == b"fresh"
            assert await storage.get(release.blob, "bundle.tar.gz") == b"bundle"
            assert await storage.get(pending, "run.log") == b"x\n" * 3

            await waiting.cancel()  # ended: its argument is no longer needed
            assert await asyncio.to_thread(platform.expire_blobs) == 1
            with pytest.raises(arkitekt.NotFoundError):
                await storage.get(pending, "run.log")


async def test_an_expired_blob_leaves_the_bucket(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("ARKITEKT_STORAGE_URL", s3_url)
    with running_server(tmp_path, blob_retention=0.0) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            storage = storage_of(client)
            blob = await storage.create()
            for key in ("zarr.json", "c/0/0", "c/0/1"):
                await storage.put(blob, key, b"chunk")
            assert await asyncio.to_thread(platform.expire_blobs) == 1
    endpoint = s3_url.split("endpoint_url=")[1].split("&")[0]
    listed = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(
        Bucket="arkitekt", Prefix=f"lab/{blob}/"
    )
    assert listed["KeyCount"] == 0


def _stored_files(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "blobs").rglob("*") if path.is_file()]


async def _pieces(total: int, piece: int = 256 << 10) -> AsyncIterator[bytes]:
    for _ in range(total // piece):
        yield os.urandom(piece)


async def test_an_object_over_the_size_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path, limits=Limits(object_size=1 << 20)) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            storage = storage_of(client)
            blob = await storage.create()
            assert await storage.put(blob, "fits", os.urandom(1 << 20)) == 1 << 20
            sparse = tmp_path / "sparse"
            with sparse.open("wb") as file:
                file.truncate(65 << 20)  # large enough to wait for `100 Continue`: never sent
            # Known length: refused before a byte is stored; streamed: once past the limit.
            for body in (os.urandom(2 << 20), sparse, _pieces(3 << 20)):
                with pytest.raises(arkitekt.LimitExceededError, match="larger than the 1 MiB"):
                    await storage.put(blob, "too-big", body)
            assert set(await storage.objects(blob)) == {"fits"}
            assert [path.name for path in _stored_files(tmp_path)] == ["fits"]
            # The connection it was refused on is not reused half-read: the next put works.
            assert await storage.put(blob, "after", b"small") == 5


async def test_an_upload_that_would_fill_the_disk_is_refused(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with running_server(tmp_path, reserved_disk=free + (1 << 30)) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            storage = storage_of(client)
            blob = await storage.create()
            with pytest.raises(arkitekt.LimitExceededError, match="storage is full"):
                await storage.put(blob, "data", b"0123456789")
            assert await storage.objects(blob) == {}
            assert _stored_files(tmp_path) == []
            url = f"{server.url}/blobs/{blob}/data"
            headers = {"Authorization": f"Bearer {server.token}"}
            async with (
                aiohttp.ClientSession() as session,
                session.put(url, data=b"0123456789", headers=headers) as response,
            ):
                assert response.status == 507


async def test_each_users_blobs_stay_within_the_quota_and_freeing_makes_room(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, storage_quota=2 << 20) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            team = await add_team(client)
            neighbour, other_token = await add_user(client, "neighbour", teams=[team])
            await client.api.add_member(team=team, user="admin")
            mine = storage_of(client)
            first, second = await mine.create(), await mine.create()
            await mine.put(first, "c/0", os.urandom(3 << 19))  # 1.5 MiB
            # Known length: refused before a byte is stored; streamed: once past the room.
            for body in (os.urandom(1 << 20), _pieces(1 << 20)):
                full = re.escape("your blobs hold 1.5 MiB of the 2.0 MiB each user may store")
                with pytest.raises(arkitekt.LimitExceededError, match=full):
                    await mine.put(second, "c/0", body)
            assert await mine.objects(second) == {}
            async with arkitekt.connect(server.url, other_token) as other:
                theirs = storage_of(other)  # a quota of their own
                assert await theirs.put(await theirs.create(), "c/0", os.urandom(3 << 19))
                # What a user's blobs hold: theirs to see, and the platform admins'.
                assert (await other.api.me()).stored_bytes == 3 << 19
                members = "{ teams { members { user { name storedBytes } } } }"
                (seen,) = (await other.api.transport.execute(members, None, {}))["teams"]
                stored = {m["user"]["name"]: m["user"]["storedBytes"] for m in seen["members"]}
                assert stored == {neighbour: 3 << 19, "admin": None}

            stored = {u.name: u.stored_bytes for u in await client.api.users()}
            assert stored[neighbour] == 3 << 19
            await mine.delete(first)
            assert (await client.api.me()).stored_bytes == 0
            assert await mine.put(second, "c/0", os.urandom(1 << 20)) == 1 << 20
            assert (await client.api.me()).stored_bytes == 1 << 20
            assert len(_stored_files(tmp_path)) == 2


async def test_uploads_side_by_side_stay_within_the_quota_together(tmp_path: Path) -> None:
    with running_server(tmp_path, storage_quota=1 << 20) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            storage = storage_of(client)
            blobs = [await storage.create() for _ in range(6)]
            # Each fits alone, so each passes the check as it starts; three fit together.
            results = await asyncio.gather(
                *(storage.put(blob, "c/0", os.urandom(300 << 10)) for blob in blobs),
                return_exceptions=True,
            )
            stored = [r for r in results if isinstance(r, int)]
            refused = [r for r in results if isinstance(r, arkitekt.LimitExceededError)]
            assert len(stored) + len(refused) == 6, results
            assert len(stored) == 3
            assert (await client.api.me()).stored_bytes == 3 * (300 << 10)
            # Nothing of a refused upload is left: neither its row nor its bytes.
            assert len(_stored_files(tmp_path)) == 3


def test_the_server_cli_sets_the_quota_and_upload_says_what_to_do(
    isolated_config: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    server = Process(
        "-m", "arkitekt", "server", "--port", "0", "--storage-quota-gib", "0.000001", env=env
    )
    try:
        server.wait_for(r"quota\s+1e-06 GiB of blobs per user")
        fits, too_big = tmp_path / "fits.txt", tmp_path / "too-big.txt"
        fits.write_bytes(b"x" * 600)
        too_big.write_bytes(b"x" * 600)

        def upload(path: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "arkitekt", "upload", str(path)],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )

        assert upload(fits).returncode == 0
        refused = upload(too_big)  # 1,200 bytes would pass the 1,073 the quota allows
        assert refused.returncode == 1
        assert "your blobs hold 600 bytes of the 1.0 KiB each user may store" in refused.stderr
        assert "arkitekt blob list" in refused.stderr
    finally:
        server.stop()


async def test_your_blobs_are_listed_newest_first_with_their_sizes(
    client: arkitekt.Client, server: RunningPlatform
) -> None:
    _, token = await add_user(client, "lister")
    async with arkitekt.connect(server.url, token) as lister:
        storage = storage_of(lister)
        made = []
        for size in (10, 0, 300):
            blob = await storage.create()
            if size:
                await storage.put(blob, "a", b"x" * size)
                await storage.put(blob, "b", b"y")
            made.append(blob)
        await storage_of(client).create()  # somebody else's: not listed

        page = await storage.blobs()
        assert [b.id for b in page.blobs] == made[::-1]
        assert [(b.size, b.objects) for b in page.blobs] == [(301, 2), (0, 0), (11, 2)]
        assert page.stored == 312
        first = await storage.blobs(limit=2)
        rest = await storage.blobs(before=first.blobs[-1].id)
        assert [b.id for b in first.blobs + rest.blobs] == made[::-1]
        with pytest.raises(arkitekt.InvalidInputError, match="limit"):
            await storage.blobs(limit=0)

        # Blobs made in the same instant still page one after the other, each once.
        engine = make_engine(server.database_url or f"sqlite:///{server.data_dir}/arkitekt.db")
        with engine.begin() as connection:
            b = tables.blobs
            at = datetime(2026, 1, 1, tzinfo=UTC)
            connection.execute(b.update().where(b.c.id.in_(made)).values(created_at=at))
        engine.dispose()
        paged, before = [], None
        while page := (await storage.blobs(limit=1, before=before)).blobs:
            paged.append(page[0].id)
            before = page[0].id
        assert paged == sorted(made)
        await storage.delete(made[0])
        with pytest.raises(arkitekt.NotFoundError, match=made[0]):
            await storage.blobs(before=made[0])


def test_the_cli_lists_and_deletes_your_blobs(server: RunningPlatform, tmp_path: Path) -> None:
    env = {**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token}

    def arkitekt_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "arkitekt", *args],
            env={**env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=30,
        )

    path = tmp_path / "scan.txt"
    path.write_bytes(b"z" * 4096)
    reference = arkitekt_cli("upload", str(path)).stdout.strip()
    listed = arkitekt_cli("blob", "list", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"{reference}\s+0\.00\s+1\s", listed.stdout), listed.stdout
    assert "GiB in all" in listed.stderr

    deleted = arkitekt_cli("blob", "delete", reference)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted blob {reference}" in deleted.stderr
    again = arkitekt_cli("blob", "delete", reference)
    assert again.returncode == 1
    assert f"No blob with id '{reference}'" in again.stderr


async def test_storage_waits_out_an_outage_only_once_it_reached_the_platform(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong URL fails at once; a platform that restarts is waited for (see
    tests/reliability/test_promises.py, which restarts one under an acquisition)."""
    async with arkitekt.connect(f"http://127.0.0.1:{free_port()}", "nobody") as client:
        with pytest.raises(arkitekt.ServerUnavailableError, match="Cannot reach the platform"):
            await client.storage.create()
    assert "Trying again" not in caplog.text
