"""The microscopy example, end to end on small frames: camera and analysis as one app,
the caller streaming frames into the analysis while the camera keeps producing."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import arkitekt
from arkitekt.api.enums import AssignationEventKind
from arkitekt.runtime.apps import load_app

pytest.importorskip("scipy")
pytest.importorskip("zarr")

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def caller_script() -> Iterator[ModuleType]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("call_microscopy")
    finally:
        sys.path.remove(str(EXAMPLES))


async def test_frames_stream_through_the_analysis(
    client: arkitekt.Client, caller_script: ModuleType
) -> None:
    registry = load_app(EXAMPLES / "microscopy.py")
    assert [i.interface for i in registry] == ["acquire", "denoise", "segment", "measure"]
    async with arkitekt.Agent(client, registry, name="microscopy"):
        started = time.monotonic()
        results = await caller_script.stream_analysis(client, frames=6, size=96, interval=0.1)
        elapsed = time.monotonic() - started
    assert len(results) == 6
    for regions in results:
        assert 1 <= len(regions) <= 12  # 12 cells; touching ones merge into one region
        assert [region.label for region in regions] == list(range(1, len(regions) + 1))
        assert all(region.area > 0 for region in regions)
        assert all(0 <= region.centroid.x < 96 for region in regions)
    assert elapsed < 6 * 0.1 + 5  # analysed alongside acquisition, not after it


async def test_analysis_starts_before_the_camera_finishes(
    client: arkitekt.Client, caller_script: ModuleType
) -> None:
    registry = load_app(EXAMPLES / "microscopy.py")
    microscopy = sys.modules["microscopy"]
    async with arkitekt.Agent(client, registry, name="microscopy"):
        camera = await client.assign(microscopy.acquire, frames=5, size=64, interval=0.2)
        events = camera.events()
        first = None
        async for event in events:
            if event.kind is AssignationEventKind.YIELD:
                first = event.yields[0]
                break
        assert first is not None
        regions = await caller_script.analyse(client, 0, first)
        state = await client.api.get_assignation(id=camera.id)
        kinds = [event.kind async for event in events]
    assert regions
    # The first frame's analysis finished while the camera was still producing.
    assert state is not None
    assert state.status.value == "RUNNING"
    assert kinds.count(AssignationEventKind.YIELD) == 4
    assert kinds[-1] is AssignationEventKind.DONE
