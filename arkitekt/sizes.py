"""How big a value is as JSON, estimated cheaply: agents bound their reports by it, and
the server the events it keeps in memory."""

from __future__ import annotations

import json
from typing import Any

_SCALARS = (bool, int, float, type(None))


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
