"""Functions that record where and how often they ran, for the reliability tests."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import arkitekt
from arkitekt import File, register


def _record(marker: str) -> tuple[str, int]:
    """Appends this instance to the marker file; returns it and how many ran before."""
    instance = os.environ["ARKITEKT_TEST_INSTANCE"]
    path = Path(marker)
    before = len(path.read_text().split()) if path.exists() else 0
    with path.open("a") as file:
        file.write(instance + "\n")
    arkitekt.log(f"started on {instance}")
    return instance, before


@register
def slow(marker: str, seconds: float) -> str:
    """Records that it started, then takes its time."""
    instance, _ = _record(marker)
    time.sleep(seconds)
    return instance


@register(idempotent=True)
def rerunnable(marker: str, seconds: float) -> str:
    """Like `slow`, but safe to run again; a re-run is quick."""
    instance, before = _record(marker)
    time.sleep(seconds if before == 0 else 0)
    return instance


@register
def quick(x: int) -> int:
    return x * 2


@register
def frames(count: int, interval: float) -> Iterator[File]:
    """A camera: a frame stored centrally at each interval."""
    for index in range(count):
        time.sleep(interval)
        yield File(f"frame {index}".encode(), name=f"frame-{index}.txt")
