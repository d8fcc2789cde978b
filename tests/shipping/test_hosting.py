"""Shipping an app: published, run by `arkitekt host` in a process of its own, started
again after a crash, upgraded without one failed call, and undeployed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import signal
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

import arkitekt
from arkitekt.api.enums import DeploymentStatus, Scope
from arkitekt.testing import RunningPlatform
from tests.cli.processes import arkitekt as run
from tests.processes import Process

from .apps import CACHE, V2, make_app

STARTED_V2 = re.compile(r"0\.2\.0: started \(pid (\d+)\)")


@pytest.fixture
def env(server: RunningPlatform, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ARKITEKT_URL": server.url,
        "ARKITEKT_TOKEN": server.token,
        "ARKITEKT_CONFIG": str(tmp_path / "config.json"),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


def ok(*args: str, env: dict[str, str]) -> str:
    done = run(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def calls_until(
    stop: asyncio.Event, client: arkitekt.Client
) -> tuple[int, list[BaseException]]:
    """Calls `shout` over and over until `stop`; returns how many and what failed."""
    count, failures = 0, []
    while not stop.is_set():
        try:
            async with asyncio.timeout(30):
                assert await client.call("shout", text="hi") == "HI!"
            count += 1
        except Exception as error:
            failures.append(error)
    return count, failures


@pytest.mark.timeout(900)
async def test_a_host_runs_restarts_upgrades_and_stops_a_release(
    client: arkitekt.Client, env: dict[str, str], tmp_path: Path
) -> None:
    name = f"greeter-{uuid.uuid4().hex[:6]}"
    folder, marker = tmp_path / name, uuid.uuid4().hex
    make_app(folder, marker=marker)
    published = ok("publish", str(folder), env=env)
    assert f"published {name} 0.1.0 (1 functions)" in published

    (release,) = await client.api.releases(app=name)
    assert [f.interface for f in release.functions] == ["shout"]  # before it runs anywhere

    host_name = f"pc-{uuid.uuid4().hex[:6]}"
    host_token = (await client.api.create_token(name=host_name, scopes=[Scope.HOST])).secret

    def start_host() -> Process:
        return Process(
            *("-m", "arkitekt", "host", "--name", host_name, "--grace", "20"),
            *("--data-dir", str(tmp_path / "host"), "--cache-dir", str(CACHE / "host")),
            env={**env, "ARKITEKT_TOKEN": host_token},
        )

    host = start_host()
    hosts = [host]
    try:
        host.wait_for(rf"host {host_name} on ")
        ok("deploy", name, "--host", host_name, env=env)
        pid = int(host.wait_for(rf"{name} 0.1.0: started \(pid (\d+)\)", timeout=600)[1])
        host.wait_for(rf"{name} 0.1.0: serving", timeout=60)
        assert await client.call("shout", text="hello") == "HELLO!"
        listed = await asyncio.to_thread(ok, "deployments", "--host", host_name, env=env)
        assert re.search(rf"{name}\s+0\.1\.0\s+{host_name}\s+RUNNING\s+0", listed), listed
        hosts_listed = await asyncio.to_thread(ok, "hosts", env=env)
        assert re.search(
            rf"{host_name}\s+CONNECTED\s+{os.cpu_count()}\s.*\snow\s*$", hosts_listed, re.M
        )

        # A crash: the host starts the app again, and its function is callable again.
        os.kill(pid, signal.SIGKILL)
        host.wait_for(rf"{name} 0.1.0: exited with code -9")
        host.wait_for(rf"{name} 0.1.0: serving")
        assert await client.call("shout", text="again") == "AGAIN!"
        (deployment,) = await client.api.deployments(host=(await host_id(client, host_name)))
        assert (deployment.status, deployment.restarts) == (DeploymentStatus.RUNNING, 1)

        # An upgrade while a caller calls without a pause: not one call fails.
        make_app(folder, version="0.2.0", code=V2, marker=marker)
        stop = asyncio.Event()
        caller = asyncio.create_task(calls_until(stop, client))
        await asyncio.to_thread(ok, "publish", str(folder), env=env)
        await asyncio.to_thread(ok, "deploy", f"{name}:0.2.0", "--host", host_name, env=env)
        await asyncio.to_thread(host.wait_for, rf"{name} 0.2.0: serves; stopping", 600)
        await asyncio.to_thread(host.wait_for, rf"{name} 0.1.0: stopped", 60)
        stop.set()
        count, failures = await caller
        assert failures == []
        assert count > 0
        assert await client.call("release") == "0.2.0"
        # The old app's token was retired with it; the new app's works.
        made = [t for t in await client.api.tokens(all=True) if t.name == f"{name} on {host_name}"]
        assert sorted(t.revoked_at is None for t in made) == [False, True]

        logs = ok("logs", name, "--host", host_name, env=env)
        assert "serving 2 functions" in logs

        # The host dies without stopping its app. Started again, it stops the app left
        # behind, and starts the release anew.
        (left,) = [int(m[1]) for m in map(STARTED_V2.search, host.lines) if m]
        host.kill()
        host = start_host()
        hosts.append(host)
        host.wait_for(rf"stopped an app left running by an earlier host process \(pid {left}\)")
        host.wait_for(rf"{name} 0.2.0: serving", timeout=60)
        assert await client.call("shout", text="back") == "BACK!"
        await asyncio.to_thread(wait_gone, left)

        ok("undeploy", name, "--host", host_name, env=env)
        host.wait_for(rf"{name} 0.2.0: undeployed")
        (stopped,) = [d for d in await client.api.deployments(all=True) if d.app == name]
        assert stopped.status is DeploymentStatus.STOPPED
    finally:
        for started in hosts:
            started.stop()
        stop_apps(hosts)


def stop_apps(hosts: list[Process]) -> None:
    """Apps a killed host left behind, when the test ended before a host stopped them."""
    for host in hosts:
        for pid in map(int, re.findall(r"started \(pid (\d+)\)", host.output())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    """Until the process has exited (a pidfd turns readable then, child of ours or not)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        assert readable, f"process {pid} is still running"
    finally:
        os.close(descriptor)


async def host_id(client: arkitekt.Client, name: str) -> str:
    found = await client.api.get_host(name=name)
    assert found is not None
    return found.id


@pytest.mark.parametrize("count", [1, 2])
def test_a_host_reads_the_line_an_app_prints_when_it_serves(
    count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from arkitekt.cli.output import print_serving
    from arkitekt.runtime.host import SERVING

    def double(x: int) -> int:
        return 2 * x

    registry = arkitekt.Registry()
    for name in ("one", "two")[:count]:
        registry.add(double, name=name)
    agent = SimpleNamespace(name="lab", id="0123abcd")  # what the line says of an agent
    print_serving(agent, registry, "http://127.0.0.1:1")  # type: ignore[arg-type]
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"serving {count} function{'s' if count > 1 else ''} of lab")
    found = SERVING.search(line)
    assert found is not None, line
    assert found["agent"] == "0123abcd"


EXCLUSIVE = """
import os
from collections.abc import Iterator

from arkitekt import register, startup


@startup
def stage() -> Iterator[int]:
    \"\"\"A device that opens once at a time: a second opening fails while one holds it.\"\"\"
    descriptor = os.open({lock!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    yield descriptor
    os.close(descriptor)
    os.unlink({lock!r})


@register
def shout(text: str) -> str:
    \"\"\"Shout it ({{marker}}).\"\"\"
    stage()
    return text.upper() + "{suffix}"
"""


@pytest.mark.timeout(900)
async def test_an_upgrade_that_cannot_start_beside_the_old_app_starts_alone(
    client: arkitekt.Client, env: dict[str, str], tmp_path: Path
) -> None:
    name, lock = f"stage-{uuid.uuid4().hex[:6]}", str(tmp_path / "stage.lock")
    folder, marker = tmp_path / name, uuid.uuid4().hex
    make_app(folder, code=EXCLUSIVE.format(lock=lock, suffix="!"), marker=marker)
    ok("publish", str(folder), env=env)
    host_name = f"pc-{uuid.uuid4().hex[:6]}"
    host_token = (await client.api.create_token(name=host_name, scopes=[Scope.HOST])).secret
    host = Process(
        *("-m", "arkitekt", "host", "--name", host_name, "--grace", "20"),
        *("--data-dir", str(tmp_path / "host"), "--cache-dir", str(CACHE / "host")),
        env={**env, "ARKITEKT_TOKEN": host_token},
    )
    try:
        host.wait_for(rf"host {host_name} on ")
        ok("deploy", name, "--host", host_name, env=env)
        host.wait_for(rf"{name} 0.1.0: serving", timeout=600)
        assert await client.call("shout", text="hi") == "HI!"

        make_app(
            folder, version="0.2.0", code=EXCLUSIVE.format(lock=lock, suffix="!!"), marker=marker
        )
        await asyncio.to_thread(ok, "publish", str(folder), env=env)
        await asyncio.to_thread(ok, "deploy", f"{name}:0.2.0", "--host", host_name, env=env)
        await asyncio.to_thread(
            host.wait_for,
            rf"{name} 0.2.0: its startup failed while {name} 0.1.0 runs; stopping {name} 0.1.0",
            600,
        )
        await asyncio.to_thread(host.wait_for, rf"{name} 0.1.0: stopped", 60)
        await asyncio.to_thread(host.wait_for, rf"{name} 0.2.0: serving", 60)
        assert await client.call("shout", text="hi") == "HI!!"
        (deployment,) = [d for d in await client.api.deployments() if d.app == name]
        assert deployment.status is DeploymentStatus.RUNNING
    finally:
        host.stop()
        stop_apps([host])
