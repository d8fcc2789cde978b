"""Code blocks in Markdown files, run as a reader would run them.

Shell blocks run in bash. Console blocks are transcripts (`$ command`, then exactly what it
prints, stderr included), run and compared line by line. Python blocks run in one fresh
interpreter per file (in order, in one namespace, top-level `await` allowed, as in a
notebook). A trailing `# prints TEXT` comment is a claim: TEXT must appear in what the block
printed.

A block is skipped when the line before its fence is a comment giving the reason:

    <!-- not run: it serves until Ctrl-C -->
    ```bash
    arkitekt server
    ```
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`]*)$")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->")
PRINTS = re.compile(r"#\s*prints\s+(?P<text>.+?)\s*$", re.MULTILINE)
SHELL = frozenset({"bash", "sh", "shell"})

# Runs Python blocks in order in one namespace; each may use top-level await.
RUNNER = """
import ast, asyncio, json, sys
loop = asyncio.new_event_loop()
namespace = {"__name__": "__main__"}
for block in json.load(open(sys.argv[1])):
    print(f"--- {block['where']}", flush=True)
    code = compile(block["text"], block["where"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        loop.run_until_complete(result)
"""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    """Where the fence opens, 1-based."""
    language: str
    text: str
    not_run: str | None
    """Why the block is not run, when it is marked so."""

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        start = index
        body = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        previous = lines[start - 1] if start else ""
        mark = NOT_RUN.search(previous)
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                language=opening["info"].strip().split(" ")[0],
                text="\n".join(body) + "\n",
                not_run=mark["reason"] if mark else None,
            )
        )
        index += 1
    return blocks


def claims(block: Block) -> list[str]:
    """What the block's `# prints ...` comments promise it prints."""
    return [match["text"] for match in PRINTS.finditer(block.text)]


def check(block: Block, result: subprocess.CompletedProcess[str], output: str) -> None:
    assert result.returncode == 0, (
        f"{block.where} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    for claim in claims(block):
        assert claim in output, f"{block.where} should print {claim!r}; it printed:\n{output}"


def run_shell(block: Block, *, env: dict[str, str], cwd: Path) -> None:
    """Runs a shell block in bash (stopping at the first failing command) and checks it."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    check(block, result, result.stdout)


def run_python(blocks: Sequence[Block], *, env: dict[str, str], cwd: Path) -> None:
    """Runs Python blocks in order in one interpreter and checks each one's claims."""
    if not blocks:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump([{"where": b.where, "text": b.text} for b in blocks], file)
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, file.name],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        Path(file.name).unlink()
    outputs = dict.fromkeys((b.where for b in blocks), "")
    current = None
    for line in result.stdout.splitlines(keepends=True):
        if line.startswith("--- ") and line[4:].strip() in outputs:
            current = line[4:].strip()
        elif current is not None:
            outputs[current] += line
    for block in blocks:
        check(block, result, outputs[block.where])


def run_console(block: Block, *, env: dict[str, str], cwd: Path) -> None:
    """Runs each `$ command` of a transcript and compares what it prints with the lines
    that follow it."""
    lines = block.text.splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("$ ")]
    assert starts[:1] == [0], f"{block.where}: a console block starts with `$ `"
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        command, expected = lines[start][2:], lines[start + 1 : end]
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
        )
        printed = [line.rstrip() for line in result.stdout.splitlines()]
        assert printed == [line.rstrip() for line in expected], (
            f"{block.where}: `{command}` printed:\n{result.stdout}"
        )
