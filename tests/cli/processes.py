"""Running `arkitekt` as users do: a separate process, its output read with deadlines."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

LINE_END = re.compile(rb"\r\n|\r|\n")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    """Text without terminal colours and cursor movements."""
    return ANSI.sub("", text)


class Process:
    """A long-running `arkitekt` command whose output is read line by line, with deadlines."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path | None = None) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "arkitekt", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._unread = b""

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first new line matching `pattern`; fails with the output so far."""
        assert self.popen.stdout is not None
        descriptor = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while True:
                # Read raw bytes: a buffered reader could hold lines that select() never sees.
                # A progress bar redraws its line after a carriage return: that ends a line too.
                while match := LINE_END.search(self._unread):
                    raw, self._unread = self._unread[: match.start()], self._unread[match.end() :]
                    line = plain(raw.decode(errors="replace"))
                    self.lines.append(line + "\n")
                    if found := re.search(pattern, line):
                        return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    break
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    break
                self._unread += chunk
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")

    def interrupt(self, timeout: float = 10.0) -> int:
        """Ctrl-C, then the exit code."""
        self.popen.send_signal(signal.SIGINT)
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        finally:
            assert self.popen.stdout is not None
            self.popen.stdout.close()


def arkitekt(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One `arkitekt` command, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "arkitekt", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
