"""Every code block in the docs and the README runs, against a real platform, and prints
what the text around it claims."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arkitekt.cli.reference import reference
from arkitekt.cli.scaffold import scaffold
from arkitekt.testing import running_server
from tests.cli.processes import Process

from .blocks import SHELL, code_blocks, run_console, run_python, run_shell

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python", "console", *SHELL}
SHOWN = {"text", "toml", "json"}  # output and file contents: nothing to run


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A reader's machine: a platform, its config, and the apps the pages call."""
    with running_server(tmp_path_factory.mktemp("docs-platform")) as platform:
        home = tmp_path_factory.mktemp("docs-home")
        env = {
            **os.environ,
            "ARKITEKT_URL": platform.url,
            "ARKITEKT_TOKEN": platform.token,
            "ARKITEKT_CONFIG": str(home / "config.json"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
        quick_start = home / "served" / "cell-counter"
        scaffold(quick_start)
        apps = [
            Process("run", str(ROOT / "examples" / "basics.py"), env=env),
            Process("run", "cell_counter.py", env=env, cwd=quick_start),
        ]
        try:
            for app in apps:
                app.wait_for(r"serving \d+ functions?")
            yield env
        finally:
            for app in apps:
                app.stop()


def test_every_block_runs_or_says_why_not() -> None:
    for page in PAGES:
        for block in code_blocks(page):
            assert block.language in RUN | SHOWN, (
                f"{block.where}: give the block a language: python, bash, console "
                f"(a transcript), or text for output"
            )
            if block.not_run is not None:
                assert block.language in RUN, f"{block.where}: only code is marked not run"
                assert len(block.not_run) > 10, f"{block.where}: say why it is not run"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_code_blocks_of(page: Path, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    blocks = [block for block in code_blocks(page) if block.not_run is None]
    for block in blocks:
        if block.language in SHELL:
            run_shell(block, env=env, cwd=tmp_path)
        elif block.language == "console":
            run_console(block, env=env, cwd=tmp_path)
    run_python([b for b in blocks if b.language == "python"], env=env, cwd=tmp_path)


def test_the_command_line_reference_is_fresh() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == reference(), (
        "docs/cli.md is stale: run `poe docs-cli`"
    )
