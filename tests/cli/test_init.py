"""`arkitekt init`: a new app that runs, answers, passes its own tests, and whose README
tells the truth."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from arkitekt.cli.scaffold import module_name
from tests.docs.blocks import code_blocks, run_python, run_shell

from .processes import Process, arkitekt


def test_a_new_app_runs_and_its_examples_answer(
    tmp_path: Path, env: dict[str, str], processes: list[Process]
) -> None:
    created = arkitekt("init", "cell-counter", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "arkitekt dev cell_counter.py" in created.stdout
    folder = tmp_path / "cell-counter"
    assert sorted(path.name for path in folder.iterdir()) == [
        ".gitignore",
        "README.md",
        "cell_counter.py",
        "pyproject.toml",
        "test_cell_counter.py",
    ]
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == "cell-counter"

    app = Process("run", "cell_counter.py", env=env, cwd=folder)
    processes.append(app)
    app.wait_for(r"serving 4 functions of cell_counter")

    scaled = arkitekt("call", "scale", "values=[1, 2]", "factor=3", env=env)
    assert (scaled.returncode, scaled.stdout) == (0, "[3.0, 6.0]\n"), scaled.stderr
    counted = arkitekt("call", "countdown", "start=2", "delay=0", env=env)
    assert counted.stdout.split() == ["2", "1", "0"]
    assert "INFO lift-off" in counted.stderr

    # The README's commands, as written (the ones that serve forever are marked not run).
    blocks = code_blocks(folder / "README.md")
    assert [b.language for b in blocks if b.not_run is None] == ["bash", "python"]
    for block in blocks:
        if block.not_run is None and block.language == "bash":
            run_shell(block, env=env, cwd=folder)
    run_python([b for b in blocks if b.language == "python"], env=env, cwd=folder)

    # Its own tests pass.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tests.returncode == 0, tests.stdout
    assert "3 passed" in tests.stdout


def test_init_refuses_a_folder_with_files(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = arkitekt("init", "taken", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "taken already holds files" in result.stderr
    assert "choose another name" in result.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("name", "module"),
    [("cell-tracking", "cell_tracking"), ("Deconvolve 3D", "deconvolve_3d"), ("2p", "app_2p")],
)
def test_app_names_become_module_names(name: str, module: str) -> None:
    assert module_name(name) == module
