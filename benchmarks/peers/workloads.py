"""The three workloads every system runs, and the figures one round of them gives.

1. a no-op call round trip, sequential: median and p99;
2. no-op calls with `IN_FLIGHT` in flight: calls per second;
3. a generator (or the system's nearest equivalent) producing small results: results per
   second at the caller.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmarks.calls import IN_FLIGHT, percentile

__all__ = ["FIGURES", "IN_FLIGHT", "WARM_UP", "Counts", "figures"]

WARM_UP = 200
"""Untimed no-op calls each fresh caller makes first, as `benchmarks.calls` does."""

FIGURES = ("round_trip_median_ms", "round_trip_p99_ms", "calls_per_second", "results_per_second")
"""What one round reports, in this order."""


@dataclass(frozen=True)
class Counts:
    """How much work one round does."""

    round_trips: int
    calls: int
    """No-op calls in the in-flight workload."""
    results: int
    """Results the generator workload streams to the caller."""


def figures(
    round_trips: list[float], calls_per_second: float, results_per_second: float
) -> dict[str, float]:
    """One round's figures from its round-trip samples (seconds) and its two rates."""
    return {
        "round_trip_median_ms": statistics.median(round_trips) * 1000,
        "round_trip_p99_ms": percentile(round_trips, 0.99) * 1000,
        "calls_per_second": calls_per_second,
        "results_per_second": results_per_second,
    }
