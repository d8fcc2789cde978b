"""Reloading an app: `Reloader` re-imports it with its local modules, `Agent.update` swaps
what a running agent serves without a new agent appearing."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import arkitekt
from arkitekt.api.enums import AgentStatus, AssignationEventKind
from arkitekt.runtime.apps import AppError
from arkitekt.runtime.caller import Event
from arkitekt.runtime.reloader import Changes, Reloader


def registry_of(prefix: str, **functions: Callable[..., Any]) -> arkitekt.Registry:
    registry = arkitekt.Registry()
    for name, function in functions.items():
        registry.add(function, name=f"{prefix}_{name}")
    return registry


def keep(x: int) -> int:
    return x


def change_v1(x: int) -> int:
    return x + 1


def change_v2(x: int, y: int = 100) -> int:
    return x + y


async def live_implementations(client: arkitekt.Client, name: str) -> dict[str, int]:
    return {node.hash: len(node.implementations) for node in await client.api.nodes(name=name)}


async def until_started(events: AsyncIterator[Event]) -> None:
    async for event in events:
        if event.kind is AssignationEventKind.PROGRESS:
            return


async def test_a_hundred_updates_keep_one_agent_and_unchanged_nodes(
    client: arkitekt.Client,
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    first = registry_of(prefix, keep=keep, change=change_v1)
    second = registry_of(prefix, keep=keep, change=change_v2)
    async with arkitekt.Agent(client, first, name=prefix) as agent:
        kept = await client.node(f"{prefix}_keep")
        for n in range(100):
            await agent.update(second if n % 2 == 0 else first)
        assert agent.registry is first
        # Nodes as targets: by hash, so that each call names the version it expects.
        assert await client.call(first[f"{prefix}_change"].node, x=1) == 2

        await agent.update(second)
        assert await client.call(second[f"{prefix}_change"].node, x=1) == 101
        assert (await client.node(f"{prefix}_keep")).id == kept.id
        live = await live_implementations(client, f"{prefix}_change")
        assert sorted(live.values()) == [0, 1], "the old version is retired, the new one live"

        mine = [a for a in await client.api.agents() if a.name == prefix]
        assert [(a.id, a.status) for a in mine] == [(agent.id, AgentStatus.CONNECTED)]


async def test_update_can_cancel_running_calls_and_says_why(client: arkitekt.Client) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    release = asyncio.Event()

    async def hold() -> str:
        arkitekt.progress(0, "started")
        await release.wait()
        return "finished"

    registry = registry_of(prefix, hold=hold)
    async with arkitekt.Agent(client, registry, name=prefix) as agent:
        finishing = await client.assign(f"{prefix}_hold")
        events = finishing.events()
        await until_started(events)
        assert await agent.update(registry_of(prefix, hold=hold)) == 0
        release.set()
        assert [e.kind async for e in events][-1] is AssignationEventKind.DONE

        release.clear()
        cancelled = await client.assign(f"{prefix}_hold")
        events = cancelled.events()
        await until_started(events)
        assert await agent.update(registry, cancel_running=True) == 1
        rest = [event async for event in events]
        assert rest[-1].kind is AssignationEventKind.CANCELLED
        logs = [e.message for e in rest if e.kind is AssignationEventKind.LOG]
        assert logs == ["The app was reloaded: cancelling this call."]


def test_changes_compare_nodes_by_interface() -> None:
    old = registry_of("c", keep=keep, change=change_v1, gone=keep)
    new = registry_of("c", keep=keep, change=change_v2, fresh=change_v1)
    assert Changes.between(old, new) == Changes(
        added=("c_fresh",), changed=("c_change",), removed=("c_gone",), unchanged=("c_keep",)
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app importing a local helper module (with a unique name: modules are global)."""
    helper = f"helper_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{helper}.py").write_text("VALUE = 1\n")
    path = tmp_path / "app.py"
    path.write_text(
        f"import json\nfrom arkitekt import register\nimport {helper}\n\n"
        "@register\ndef value() -> int:\n    return " + f"{helper}.VALUE\n"
    )
    return path


def helper_of(app: Path) -> Path:
    return next(p for p in app.parent.glob("helper_*.py"))


def test_reloading_imports_local_modules_afresh(app: Path) -> None:
    reloader = Reloader(app)
    assert reloader.load()["value"].function() == 1
    helper = helper_of(app)
    assert reloader.files == {app.resolve(), helper.resolve()}, "json is not local"

    # Same size, and likely the same second: cached bytecode must not hide the edit.
    stat = helper.stat()
    helper.write_text("VALUE = 2\n")
    os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert reloader.load()["value"].function() == 2


def test_a_failed_load_keeps_watching_the_local_modules(app: Path) -> None:
    reloader = Reloader(app)
    reloader.load()
    good = app.read_text()
    app.write_text("def broken(:\n")
    with pytest.raises(AppError, match="SyntaxError"):
        reloader.load()
    assert helper_of(app).resolve() in reloader.files
    app.write_text(good)
    assert len(reloader.load()) == 1
    assert helper_of(app).stem in sys.modules


async def test_changes_reports_an_edited_local_module(app: Path) -> None:
    reloader = Reloader(app)
    reloader.load()
    changes = reloader.changes()
    waiting = asyncio.ensure_future(anext(changes))
    try:
        # The watcher starts in a thread; edit until it reports (each edit is a new change).
        async with asyncio.timeout(10):
            while not waiting.done():
                helper_of(app).write_text("VALUE = 3\n")
                await asyncio.wait({waiting}, timeout=0.2)
        assert await waiting == {helper_of(app).resolve()}
    finally:
        reloader.close()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await changes.aclose()
