"""`arkitekt backup`: a copy of a serving platform that serves on its own."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

import arkitekt
from arkitekt.errors import StructureError
from arkitekt.structures import File
from arkitekt.testing import running_server, serving

from .processes import arkitekt as run


def size_of(data: File) -> int:
    return len(data.read_sync())


def echo(x: int) -> int:
    return x


def env_for(config: Path) -> dict[str, str]:
    return {**os.environ, "ARKITEKT_CONFIG": str(config), "COLUMNS": "200"}


@pytest.mark.parametrize("folder", [False, True], ids=["blobs in the data", "blobs elsewhere"])
async def test_a_backup_taken_while_the_platform_serves_is_a_platform_of_its_own(
    tmp_path: Path, folder: bool
) -> None:
    live, copy = tmp_path / "live", tmp_path / "copy"
    stored = tmp_path / "elsewhere" if folder else live / "blobs"
    options = {"storage_url": stored.as_uri()} if folder else {}
    env = {**os.environ, **({"ARKITEKT_STORAGE_URL": stored.as_uri()} if folder else {})}
    scan, notes = tmp_path / "scan.bin", tmp_path / "notes.txt"
    scan.write_bytes(os.urandom(3 << 20))
    notes.write_text("cells: 12\n")
    with running_server(live, **options) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            async with serving(client, size_of, echo):
                sized = await client.assign(size_of, data=scan)
                assert await sized.result() == 3 << 20
                await client.call(size_of, data=notes)
                page = await client.storage.blobs(limit=10)
                (kept,) = [blob.id for blob in page.blobs if blob.size == 3 << 20]
                (lost,) = [blob.id for blob in page.blobs if blob.id != kept]
                for each in stored.glob(f"*/{lost}/*"):  # as a retention frees it
                    each.unlink()

                calls = 0

                async def calling() -> None:
                    nonlocal calls
                    while True:
                        calls += await client.call(echo, x=1)

                busy = asyncio.create_task(calling())
                try:
                    backup = await asyncio.to_thread(
                        run, "backup", str(copy), "--data-dir", str(live), env=env
                    )
                    during = calls
                    await client.call(echo, x=1)  # the platform still serves
                finally:
                    busy.cancel()
    assert backup.returncode == 0, backup.stderr
    assert during > 0, "calls went on while the copy was taken"
    assert f"to {copy} in" in backup.stdout
    assert "1 blobs had no bytes in storage" in backup.stderr
    assert f"serve it with: arkitekt server --data-dir {copy}" in backup.stdout
    assert ("serve it without ARKITEKT_STORAGE_URL" in backup.stdout) is folder
    with sqlite3.connect(copy / "arkitekt.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    with running_server(copy) as restored:
        async with arkitekt.connect(restored.url, server.token) as client:  # the same token
            again = await client.assignation(sized.id)
            assert [e.kind.value for e in [event async for event in again.events()]][-1] == "DONE"
            assert (await (await client.expand(kept)).read()) == scan.read_bytes()
            with pytest.raises(StructureError, match=f"No blob {lost} in central storage"):
                await client.expand(lost)
            copied = await client.storage.blobs(limit=10)
            assert [blob.id for blob in copied.blobs] == [kept]
            assert copied.stored == 3 << 20, "what the user holds, without the blob left out"


def test_backup_refuses_what_it_cannot_copy_and_says_what_to_do(tmp_path: Path) -> None:
    env = env_for(tmp_path / "config.json")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "kept.txt").write_text("mine")
    with running_server(tmp_path / "live"):
        refused = {
            "not empty": run(
                "backup", str(tmp_path / "full"), "--data-dir", str(tmp_path / "live"), env=env
            ),
            "postgres": run(
                "backup", str(tmp_path / "b"), "--database-url", "postgresql://db/ark", env=env
            ),
            "nothing": run(
                "backup", str(tmp_path / "c"), "--data-dir", str(tmp_path / "none"), env=env
            ),
        }
    told = {why: (done.returncode, done.stderr.strip()) for why, done in refused.items()}
    assert told["not empty"] == (
        1,
        f"error: {tmp_path / 'full'} is not empty: a backup goes into a new folder.",
    )
    assert told["postgres"][0] == 1
    assert "back it up with pg_dump" in told["postgres"][1]
    database = tmp_path / "none" / "arkitekt.db"
    assert told["nothing"] == (
        1,
        f"error: There is no platform database at {database}: pass --data-dir.",
    )
    assert (tmp_path / "full" / "kept.txt").read_text() == "mine"
    assert not (tmp_path / "b").exists()
    assert not (tmp_path / "c").exists()


async def test_a_backup_that_fails_midway_leaves_no_half_copy(tmp_path: Path) -> None:
    live, copy, scan = tmp_path / "live", tmp_path / "copy", tmp_path / "scan.bin"
    scan.write_bytes(os.urandom(1 << 20))
    copy.mkdir()
    with running_server(live) as server:
        async with arkitekt.connect(server.url, server.token) as client:
            with client.storage.activate():
                blob = await File(scan).shrink()
        (stored,) = (live / "blobs").glob(f"*/{blob}/*")
        stored.unlink()
        stored.mkdir()  # bytes that cannot be read as a file: the copy fails there
        done = await asyncio.to_thread(
            run, "backup", str(copy), "--data-dir", str(live), env=env_for(tmp_path / "c.json")
        )
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot copy the platform to {copy}: Is a directory"
    assert list(copy.iterdir()) == []
