"""Streaming analysis for microscopy: a simulated camera, and the analysis of its frames.

    pip install -e ".[examples]"
    arkitekt run examples/microscopy.py        # the camera and the analysis, as one app
    python examples/call_microscopy.py         # streams frames through the analysis

Frames are `Array`s: they travel by reference to central storage, never inside messages.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Annotated

import numpy as np
from annotated_types import Ge, Gt, Le
from scipy import ndimage

from arkitekt import Array, progress, register, widgets


@dataclasses.dataclass
class Centroid:
    """A position in pixels.

    Attributes:
        y: The row.
        x: The column.
    """

    y: float
    x: float


@dataclasses.dataclass
class Region:
    """One segmented cell.

    Attributes:
        label: Its value in the label image.
        area: How many pixels it covers.
        centroid: Its centre of mass.
    """

    label: int
    area: int
    centroid: Centroid


@register
def acquire(
    frames: Annotated[int, Gt(0)] = 10,
    size: Annotated[int, Ge(16), Le(4096)] = 256,
    cells: Annotated[int, Ge(1)] = 12,
    noise: Annotated[float, Ge(0)] = 0.2,
    interval: Annotated[float, Ge(0)] = 0.0,
    seed: int = 0,
) -> Iterator[Array]:
    """Acquire frames from a simulated camera: noisy images of drifting cells.

    Args:
        frames: How many frames to take.
        size: The side of a square frame, in pixels.
        cells: How many cells are in view.
        noise: The camera noise's standard deviation (a cell's peak is 1).
        interval: Seconds between frames, like a real camera's frame rate.
        seed: Makes the sample and its noise reproducible.

    Returns:
        Each frame, as soon as it is taken.
    """
    rng = np.random.default_rng(seed)
    margin = 0.15 * size
    positions = rng.uniform(margin, size - margin, (cells, 2))
    radii = rng.uniform(0.015 * size, 0.03 * size, cells)
    drift = rng.normal(0, 0.005 * size, (cells, 2))
    rows, columns = np.mgrid[:size, :size]
    for index in range(frames):
        started = time.monotonic()
        image = rng.normal(0, noise, (size, size)).astype(np.float32)
        for (y, x), radius in zip(positions, radii, strict=True):
            image += np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / (2 * radius**2))
        positions = np.clip(positions + drift, margin, size - margin)
        progress(100 * (index + 1) / frames, f"frame {index + 1} of {frames}")
        yield Array(image)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


@register
def denoise(
    image: Array, sigma: Annotated[float, Gt(0), Le(10), widgets.slider(step=0.5)] = 2.0
) -> Array:
    """Smooth away the camera noise with a Gaussian filter.

    Args:
        image: A frame.
        sigma: The filter's width, in pixels.

    Returns:
        The smoothed frame.
    """
    return Array(ndimage.gaussian_filter(image.numpy(), sigma))


@register
def segment(
    image: Array, threshold: Annotated[float, Gt(0), Le(1), widgets.slider(step=0.05)] = 0.5
) -> Array:
    """Label the cells: threshold the image and number its connected regions.

    Args:
        image: A smoothed frame.
        threshold: The intensity that separates cells from background.

    Returns:
        A label image: 0 for background, 1..n for the cells.
    """
    labels, _ = ndimage.label(image.numpy() > threshold)
    return Array(labels.astype(np.int32))


@register
def measure(labels: Array) -> list[Region]:
    """Measure each labelled region: its area and centroid.

    Args:
        labels: A label image from `segment`.

    Returns:
        One region per label, in label order.
    """
    data = labels.numpy()
    found = range(1, int(data.max()) + 1)
    areas = ndimage.sum_labels(np.ones_like(data), data, found)
    centroids = ndimage.center_of_mass(np.ones_like(data), data, found)
    return [
        Region(label=label, area=int(area), centroid=Centroid(y=float(y), x=float(x)))
        for label, area, (y, x) in zip(found, areas, centroids, strict=True)
    ]
