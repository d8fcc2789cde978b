"""The README's first steps, as separate processes talking over real sockets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Process, free_port

ROOT = Path(__file__).parents[2]


@pytest.fixture
def env(isolated_config: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Process]:
    running = Process("-m", "arkitekt", "server", "--port", "0", env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def platform(server: Process) -> str:
    return server.wait_for(r"platform at (http://\S+)").group(1)


def arkitekt(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arkitekt", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_server_run_nodes_call(
    platform: str, server: Process, env: dict[str, str], isolated_config: Path
) -> None:
    assert isolated_config.stat().st_mode & 0o077 == 0, "the config holds a token: owner only"
    app = Process("-m", "arkitekt", "run", "examples/basics.py", env=env)
    try:
        app.wait_for(r"serving 6 functions of basics")
        # The operator's terminal shows agents come and go.
        server.wait_for(r"\d\d:\d\d:\d\d agent basics of \S+ .*connected: 6 functions")

        listed = arkitekt("nodes", env=env)
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"add\s+\(a: int, b: int\) -> int\s+1", listed.stdout)
        assert "count_up" in listed.stdout

        called = arkitekt("call", "add", "a=1", "b=2", env=env)
        assert (called.returncode, called.stdout) == (0, "3\n"), called.stderr

        streamed = arkitekt("call", "count_up", "to=3", env=env)
        assert streamed.stdout.split() == ["1", "2", "3"]

        greeted = arkitekt("call", "greet", "name=Ada", "greeting=HI", env=env)
        assert greeted.stdout == "Hi, Ada!\n"

        wrong = arkitekt("call", "add", "a=one", "b=2", env=env)
        assert wrong.returncode == 1
        assert "a: expected an int, got str 'one'" in wrong.stderr

        failing = arkitekt("call", "statistics", "values=[]", env=env)
        assert failing.returncode == 1
        assert "ValueError: statistics needs at least one value" in failing.stderr

        snippet = subprocess.run(
            [sys.executable, "examples/call_basics.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert snippet.stdout.split() == ["3", "1", "2", "3", "4", "5"], snippet.stderr

        app.popen.terminate()  # SIGTERM shuts the agent down as Ctrl-C does
        assert app.popen.wait(timeout=20) == 143
        server.wait_for(r"agent basics of \S+ .*left")
        listed = arkitekt("nodes", env=env)
        assert re.search(r"add\s+\(a: int, b: int\) -> int\s+0", listed.stdout), listed.stdout
    finally:
        app.stop()


def test_an_app_started_before_its_platform_waits_for_it(env: dict[str, str]) -> None:
    port = str(free_port())
    first = Process("-m", "arkitekt", "server", "--port", port, env=env)
    try:
        url = first.wait_for(r"platform at (http://\S+)").group(1)  # writes the config
    finally:
        first.stop()

    app = Process("-m", "arkitekt", "run", "examples/basics.py", env=env)
    server = None
    try:
        app.wait_for(rf"waiting for the arkitekt server at {re.escape(url)} to answer")
        server = Process("-m", "arkitekt", "server", "--port", port, env=env)
        app.wait_for(rf"reached {re.escape(url)}")
        app.wait_for(r"serving 6 functions of basics")
        called = arkitekt("call", "add", "a=1", "b=2", env=env)
        assert (called.returncode, called.stdout) == (0, "3\n"), called.stderr

        refused = arkitekt("run", "examples/basics.py", env={**env, "ARKITEKT_TOKEN": "ark_x"})
        assert refused.returncode == 1, "a wrong token is no reason to wait"
        assert "token was refused" in refused.stderr
    finally:
        app.stop()
        if server is not None:
            server.stop()


def test_commands_without_a_platform_say_what_to_do(env: dict[str, str]) -> None:
    result = arkitekt("nodes", env=env)
    assert result.returncode == 1
    assert "No arkitekt server configured" in result.stderr
    assert "arkitekt server" in result.stderr

    env = {**env, "ARKITEKT_URL": "http://127.0.0.1:9", "ARKITEKT_TOKEN": "ark_x"}
    result = arkitekt("call", "add", "a=1", env=env)
    assert result.returncode == 1
    assert "Cannot reach the arkitekt server at http://127.0.0.1:9" in result.stderr


def test_a_second_server_on_the_same_data_refuses_and_leaves_the_config_alone(
    platform: str, env: dict[str, str], isolated_config: Path
) -> None:
    before = isolated_config.read_text()
    second = arkitekt("server", "--port", "0", env=env)
    assert second.returncode == 1
    assert "another arkitekt server uses" in second.stderr
    assert f"({platform}, process " in second.stderr, "it says which server"
    assert "give this one its own --data-dir" in second.stderr
    assert isolated_config.read_text() == before, "the config still points to the first"
    assert arkitekt("nodes", env=env).returncode == 0, "the first serves on, as configured"


def test_a_server_on_other_data_leaves_the_config_to_the_first(
    platform: str, env: dict[str, str], isolated_config: Path, tmp_path: Path
) -> None:
    config = json.loads(isolated_config.read_text())
    data = Path(env["ARKITEKT_DATA_DIR"]).resolve()
    assert config["data_dir"] == str(data)
    stays = f"{isolated_config} stays with the platform in {data}"

    def scratch_platform(env: dict[str, str]) -> tuple[str, str]:
        """Serves a second platform on other data for a moment: its URL and admin token."""
        scratch = Process(
            *("-m", "arkitekt", "server", "--port", "0"),
            *("--data-dir", str(tmp_path / "scratch")),
            env=env,
        )
        try:
            url = scratch.wait_for(r"platform at (http://\S+)").group(1)
            scratch.wait_for(rf"config\s+{re.escape(stays)}")
            exported = scratch.wait_for(r"export ARKITEKT_URL=(\S+) ARKITEKT_TOKEN=(ark_\S+)")
            assert exported.group(1) == url
            to_scratch = {**env, "ARKITEKT_URL": url, "ARKITEKT_TOKEN": exported.group(2)}
            assert arkitekt("agents", env=to_scratch).returncode == 0
            return url, exported.group(2)
        finally:
            scratch.stop()

    before = isolated_config.read_text()
    _, token = scratch_platform(env)
    assert isolated_config.read_text() == before, "the user's commands stay with the first"

    # A config written before configs named their platform is the default data's; and
    # restarted with the token it told the user to export, the scratch platform keeps it.
    del config["data_dir"]
    isolated_config.write_text(json.dumps(config))
    assert scratch_platform({**env, "ARKITEKT_TOKEN": token})[1] == token
    assert json.loads(isolated_config.read_text()) == config
    assert arkitekt("nodes", env=env).returncode == 0, "the first serves on, as configured"
