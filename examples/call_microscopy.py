"""Stream frames from the camera into the analysis while the camera keeps producing.

Run the platform and the app first (`arkitekt server`, `arkitekt run examples/microscopy.py`),
then `python examples/call_microscopy.py`. Each frame is analysed (denoise, segment,
measure) as soon as it arrives; frames travel by reference through central storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from microscopy import Region, acquire, denoise, measure, segment

import arkitekt
from arkitekt.structures import Array


async def analyse(client: arkitekt.Client, index: int, frame: Array) -> list[Region]:
    smooth = await client.call(denoise, frame, sigma=2.0)
    labels = await client.call(segment, smooth)
    regions = await client.call(measure, labels)
    mean = sum(region.area for region in regions) / max(1, len(regions))
    print(f"frame {index}: {len(regions)} cells, mean area {mean:.0f} px")
    return regions


async def stream_analysis(
    client: arkitekt.Client, frames: int = 20, size: int = 256, interval: float = 0.05
) -> list[list[Region]]:
    """The regions of each frame, in frame order; frames are analysed concurrently."""
    async with asyncio.TaskGroup() as tasks:
        analyses = [
            tasks.create_task(analyse(client, index, frame))
            async for index, frame in aenumerate(
                client.stream(acquire, frames=frames, size=size, interval=interval)
            )
        ]
    return [analysis.result() for analysis in analyses]


async def aenumerate(frames: AsyncIterator[Array]) -> AsyncIterator[tuple[int, Array]]:
    index = 0
    async for frame in frames:
        yield index, frame
        index += 1


async def main() -> None:
    async with arkitekt.connect() as client:  # URL and token from the config
        await stream_analysis(client)


if __name__ == "__main__":
    asyncio.run(main())
