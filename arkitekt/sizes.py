"""How big a value is as JSON, estimated cheaply: agents bound their reports by it, and
the server the events it keeps in memory."""

from __future__ import annotations

import json
from typing import Any

_SCALARS = (bool, int, float, type(None))

MAX_INLINE = 8 << 20
"""The most JSON a call's arguments, or one of its results, may take: the platform's
messages carry up to 16 MiB, and larger data travels by reference, as a structure."""


def json_size(value: Any) -> int:
    """About how many bytes `value` takes as JSON: exact for strings and structures, an
    upper bound for numbers, and cheap for the usual small values."""
    if isinstance(value, _SCALARS):
        return 24
    if isinstance(value, list):
        total = 2
        for item in value:  # scalars inline: a generator's yields are mostly lists of them
            total += 25 if isinstance(item, _SCALARS) else json_size(item) + 1
        return total
    return len(json.dumps(value, default=str))


ENVELOPE = 100
"""Bytes of an event besides its yields and texts, about."""


def event_size(yields: Any, *texts: str | None) -> int:
    """About how many bytes an event takes as JSON: its yields, its texts, its envelope."""
    return ENVELOPE + json_size(yields) + sum(len(text) for text in texts if text)


def too_large(what: str, size: int) -> str:
    """Says that `what` takes `size` bytes of JSON, more than `MAX_INLINE`, and what to do."""
    return (
        f"{what} takes {size / 2**20:.1f} MiB as JSON, over the {MAX_INLINE >> 20} MiB a "
        "message carries: pass large data as a structure (arkitekt.File, arkitekt.Array), "
        "which travels by reference"
    )
