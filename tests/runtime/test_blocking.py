"""`with arkitekt.connect() as client:` from plain scripts: no async anywhere in sight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import arkitekt
from arkitekt.structures import Array
from arkitekt.testing import RunningPlatform, serving


def blocking_add(a: int, b: int) -> int:
    return a + b


async def blocking_count(to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        yield n


def blocking_fail() -> None:
    raise ValueError("no luck")


SCRIPT = """
import pytest

import arkitekt

with arkitekt.connect() as client:
    print(client.call("blocking_add", a=1, b=2))
    print(list(client.stream("blocking_count", to=3)))
    print(list(client.map("blocking_add", [1, 2, 3], [10, 20, 30], in_flight=2)))
    print(list(client.map("blocking_add", client.stream("blocking_count", to=3), [5, 5, 5])))

    def loaded():
        for n in range(3):
            yield client.call("blocking_add", a=n, b=0)  # read off the client's loop
    print(list(client.map("blocking_add", loaded(), [1, 1, 1])))
    for n in client.stream("blocking_count", to=1000):
        if n == 2:
            break  # leaving early cancels the rest
    reservation = client.reserve("blocking_add")
    reservation.wait_active(timeout=10)
    print(reservation.call(a=20, b=22), reservation.status.value)
    try:
        client.call("blocking_fail")
    except arkitekt.RemoteError as error:
        print("raised", error.type, error.message)
try:
    client.call("blocking_add", a=1, b=2)
except arkitekt.ClientClosedError:
    print("closed")
shared = arkitekt.connect()
with shared as outer:
    with shared as inner:
        print(inner is outer)
    print(outer.call("blocking_add", a=1, b=1))  # the inner block left it open
"""


def script_env(server: RunningPlatform) -> dict[str, str]:
    return {**os.environ, "ARKITEKT_URL": server.url, "ARKITEKT_TOKEN": server.token}


async def python(script: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    path = cwd / "script.py"
    path.write_text(textwrap.dedent(script))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def printed_by(script: str, server: RunningPlatform, cwd: Path) -> list[str]:
    """The lines a script printed; it must succeed."""
    process = await python(script, script_env(server), cwd)
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_a_plain_script_calls_streams_and_reserves(
    client: arkitekt.Client, server: RunningPlatform, tmp_path: Path
) -> None:
    async with serving(client, blocking_add, blocking_count, blocking_fail, name="blocking"):
        printed = await printed_by(SCRIPT, server, tmp_path)
    assert printed == [
        "3",
        "[1, 2, 3]",
        "[11, 22, 33]",
        "[6, 7, 8]",
        "[1, 2, 3]",
        "42 ACTIVE",
        "raised ValueError no luck",
        "closed",
        "True",
        "2",
    ]


async def test_ctrl_c_in_a_script_cancels_the_call(
    client: arkitekt.Client, server: RunningPlatform, tmp_path: Path
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def blocking_hold() -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return 0

    script = """
    import arkitekt

    with arkitekt.connect() as client:
        try:
            client.call("blocking_hold")
        except KeyboardInterrupt:
            print("interrupted")
    """
    async with serving(client, blocking_hold, name="blocking-hold"):
        process = await python(script, script_env(server), tmp_path)
        async with asyncio.timeout(30):
            await started.wait()
            process.send_signal(signal.SIGINT)
            await cancelled.wait()
            out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode() == "interrupted\n"


def doubled(image: Array) -> Array:
    return Array(image.numpy() * 2)


NOTEBOOK = """
import asyncio
import numpy as np
import pytest

import arkitekt
from arkitekt.structures import Array

async def cell():  # a notebook's cell: its loop runs in this thread, the code is sync
    with arkitekt.connect() as client:
        out = client.call("doubled", image=Array(np.ones((2, 3))))
        print(out.shape, np.asarray(out).sum())

async def async_cell():
    async with arkitekt.connect() as client:
        out = await client.call("doubled", image=Array(np.ones((2, 3))))
        try:
            out.numpy()  # on the loop that would fetch it
        except arkitekt.StructureError as error:
            print(error)
        print((await out.load()).sum())

asyncio.run(cell())
asyncio.run(async_cell())
"""


async def test_the_blocking_client_reads_structures_where_a_loop_runs(
    client: arkitekt.Client, server: RunningPlatform, tmp_path: Path
) -> None:
    async with serving(client, doubled, name="notebook"):
        printed = await printed_by(NOTEBOOK, server, tmp_path)
    assert printed == [
        "(2, 3) 12.0",
        "This would block the event loop: use `await array.load()` instead.",
        "12.0",
    ]


async def test_an_open_client_lends_itself_to_other_threads_not_to_its_own_loop(
    client: arkitekt.Client,
) -> None:
    def relay() -> Iterator[int]:  # a sync generator: each step may run in another thread
        with client as lent:
            assert lent.aio is client
            yield lent.call(blocking_add, a=2, b=3)
            yield lent.call(blocking_add, a=4, b=5)

    async def in_a_new_thread(function: Callable[[], Any]) -> Any:
        with ThreadPoolExecutor(1) as thread:
            return await asyncio.get_running_loop().run_in_executor(thread, function)

    async with serving(client, blocking_add):
        steps = relay()
        assert await in_a_new_thread(lambda: next(steps)) == 5
        assert await in_a_new_thread(lambda: list(steps)) == [9]  # leaves the block there
        with pytest.raises(RuntimeError, match="use it with await"), client:
            pass
        assert await client.call(blocking_add, a=1, b=1) == 2  # still open


async def test_a_client_lent_to_a_thread_is_closed_with_its_owner(server: RunningPlatform) -> None:
    owner = await arkitekt.connect(server.url, server.token).open()
    lent = await asyncio.to_thread(owner.__enter__)
    await owner.close()
    with pytest.raises(arkitekt.ClientClosedError):
        await asyncio.to_thread(lent.node, "anything")
