"""`arkitekt dev`: edit a running app and watch the platform follow, on the same agent."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import arkitekt
from arkitekt.api.enums import AgentStatus, AssignationEventKind
from arkitekt.testing import RunningPlatform

from .processes import Process
from .processes import arkitekt as arkitekt_command

APP = '''
import asyncio
import os

import arkitekt
from arkitekt import register
from {helper} import bonus


@register
def {p}_keep(x: int) -> int:
    """Keeps its node: only its helper changes."""
    return x + bonus()


@register
def {p}_change(x: int) -> int:
    """Gets a new node."""
    return x


@register
async def {p}_hold(release: str) -> str:
    """Runs until the file `release` exists."""
    arkitekt.progress(0, "started")
    while not os.path.exists(release):
        await asyncio.sleep(0.02)
    return "{version}"
'''
ADDED = """

@register
def {p}_new() -> str:
    return "new"
"""


class App:
    """An app file (and its helper module) in a folder, named uniquely for this test."""

    def __init__(self, folder: Path) -> None:
        self.prefix = f"d{uuid.uuid4().hex[:8]}"
        self.helper = folder / f"helper_{self.prefix}.py"
        self.path = folder / "app.py"
        self.helper.write_text("def bonus() -> int:\n    return 1\n")
        self.write()

    def write(self, version: str = "v1", *, extra: str = "", change: bool = False) -> None:
        text = APP.format(p=self.prefix, helper=self.helper.stem, version=version) + extra
        if change:
            text = text.replace(
                f"def {self.prefix}_change(x: int)",
                f"def {self.prefix}_change(x: int, y: int = 10)",
            )
            text = text.replace("    return x\n", "    return x + y\n")
        self.path.write_text(text)

    def name(self, function: str) -> str:
        return f"{self.prefix}_{function}"


def start(app: App, env: dict[str, str], processes: list[Process], *options: str) -> Process:
    dev = Process("dev", str(app.path), "--name", app.prefix, *options, env=env)
    processes.append(dev)
    dev.wait_for(r"serving 3 functions")
    return dev


def test_an_edit_changes_only_the_edited_functions_on_the_same_agent(
    server: RunningPlatform, tmp_path: Path, env: dict[str, str], processes: list[Process]
) -> None:
    app = App(tmp_path)
    dev = start(app, env, processes)
    with arkitekt.connect(server.url, server.token) as client:
        keep = client.node(app.name("keep"))
        assert client.call(keep, x=1) == 2
        dev.wait_for(rf"^\d\d:\d\d:\d\d {app.name('keep')} done in \d+ ms$")  # each call
        client.run(client.aio.api.assign(node=keep.id, args={"x": "one"}))  # unchecked
        dev.wait_for(rf"{app.name('keep')} failed: ArgumentError: x: expected an int")

        app.write(extra=ADDED.format(p=app.prefix), change=True)
        line = dev.wait_for(r"reloaded app\.py: (.*)").group(1)
        assert line == f"added {app.name('new')}; changed {app.name('change')}; kept 2 nodes"
        assert client.call(app.name("new")) == "new"
        assert client.call(app.name("change"), x=1) == 11
        assert client.node(app.name("keep")).id == keep.id
        versions = client.run(client.aio.api.nodes(name=app.name("change")))
        assert sorted(len(node.implementations) for node in versions) == [0, 1]

        # A local module: same nodes, new code.
        app.helper.write_text("def bonus() -> int:\n    return 5\n")
        dev.wait_for(rf"reloaded {app.helper.name}: kept 4 nodes")
        assert client.call(keep, x=1) == 6

        # A broken edit: reported, and the previous version keeps serving.
        app.path.write_text(app.path.read_text() + "\ndef broken(x: list[int]:\n")
        dev.wait_for(r"cannot load the app: app\.py failed to import: SyntaxError")
        dev.wait_for(r"^  def broken\(x: list\[int\]:$")  # the line as written
        dev.wait_for(r"still serving the previous version")
        assert client.call(keep, x=1) == 6
        assert client.call(app.name("new")) == "new"

        app.write(version="v2")
        dev.wait_for(rf"reloaded app\.py: changed {app.name('change')}; removed {app.name('new')}")
        removed = client.run(client.aio.api.nodes(name=app.name("new")))
        assert [len(node.implementations) for node in removed] == [0]

        agents = [a for a in client.run(client.aio.api.agents()) if a.name == app.prefix]
        assert [a.status for a in agents] == [AgentStatus.CONNECTED], "one agent, reloaded"

    assert dev.interrupt() == 130


@pytest.mark.parametrize("cancel", [False, True], ids=["finish", "cancel"])
def test_running_calls_finish_on_their_code_or_are_cancelled(
    cancel: bool,
    server: RunningPlatform,
    tmp_path: Path,
    env: dict[str, str],
    processes: list[Process],
) -> None:
    app = App(tmp_path)
    dev = start(app, env, processes, *(["--cancel-running"] if cancel else []))
    release = tmp_path / "release"
    with arkitekt.connect(server.url, server.token) as client:
        assignation = client.run(client.aio.assign(app.name("hold"), release=str(release)))
        events = client.iterate(assignation.events())
        assert any(event.kind is AssignationEventKind.PROGRESS for event in events)

        app.write(version="v2")
        dev.wait_for(r"reloaded app\.py")
        release.touch()
        rest = list(events)
        if cancel:
            dev.wait_for(r"cancelled 1 running calls")
            assert rest[-1].kind is AssignationEventKind.CANCELLED
            logs = [e.message for e in rest if e.kind is AssignationEventKind.LOG]
            assert logs == ["The app was reloaded: cancelling this call."]
        else:
            assert [e.yields for e in rest if e.kind is AssignationEventKind.YIELD] == [("v1",)]
            assert rest[-1].kind is AssignationEventKind.DONE
            assert client.call(app.name("hold"), release=str(release)) == "v2"


def test_an_app_that_fails_at_first_is_served_once_fixed(
    server: RunningPlatform, tmp_path: Path, env: dict[str, str], processes: list[Process]
) -> None:
    app = App(tmp_path)
    good = app.path.read_text()
    app.path.write_text(
        good.replace("from arkitekt import register", "from arkitekt import regster")
    )
    dev = Process("dev", str(app.path), "--name", app.prefix, env=env)
    processes.append(dev)
    dev.wait_for(r"cannot load the app: app\.py failed to import: ImportError")
    dev.wait_for(r"waiting for a change")
    app.path.write_text(good)
    dev.wait_for(r"serving 3 functions")
    with arkitekt.connect(server.url, server.token) as client:
        assert client.call(client.node(app.name("keep")), x=1) == 2


SCOPE_APP = '''
import os
from collections.abc import Iterator

from arkitekt import register, startup

LOCK = {lock!r}


@startup
def microscope() -> Iterator[int]:
    """Opens the scope: a lock file that a second opening finds taken."""
    descriptor = os.open(LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    print("opened {version}", flush=True)
    yield descriptor
    os.close(descriptor)
    os.unlink(LOCK)
    print("closed {version}", flush=True)


@register
def {name}() -> str:
    """Which version holds the scope."""
    microscope()
    return "{version}"
'''


def test_startups_run_once_per_version_and_a_failing_one_keeps_the_previous(
    server: RunningPlatform, tmp_path: Path, env: dict[str, str], processes: list[Process]
) -> None:
    name, lock, path = f"scope_{uuid.uuid4().hex[:8]}", tmp_path / "scope.lock", tmp_path / "s.py"

    def write(version: str, fails: bool = False) -> None:
        text = SCOPE_APP.format(lock=str(lock), version=version, name=name)
        if fails:
            text = text.replace(
                "    descriptor =", "    raise ConnectionError('no scope')\n    d ="
            )
        path.write_text(text)

    write("v1", fails=True)
    dev = Process("dev", str(path), env=env)
    processes.append(dev)
    dev.wait_for(r"startup microscope failed: ConnectionError: no scope")
    dev.wait_for(r"waiting for a change")
    write("v1")
    dev.wait_for(r"^\d\d:\d\d:\d\d starting microscope$")  # what it waits on, said
    dev.wait_for(r"opened v1")
    dev.wait_for(r"^\d\d:\d\d:\d\d started microscope in \d+\.\d s$")
    dev.wait_for(r"serving 1 function")
    with arkitekt.connect(server.url, server.token) as client:
        assert client.call(name) == "v1"
        write("v2")
        dev.wait_for(r"closed v1")  # before v2 opens: the scope is never opened twice
        dev.wait_for(r"opened v2")
        dev.wait_for(r"reloaded s\.py: kept 1 nodes")
        assert client.call(name) == "v2"

        write("v3", fails=True)
        dev.wait_for(r"closed v2")
        dev.wait_for(r"opened v2")  # v3 failed to start: v2 serves again
        dev.wait_for(r"^  File .*s\.py\", line \d+, in microscope$")  # where v3 failed
        dev.wait_for(r"startup microscope failed: ConnectionError: no scope")
        dev.wait_for(r"still serving the previous version")
        assert client.call(name) == "v2"
    assert dev.interrupt() == 130
    dev.wait_for(r"closed v2")  # stopping closes it too
    assert not lock.exists()


def test_run_stops_when_a_startup_fails_and_says_where(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "s.py"
    text = SCOPE_APP.format(lock=str(tmp_path / "l"), version="v1", name="scope_never")
    path.write_text(
        text.replace("    descriptor =", "    raise ConnectionError('no scope')\n    d =")
    )
    result = arkitekt_command("run", str(path), env=env)
    assert result.returncode == 1
    assert "in microscope\n    raise ConnectionError('no scope')" in result.stderr
    assert "startup microscope failed: ConnectionError: no scope" in result.stderr
    assert "fix the startup and start the app again" in result.stderr


KEPT_APP = '''
from collections.abc import Iterator

from arkitekt import register, startup

WEIGHTS = {weights!r}


@startup
def model() -> Iterator[str]:
    print("loaded", WEIGHTS, flush=True)
    yield WEIGHTS
    print("unloaded", WEIGHTS, flush=True)


@register
def {name}() -> str:
    """What the model holds."""
    return model() + "{suffix}"
'''


def test_a_startup_that_an_edit_left_as_it_was_keeps_running(
    server: RunningPlatform, tmp_path: Path, env: dict[str, str], processes: list[Process]
) -> None:
    name, path = f"kept_{uuid.uuid4().hex[:8]}", tmp_path / "kept.py"
    path.write_text(KEPT_APP.format(weights="a", suffix="!", name=name))
    dev = Process("dev", str(path), env=env)
    processes.append(dev)
    dev.wait_for(r"serving 1 function")
    with arkitekt.connect(server.url, server.token) as client:
        assert client.call(name) == "a!"
        path.write_text(KEPT_APP.format(weights="a", suffix="?", name=name))  # the function
        dev.wait_for(r"reloaded kept\.py: kept 1 nodes")
        assert client.call(name) == "a?"
        assert [line for line in dev.lines if line.startswith(("loaded", "unloaded"))] == [
            "loaded a\n"
        ]

        path.write_text(KEPT_APP.format(weights="b", suffix="?", name=name))  # what it uses
        dev.wait_for(r"reloaded kept\.py: kept 1 nodes")
        assert client.call(name) == "b?"
        assert [line for line in dev.lines if line.startswith(("loaded", "unloaded"))] == [
            "loaded a\n",
            "unloaded a\n",
            "loaded b\n",
        ]
