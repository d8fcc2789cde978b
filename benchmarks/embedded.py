"""The embedded platform and one app, each in its own process, for a benchmark's run."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(*args: str, ready: str, env: dict[str, str]) -> Iterator[str]:
    """Runs a child process until the block exits; yields the line that said it is ready."""
    child = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert child.stdout is not None
    try:
        for line in child.stdout:
            if ready in line:
                break
        else:
            raise RuntimeError(f"{args} exited before it was ready")
        yield line
    finally:
        child.terminate()
        child.wait(timeout=10)
        child.stdout.close()


@dataclass(frozen=True)
class Running:
    url: str
    token: str
    env: dict[str, str]
    """The environment the processes run in (a private config and data folder)."""


@contextmanager
def running_platform(app: str) -> Iterator[Running]:
    """Starts `arkitekt server` on a free port and `arkitekt run app`, until the block exits."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "ARKITEKT_CONFIG": f"{folder}/config.json",
            "ARKITEKT_DATA_DIR": f"{folder}/data",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("ARKITEKT_URL", None)
        env.pop("ARKITEKT_TOKEN", None)
        python = sys.executable
        with process(
            python, "-m", "arkitekt", "server", "--port", "0", ready="platform at", env=env
        ) as line:
            url = line.split("platform at", 1)[1].split()[0]
            token = json.loads(Path(f"{folder}/config.json").read_text())["token"]
            with process(python, "-m", "arkitekt", "run", app, ready="serving", env=env):
                yield Running(url, token, env)


def save(name: str, figures: dict[str, Any], **about_the_machine: Any) -> None:
    """Writes `results/<name>.json` with the figures and the machine they came from."""
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **about_the_machine,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"figures": figures, "machine": machine}, indent=2)
    )
