"""Registration is a diff: an unchanged catalogue writes nothing; a changed function
becomes a new node and its old implementation is retired from the agent."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import arkitekt
from arkitekt.api.enums import AssignationStatus
from arkitekt.api.input_types import AgentInput, ImplementationInput
from arkitekt.testing import running_server


def segment(threshold: float) -> int:
    """Count the cells above a threshold."""
    return 0


def segment_changed(threshold: float, smooth: bool = True) -> int:
    """Count the cells above a threshold."""
    return 0


def other(x: int) -> int:
    return x


def catalogue(**functions: Callable[..., object]) -> AgentInput:
    implementations = [
        ImplementationInput(
            interface=interface, node=arkitekt.node_of(function, name=interface).to_input()
        )
        for interface, function in functions.items()
    ]
    return AgentInput(name="lab", instance="lab-1", implementations=implementations)


async def test_registration_is_a_diff(tmp_path: Path) -> None:
    with running_server(tmp_path) as platform:
        database = platform.data_dir / "arkitekt.db"
        async with arkitekt.connect(platform.url, platform.token) as client:
            first = await client.api.register_agent(input=catalogue(segment=segment, other=other))
            # data_version changes whenever another connection commits to the database.
            watcher = sqlite3.connect(database)
            version = watcher.execute("PRAGMA data_version").fetchone()[0]

            again = await client.api.register_agent(input=catalogue(segment=segment, other=other))
            assert again.model_dump() == first.model_dump()
            assert watcher.execute("PRAGMA data_version").fetchone()[0] == version  # no commit

            changed = await client.api.register_agent(
                input=catalogue(segment=segment_changed, other=other)
            )
            assert watcher.execute("PRAGMA data_version").fetchone()[0] != version
            watcher.close()

            old_hash = arkitekt.node_of(segment).hash
            new_hash = arkitekt.node_of(segment_changed, name="segment").hash
            assert old_hash != new_hash
            by_interface = {i.interface: i for i in changed.implementations}
            assert by_interface["segment"].node.hash == new_hash
            kept = {i.interface: i.id for i in first.implementations}["other"]
            assert by_interface["other"].id == kept  # unchanged functions keep theirs
            assert await implementations(client, old_hash) == []  # retired
            assert await implementations(client, new_hash) == [by_interface["segment"].id]


async def implementations(client: arkitekt.Client, node_hash: str) -> list[str]:
    """The ids of a node's active implementations, connected or not."""
    query = "query ($hash: String) { node(hash: $hash) { implementations { id } } }"
    data = await client.api.transport.execute(query, None, {"hash": node_hash})
    return [i["id"] for i in data["node"]["implementations"]]


async def test_an_older_version_is_superseded_once_every_app_serving_it_moved_on(
    tmp_path: Path,
) -> None:
    v1, v2 = arkitekt.node_of(segment).hash, arkitekt.node_of(segment_changed, name="segment").hash

    def offer(app: str, instance: str, version: Callable[..., object]) -> AgentInput:
        return catalogue(segment=version).model_copy(update={"name": app, "instance": instance})

    with running_server(tmp_path) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:

            async def superseded() -> dict[str, bool]:
                found = await client.api.nodes(name="segment")
                return {node.hash: node.superseded for node in found}

            await client.api.register_agent(input=offer("lab", "lab-1", segment))
            await client.api.register_agent(input=offer("tools", "tools-1", segment))
            await client.api.register_agent(input=offer("lab", "lab-2", segment_changed))
            assert await superseded() == {v1: False, v2: False}, "tools still offers v1"

            await client.api.register_agent(input=offer("tools", "tools-1", segment_changed))
            assert await superseded() == {v1: True, v2: False}
            # No instance is live: a call by name waits for the current version, not v1.
            queued = await client.assign("segment", threshold=0.5)
            assert queued.node.hash == v2
            await queued.cancel()
            listed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "arkitekt", "nodes", "segment"],
                env={**os.environ, "ARKITEKT_URL": platform.url, "ARKITEKT_TOKEN": platform.token},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert [line.split()[-1] for line in listed.stdout.splitlines()[1:]] == [v2[:12]]
            assert "1 older version not shown; --all shows them" in listed.stderr

            # Going back to v1 in one app makes it current again there.
            await client.api.register_agent(input=offer("lab", "lab-2", segment))
            assert await superseded() == {v1: False, v2: False}
            with pytest.raises(arkitekt.TargetError, match="'segment' names 2 nodes"):
                await client.assign("segment", threshold=0.5)


async def test_the_latest_start_of_an_app_decides_which_version_is_current(
    tmp_path: Path,
) -> None:
    v1, v2 = arkitekt.node_of(segment).hash, arkitekt.node_of(segment_changed, name="segment").hash

    def start(instance: str, version: Callable[..., object], session: str) -> AgentInput:
        return catalogue(segment=version).model_copy(
            update={"instance": instance, "session": session}
        )

    with running_server(tmp_path) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:

            async def superseded() -> dict[str, bool]:
                return {n.hash: n.superseded for n in await client.api.nodes(name="segment")}

            await client.api.register_agent(input=start("lab-1", segment, "1"))
            await client.api.register_agent(input=start("lab-2", segment_changed, "1"))
            assert await superseded() == {v1: True, v2: False}
            # lab-1's process starts again, its code unchanged: what it serves is current.
            await client.api.register_agent(input=start("lab-1", segment, "2"))
            assert await superseded() == {v1: False, v2: True}
            await client.api.register_agent(input=start("lab-1", segment, "2"))  # a reconnect
            assert await superseded() == {v1: False, v2: True}


async def test_a_listing_asks_whether_its_nodes_are_superseded_in_one_query(
    tmp_path: Path,
) -> None:
    def numbered(n: int) -> Callable[..., object]:
        def f(x: int) -> int:
            return x + n

        f.__doc__ = f"Add {n}."
        return f

    many = {f"add_{n}": numbered(n) for n in range(30)}
    with running_server(tmp_path) as platform:
        statements: list[str] = []
        engine = platform._platform.db.engine
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with arkitekt.connect(platform.url, platform.token) as client:
            await client.api.register_agent(input=catalogue(**many))
            statements.clear()
            listed = await client.api.nodes(limit=100)
    assert len(listed) == 30
    assert not any(node.superseded for node in listed)
    asked = [s for s in statements if "newer" in s]
    assert len(asked) == 1, f"{len(asked)} queries for 30 nodes"


async def test_a_call_queued_for_a_version_no_agent_offers_any_more_ends_and_says_why(
    tmp_path: Path,
) -> None:
    def offer(instance: str, version: Callable[..., object]) -> AgentInput:
        return catalogue(segment=version).model_copy(update={"name": "lab", "instance": instance})

    with running_server(tmp_path) as platform:
        async with arkitekt.connect(platform.url, platform.token) as client:
            await client.api.register_agent(input=offer("lab-1", segment))
            await client.api.register_agent(input=offer("lab-2", segment))
            queued = await client.assign(segment, threshold=0.5)  # no instance is live
            assert queued.queued

            await client.api.register_agent(input=offer("lab-1", segment_changed))
            stored = await client.api.get_assignation(id=queued.id)
            assert stored is not None
            assert stored.status is AssignationStatus.QUEUED, "lab-2 offers it still"

            await client.api.register_agent(input=offer("lab-2", segment_changed))
            with pytest.raises(arkitekt.AssignationCancelledError, match="Call it again"):
                async with asyncio.timeout(10):
                    await queued.result()
