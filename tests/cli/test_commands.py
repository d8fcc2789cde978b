"""The everyday commands: tables for people, JSON for scripts, progress while calls run,
and errors that say what to do next."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import arkitekt
from arkitekt.api.enums import AssignationEventKind
from arkitekt.cli.blobs import partial_file
from arkitekt.cli.listing import arguments_text, duration
from arkitekt.testing import RunningPlatform

from .processes import Process, plain
from .processes import arkitekt as run

ROOT = Path(__file__).parents[2]
COMMANDS = [
    "server",
    "run",
    "dev",
    "init",
    "nodes",
    "agents",
    "assignations",
    "call",
    "follow",
    "cancel",
]


@pytest.fixture(scope="module")
def basics(server: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """examples/basics.py served under a unique app name; yields the name."""
    name = f"basics-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("config")
    env = {
        **os.environ,
        "ARKITEKT_URL": server.url,
        "ARKITEKT_TOKEN": server.token,
        "ARKITEKT_CONFIG": str(folder / "config.json"),
        "PYTHONUNBUFFERED": "1",
    }
    app = Process("run", str(ROOT / "examples" / "basics.py"), "--name", name, env=env)
    try:
        app.wait_for(r"serving \d+ functions?")
        yield name
    finally:
        app.stop()


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from arkitekt.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        "heavy = ['aiohttp', 'pydantic', 'arkitekt.api', 'sqlalchemy', 'uvicorn', 'watchfiles']\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "LOADED []" in result.stdout
    for command in COMMANDS:
        assert re.search(rf"│ {command}\s", result.stdout), command


def test_agents_and_assignations_as_tables_and_json(basics: str, env: dict[str, str]) -> None:
    agents = run("agents", env=env)
    assert agents.returncode == 0, agents.stderr
    assert re.search(rf"{basics}\s+CONNECTED\s+0\s+\S+\s+now\s", agents.stdout)

    listed = json.loads(run("agents", "--connected", "--json", env=env).stdout)
    mine = [agent for agent in listed if agent["name"] == basics]
    assert [agent["status"] for agent in mine] == ["CONNECTED"]
    assert {agent["status"] for agent in listed} == {"CONNECTED"}

    assert run("call", "add", "a=20", "b=22", env=env).stdout == "42\n"
    recent = json.loads(run("assignations", "--json", "--limit", "1", env=env).stdout)
    assert [(a["node"]["name"], a["status"], a["args"]) for a in recent] == [
        ("add", "DONE", {"a": 20, "b": 22})
    ]
    table = run("assignations", "--status", "done", "--limit", "3", env=env)
    assert re.search(rf"add\s+DONE\s+a=20 b=22\s+\S+\s+\d+ ms\s+{recent[0]['id']}", table.stdout)

    wrong = run("assignations", "--status", "finished", env=env)
    assert wrong.returncode == 1
    assert "no status 'finished'" in wrong.stderr
    assert "use one of QUEUED, ASSIGNED" in wrong.stderr


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0123, "12 ms"), (3.42, "3.4 s"), (125, "2 min 5 s"), (3900, "1 h 5 min")],
)
def test_durations_read_at_a_glance(seconds: float, shown: str) -> None:
    assert duration(timedelta(seconds=seconds)) == shown


def test_arguments_print_as_call_takes_them_and_long_ones_are_cut() -> None:
    args = {"label": "cell", "note": "two words", "roi": {"x": 1}, "n": None}
    assert arguments_text(args) == 'label=cell note="two words" roi={"x":1} n=null'
    long = arguments_text({"values": list(range(100))})
    assert len(long) == 48
    assert long == "values=[" + ",".join(map(str, range(100)))[:39] + "…"


def test_a_download_cut_short_leaves_no_file_that_looks_whole(tmp_path: Path) -> None:
    target = tmp_path / "stack.npy"

    def interrupted() -> None:
        with partial_file(target) as partial:
            partial.write_bytes(b"\x93NUMPY half of it")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert list(tmp_path.iterdir()) == []
    with partial_file(target) as partial:
        partial.write_bytes(b"whole")
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("stack.npy", b"whole")]


def test_nodes_as_json(basics: str, env: dict[str, str]) -> None:
    found = json.loads(run("nodes", "count_up", "--json", env=env).stdout)
    assert "count_up" in [node["name"] for node in found]
    table = run("nodes", "count_up", env=env).stdout
    assert re.search(r"count_up\s+\(to: int, delay: float = 0\.0\) -> Iterator\[int\]", table)


def test_nodes_show_a_functions_ports_as_inspect_does(basics: str, env: dict[str, str]) -> None:
    shown = run("nodes", "greet", "--ports", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(
        'greet(name: str, greeting: Greeting = "HELLO", shout: bool = False) -> str'
    )
    assert re.search(r"args\s+greeting\s+ENUM\s+Greeting\s+\"HELLO\"\s+How\.", shown.stdout)
    assert re.search(r"args\s+shout\s+BOOL\s+bool\s+false\s+Whether to shout it\.", shown.stdout)
    local = run("inspect", str(ROOT / "examples" / "basics.py"), env=env).stdout
    assert shown.stdout in local, "the platform's node reads as the app file's"


def test_call_streams_results_and_prints_json_lines(basics: str, env: dict[str, str]) -> None:
    streamed = run("call", "count_up", "to=3", "--json", env=env)
    assert [json.loads(line) for line in streamed.stdout.splitlines()] == [1, 2, 3]
    words = run("call", "words", "text=a b", "--json", env=env)
    assert words.stdout.splitlines() == ['"a"', '"b"']


def test_call_shows_progress_and_log_lines(basics: str, env: dict[str, str]) -> None:
    terminal = {**env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}
    result = run("call", "slow_square", "x=3", "steps=3", env=terminal)
    assert (result.returncode, plain(result.stdout)) == (0, "9.0\n"), result.stderr
    shown = plain(result.stderr)
    assert re.search(r"slow_square\s.*\d+%\s+step 3 of 3", shown), shown
    assert "INFO squared 3.0" in shown


def test_ctrl_c_cancels_the_call(
    basics: str, env: dict[str, str], server: RunningPlatform, processes: list[Process]
) -> None:
    terminal = {**env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    call = Process("call", "slow_square", "x=2", "steps=600", env=terminal)
    processes.append(call)
    call.wait_for(r"step \d+ of 600")
    assert call.interrupt() == 130
    assignation = call.wait_for(r"cancelled slow_square \((\w+)\)").group(1)
    with arkitekt.connect(server.url, server.token) as client:
        node = client.node("slow_square")
        handle = arkitekt.Assignation(client.aio, node, assignation)
        kinds = [event.kind for event in client.iterate(handle.events())]
    assert kinds[-1] is AssignationEventKind.CANCELLED


def one_function_app(folder: Path, prefix: str, parameters: str, returns: str) -> tuple[str, Path]:
    """An app file serving one int function, under a name no other test uses."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    app = folder / f"{name}.py"
    app.write_text(
        f"from arkitekt import register\n\n"
        f"@register\ndef {name}({parameters}) -> int:\n    return {returns}\n"
    )
    return name, app


def test_a_call_says_it_waits_queued_and_runs_when_an_instance_connects(
    env: dict[str, str], processes: list[Process], tmp_path: Path
) -> None:
    name, app = one_function_app(tmp_path, "twice", "x: int", "2 * x")
    first = Process("run", str(app), env=env)
    processes.append(first)
    first.wait_for(r"serving 1 function\b")
    first.stop()

    call = Process("call", name, "x=21", env=env)
    processes.append(call)
    call.wait_for(rf"queued no instance of {name} is connected; it runs when one does")
    processes.append(Process("run", str(app), env=env))
    call.wait_for(r"assigned to agent \w+")
    call.wait_for(r"^42$")
    assert call.popen.wait(timeout=10) == 0


def test_an_app_restarted_is_the_same_agent_and_one_beside_it_another(
    env: dict[str, str], processes: list[Process], tmp_path: Path
) -> None:
    name, app = one_function_app(tmp_path, "again", "", "1")

    def start(token: str = env["ARKITEKT_TOKEN"]) -> tuple[Process, str]:
        process = Process("run", str(app), env={**env, "ARKITEKT_TOKEN": token})
        processes.append(process)
        return process, process.wait_for(r"serving 1 function .*\(agent (\w+)\)").group(1)

    first, agent = start()
    assert first.interrupt() == 130
    second, again = start()
    assert again == agent, "a restart serves as the same agent"
    _, other = start()
    assert other != agent, "two running at once are two instances of a pool"
    second.popen.kill()  # a crash frees its instance for the next start
    second.popen.wait()
    third, after_crash = start()
    assert after_crash == agent
    assert third.interrupt() == 130
    token = run("token", "create", f"{name}-agent", "--scope", "agent", env=env).stdout.strip()
    _, with_another_token = start(token)
    assert with_another_token == agent, "the user's app, whichever token it holds"

    listed = json.loads(run("agents", "--json", env=env).stdout)
    assert sorted(a["id"] for a in listed if a["name"] == name) == sorted([agent, other])


def test_a_call_runs_on_the_agent_it_names(
    env: dict[str, str], processes: list[Process], tmp_path: Path
) -> None:
    name, app = one_function_app(tmp_path, "who", "", "__import__('os').getpid()")
    agents = {}
    for _ in range(2):  # a pool of two on this host
        process = Process("run", str(app), env=env)
        processes.append(process)
        agents[process.popen.pid] = process.wait_for(r"\(agent (\w+)\)").group(1)
    for pid, agent in agents.items():
        ran = [run("call", name, "--agent", agent, env=env).stdout.strip() for _ in range(3)]
        assert ran == [str(pid)] * 3, "every call on the agent named, none round robin"

    host = json.loads(run("agents", "--json", env=env).stdout)[0]["hostname"]
    both = run("call", name, "--agent", host, env=env)
    assert both.returncode == 1
    assert f"2 agents on {host} serve {name}" in both.stderr
    nowhere = run("call", name, "--agent", "no-such-host", env=env)
    assert "no agent on a host named 'no-such-host' serves" in nowhere.stderr

    processes[-1].stop()  # its agent is away: the call waits for it, not for another
    away = agents[processes[-1].popen.pid]
    waited = run("call", name, "--agent", away, "--timeout", "1", env=env)
    assert f"queued agent {away} is not connected; it runs when it is" in plain(waited.stderr)
    assert "no result within 1.0s; the call was cancelled" in plain(waited.stderr)


LOGGING_APP = """
import logging
from arkitekt import register

log = logging.getLogger("lab")

@register
def {name}(x: int) -> int:
    log.info("working on %d", x)
    log.warning("x is odd")
    return x
"""


def test_a_functions_logging_reaches_the_caller_and_warnings_still_print_in_the_app(
    env: dict[str, str], processes: list[Process], tmp_path: Path
) -> None:
    name = f"logs_{uuid.uuid4().hex[:8]}"
    app = tmp_path / "app.py"
    app.write_text(LOGGING_APP.format(name=name))  # logging left unconfigured, as usual
    served = Process("run", str(app), env=env)
    processes.append(served)
    served.wait_for(r"serving 1 function\b")
    result = run("call", name, "x=3", env=env)
    assert (result.returncode, result.stdout) == (0, "3\n"), result.stderr
    assert "INFO working on 3" in result.stderr
    assert "WARNING x is odd" in result.stderr
    served.wait_for(r"^x is odd$")  # Python's last-resort printing, as without arkitekt


def test_a_detached_call_prints_its_id_and_runs_on(
    basics: str, env: dict[str, str], server: RunningPlatform
) -> None:
    started = run("call", "slow_square", "x=3", "steps=5", "--detach", env=env)
    assert started.returncode == 0, started.stderr
    assignation = started.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", assignation), started.stdout
    with arkitekt.connect(server.url, server.token) as client:
        handle = client.assignation(assignation)
        assert client.run(handle.result()) == 9.0


def test_follow_prints_a_detached_calls_results_and_cancel_stops_it(
    basics: str, env: dict[str, str], processes: list[Process]
) -> None:
    started = run("call", "count_up", "to=4", "delay=0.2", "--detach", env=env).stdout.strip()
    followed = run("follow", started, "--json", env=env)
    assert (followed.returncode, followed.stdout) == (0, "1\n2\n3\n4\n"), followed.stderr
    assert run("follow", started, env=env).stdout == "1\n2\n3\n4\n", "again, from the record"

    endless = run("call", "count_up", "to=100000", "delay=0.05", "--detach", env=env)
    long = endless.stdout.strip()
    watcher = Process("follow", long, env=env)
    processes.append(watcher)
    watcher.wait_for(r"^3$")
    assert watcher.interrupt() == 130
    running = json.loads(run("assignations", "--status", "running", "--json", env=env).stdout)
    assert long in [a["id"] for a in running], "it runs on"

    stopped = run("cancel", long, started, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert re.search(rf"count_up \({long}\): CANCELL(ING|ED)", stopped.stdout)
    assert f"count_up ({started}): DONE" in stopped.stdout, "an ended call is left as it is"
    after = run("follow", long, env=env)
    assert after.returncode == 1
    assert "count_up was cancelled: Cancelled by" in after.stderr
    missing = run("follow", "f" * 32, env=env)
    assert missing.returncode == 1
    assert "`arkitekt assignations` lists your recent calls" in missing.stderr


@pytest.mark.parametrize(
    ("arguments", "message", "next_step"),
    [
        (["call", "no_such_function"], "No node named 'no_such_function'", "`arkitekt nodes`"),
        (["blob", "delete", "f" * 32], "No blob with id", "`arkitekt blob list` lists your blobs"),
        (["team", "member", "add", "nolab", "bob"], "No team", "`arkitekt team list`"),
        (
            ["call", "add", "a=one", "b=2"],
            "a: expected an int, got str 'one'",
            "call it as add(a: int, b: int) -> int",
        ),
        (["call", "add", "a"], "arguments are key=value, got 'a'", "call it as add("),
        (["call", "add", "a=1", "a=2", "b=3"], "a is given twice", "call it as add("),
        (
            ["call", "statistics", "values=[1,2,x]"],
            "values: '[1,2,x]' is not JSON",
            "quoted for the shell: values='[1, 2.5]'",
        ),
        (["call", "add", "a=1", "b=2", "--timeout", "0"], "--timeout is in seconds", "not 0.0"),
        (
            ["call", "statistics", "values=[]"],
            "ValueError: statistics needs at least one value",
            "add --verbose for the remote traceback",
        ),
    ],
)
def test_errors_say_what_to_do_next(
    basics: str, env: dict[str, str], arguments: list[str], message: str, next_step: str
) -> None:
    result = run(*arguments, env=env)
    assert result.returncode == 1
    assert message in result.stderr
    assert next_step in result.stderr


def test_a_refused_token_says_how_to_get_a_good_one(env: dict[str, str]) -> None:
    result = run("nodes", env={**env, "ARKITEKT_TOKEN": "ark_wrong"})
    assert result.returncode == 1
    assert "run `arkitekt server` on this machine to refresh the config" in result.stderr


STUBBORN = '''
import time

from arkitekt import register, startup


@startup
def model() -> str:
    time.sleep({startup_seconds})  # a large model loading
    return "weights"


@register
def {name}(seconds: float) -> str:
    """Sleeps, never checking whether it was cancelled."""
    time.sleep(seconds)
    return model()
'''


@pytest.mark.parametrize("stuck", ["call", "startup"])
def test_ctrl_c_stops_an_app_whose_sync_code_will_not_stop(
    stuck: str, tmp_path: Path, env: dict[str, str], server: RunningPlatform
) -> None:
    name, app = f"stubborn_{uuid.uuid4().hex[:8]}", tmp_path / "stubborn.py"
    app.write_text(STUBBORN.format(name=name, startup_seconds=60 if stuck == "startup" else 0))
    served = Process("run", str(app), env=env)
    try:
        if stuck == "startup":
            served.wait_for(r"starting model")
        else:
            served.wait_for(r"serving 1 function")
            with arkitekt.connect(server.url, server.token) as client:
                running = client.run(client.aio.assign(name, seconds=120))
                next(client.iterate(running.events()))  # it was delivered
                time.sleep(0.5)
        stopping = time.monotonic()
        assert served.interrupt(timeout=30) == 130, "it does not wait out the sleep"
        assert time.monotonic() - stopping < 30
        served.wait_for(r"the app's sync code still runs in 1 thread, which cannot be interrupted")
    finally:
        served.stop()
    if stuck == "call":
        with arkitekt.connect(server.url, server.token) as client:
            handle = client.assignation(running.id)
            kinds = [event.kind for event in client.iterate(handle.events())]
        assert kinds[-1] is AssignationEventKind.CANCELLED
