"""`@startup`: what an app opens once before it serves, and closes when it stops or reloads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import arkitekt
from arkitekt import Registry, StartupError
from arkitekt.runtime.apps import AppError, load_app
from arkitekt.runtime.startups import unchanged
from arkitekt.testing import serving, started

journal: list[str] = []


class Scope:
    """A device that may be open once at a time, as a microscope's driver is."""

    opened = 0

    def __init__(self, label: str) -> None:
        assert Scope.opened == 0, "opened twice"
        Scope.opened += 1
        self.label = label
        journal.append(f"open {label}")

    def close(self) -> None:
        Scope.opened -= 1
        journal.append(f"close {self.label}")


def scope_startup(label: str) -> arkitekt.Startup[Scope]:
    async def microscope() -> AsyncIterator[Scope]:
        scope = Scope(label)
        yield scope
        scope.close()

    return arkitekt.Startup(microscope)  # not @startup: that records it for `arkitekt run`


@pytest.fixture(autouse=True)
def fresh() -> None:
    journal.clear()
    Scope.opened = 0


hold = asyncio.Event()


async def test_startups_run_before_the_first_call_and_close_after_the_last(
    client: arkitekt.Client,
) -> None:
    microscope = scope_startup("v1")

    async def snap_v1(wait: bool) -> str:
        if wait:
            await hold.wait()
        journal.append("snapped")
        return microscope().label

    hold.clear()
    async with serving(client, snap_v1, microscope) as agent:
        assert journal == ["open v1"]
        assert await client.call(snap_v1, wait=False) == "v1"
        running = await client.assign(snap_v1, wait=True)
        closing = asyncio.create_task(agent.close())
        await asyncio.sleep(0.2)
        assert journal == ["open v1", "snapped"], "still open while a call runs"
        hold.set()
        await closing
        assert await running.result() == "v1"
    assert journal == ["open v1", "snapped", "snapped", "close v1"]
    with pytest.raises(StartupError, match=r"microscope\(\) is not started"):
        microscope()
    with pytest.raises(AttributeError, match=r"a startup, not what it produced: .*\(\)\.label"):
        microscope.label  # noqa: B018 (forgot to call it)


async def test_every_kind_of_startup_gives_its_value_and_tears_down_in_reverse() -> None:
    threads: set[int] = set()

    def plain() -> str:
        threads.add(threading.get_ident())
        return "plain"

    async def coroutine() -> str:
        return "coroutine"

    def generator() -> Iterator[str]:
        threads.add(threading.get_ident())
        journal.append("open generator")
        yield "generator"
        journal.append("close generator")

    async def async_generator() -> AsyncIterator[str]:
        journal.append("open async_generator")
        yield "async_generator"
        journal.append("close async_generator")

    handles = [arkitekt.Startup(f) for f in (plain, coroutine, generator, async_generator)]
    async with started(*handles):
        assert [handle() for handle in handles] == [
            "plain",
            "coroutine",
            "generator",
            "async_generator",
        ]
    assert journal == [
        "open generator",
        "open async_generator",
        "close async_generator",
        "close generator",
    ]
    assert threading.get_ident() not in threads, "sync startups run off the loop"


async def test_a_failing_startup_keeps_the_app_from_serving_and_closes_the_others(
    client: arkitekt.Client,
) -> None:
    microscope = scope_startup("v1")

    def camera() -> None:
        raise ConnectionError("no camera on COM3")

    def snap_never() -> int:
        return 1

    broken = arkitekt.Startup(camera)
    with pytest.raises(StartupError, match="startup camera failed: ConnectionError") as failed:
        async with serving(client, snap_never, microscope, broken, name="never-served"):
            pass
    assert journal == ["open v1", "close v1"]
    assert 'in camera\n    raise ConnectionError("no camera on COM3")' in failed.value.traceback
    assert "arkitekt/runtime" not in failed.value.traceback, "only the startup's own frames"
    assert not [a for a in await client.api.agents() if a.name == "never-served"]
    with pytest.raises(StartupError, match=r"its startup failed with ConnectionError"):
        broken()


def make_version(label: str, *, fails: bool = False) -> Registry:
    """A version of an app: its startup opens the scope, its function says which one."""
    registry = Registry()

    async def microscope() -> AsyncIterator[Scope]:
        if fails:
            raise ConnectionError(f"{label} cannot connect")
        scope = Scope(label)
        yield scope
        scope.close()

    handle = arkitekt.Startup[Scope](microscope)
    registry.startups.append(handle)

    async def snap_versions(wait: bool) -> str:
        if wait:
            await hold.wait()
        return handle().label

    registry.add(snap_versions)
    return registry


async def test_a_new_version_closes_the_old_startups_once_their_calls_end(
    client: arkitekt.Client,
) -> None:
    hold.clear()
    async with arkitekt.Agent(client, make_version("v1"), name="versions") as agent:
        running = await client.assign("snap_versions", wait=True)
        await asyncio.sleep(0.1)
        update = asyncio.create_task(agent.update(make_version("v2")))
        arrived = await client.assign("snap_versions", wait=False)  # during the swap
        await asyncio.sleep(0.2)
        assert not update.done(), "waits for the running call"
        assert journal == ["open v1"]
        hold.set()
        assert await update == 0
        assert await running.result() == "v1"
        assert await arrived.result() == "v2", "what arrived meanwhile runs on the new version"
        assert journal == ["open v1", "close v1", "open v2"]

        # A version that does not start: the previous one serves again.
        with pytest.raises(StartupError, match="v3 cannot connect"):
            await agent.update(make_version("v3", fails=True))
        assert agent.started
        assert await client.call("snap_versions", wait=False) == "v2"
    assert journal == ["open v1", "close v1", "open v2", "close v2", "open v2", "close v2"]


def test_an_app_file_records_its_startups_and_refuses_one_that_takes_arguments(
    tmp_path: Path,
) -> None:
    app = tmp_path / "scope_app.py"
    app.write_text(
        "from arkitekt import register, startup\n"
        "@startup\n"
        "def model() -> int:\n"
        "    return 1\n"
        "@register\n"
        "def predict() -> int:\n"
        "    return model()\n"
    )
    registry = load_app(app)
    assert [s.name for s in registry.startups] == ["model"]

    app.write_text(
        "from arkitekt import register, startup\n"
        "@startup\n"
        "def model(path: str) -> int:\n"
        "    return 1\n"
    )
    with pytest.raises(AppError, match="model: a startup takes no arguments, and path has no"):
        load_app(app)


def load(source: str, namespace: dict[str, Any] | None = None) -> arkitekt.Startup[Any]:
    """A version of an app module, loaded afresh as `arkitekt dev` loads it."""
    namespace = {} if namespace is None else namespace
    exec(compile(source, "app.py", "exec"), namespace)
    return arkitekt.Startup(namespace["model"])


MODEL = """
import json
from pathlib import Path

WEIGHTS = Path("/data/weights-{version}.pt")
{extra}

def model():
    return json.dumps(str(WEIGHTS)){call}
"""


PLAIN = {"version": "1", "extra": "", "call": ""}
WITH_CLASS = {"version": "1", "extra": "class Net: ...", "call": " and Net"}
HELPER = """
LIMIT = {limit}
def read(path, depth=2):
    return str(path)[:LIMIT] if depth == 0 else read(path, depth - 1){edit}
"""
WITH_HELPER = {"version": "1", "extra": HELPER.format(limit=9, edit=""), "call": " + read(WEIGHTS)"}
OTHER_STARTUP = """
import arkitekt
def _config():
    return {{"threads": {threads}}}
config = arkitekt.Startup(_config)
"""
MODULE = """
import types
utils = types.ModuleType("utils")  # a local module, which each reload imports anew
utils.utils = utils
exec("def read(path):\\n    return str(path){edit}", utils.__dict__)
"""
WITH_MODULE = {
    "version": "1",
    "extra": MODULE.format(edit=""),
    "call": " + utils.utils.read(WEIGHTS)",
}
WITH_STARTUP = {"version": "1", "extra": OTHER_STARTUP.format(threads=4), "call": " + config()"}


@pytest.mark.parametrize(
    ("before", "after", "kept"),
    [
        (PLAIN, PLAIN, True),  # the app's functions changed, not the startup
        (PLAIN, PLAIN | {"extra": "\n\n# moved down"}, True),  # an edit above it
        (PLAIN, PLAIN | {"version": "2"}, False),  # a constant it reads
        (PLAIN, PLAIN | {"call": " + 'x'"}, False),  # its own code
        (WITH_CLASS, WITH_CLASS, False),  # a class of the app's, which the reload defined anew
        (WITH_HELPER, WITH_HELPER, True),  # a helper of the app's, calling itself
        (WITH_HELPER, WITH_HELPER | {"extra": HELPER.format(limit=9, edit=" + '/'")}, False),
        (WITH_HELPER, WITH_HELPER | {"extra": HELPER.format(limit=8, edit="")}, False),
        (WITH_MODULE, WITH_MODULE, True),  # a helper in a local module, reached through it
        (WITH_MODULE, WITH_MODULE | {"extra": MODULE.format(edit=".upper()")}, False),
        (WITH_STARTUP, WITH_STARTUP, True),  # another startup, unchanged
        (WITH_STARTUP, WITH_STARTUP | {"extra": OTHER_STARTUP.format(threads=8)}, False),
    ],
    ids=[
        *["unchanged", "moved", "constant", "code", "class"],
        *["helper", "helper's code", "helper's constant", "module", "module's code"],
        *["startup", "startup's code"],
    ],
)
def test_a_reload_keeps_a_startup_only_when_nothing_it_uses_changed(
    before: dict[str, str], after: dict[str, str], kept: bool
) -> None:
    assert unchanged([load(MODEL.format(**before))], [load(MODEL.format(**after))]) is kept


def test_a_startup_defined_again_in_one_namespace_runs_again() -> None:
    notebook: dict[str, Any] = {}
    source = MODEL.format(version="1", extra="", call="")
    assert not unchanged([load(source, notebook)], [load(source, notebook)])
