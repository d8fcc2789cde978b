"""arkitekt: host typed Python functions for your team, and call your team's functions.

    from arkitekt import register

    @register
    def add(a: int, b: int) -> int:
        return a + b

Run the file with `arkitekt run app.py`; call it with `arkitekt call add a=1 b=2` or
`await client.call("add", a=1, b=2)` inside `async with arkitekt.connect() as client:`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .__about__ import __version__

# Public names load on first use, so that `import arkitekt` and `arkitekt --help` stay fast
# (the generated API pulls in aiohttp and pydantic). Add a name here, to `_SOURCES` and to
# `__all__`; tests/test_public_api.py checks that every name resolves.
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .api.enums import Strategy
    from .errors import (
        AgentDisconnectedError,
        ApiError,
        ArgumentError,
        ArkitektError,
        AssignationCancelledError,
        AssignationError,
        AssignationTimeoutError,
        AuthenticationError,
        ClientClosedError,
        ConfigurationError,
        ConflictError,
        FellBehindError,
        InvalidInputError,
        LimitExceededError,
        NotFoundError,
        PermissionDeniedError,
        RegistrationError,
        RemoteError,
        ReservationError,
        ServerUnavailableError,
        StructureError,
        TargetError,
    )
    from .runtime.agent import Agent, AgentStatistics
    from .runtime.blocking import BlockingClient, BlockingReservation
    from .runtime.caller import (
        Assignation,
        Client,
        Event,
        Reservation,
        Target,
        connect,
        current_client,
    )
    from .runtime.context import cancelled, log, progress
    from .runtime.nodes import Node, node_of
    from .runtime.ports import Port
    from .runtime.registry import Registry, register
    from .runtime.startups import Startup, startup
    from .runtime.structures import register_structure
    from .structures.array import Array
    from .structures.file import File


async def call(target: Target, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
    """`Client.call` on the current client."""
    from .runtime.caller import current_client

    return await current_client().call(target, *args, timeout=timeout, **kwargs)


def stream(target: Target, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """`Client.stream` on the current client."""
    from .runtime.caller import current_client

    return current_client().stream(target, *args, **kwargs)


async def assign(
    target: Target, *args: Any, reference: str | None = None, **kwargs: Any
) -> Assignation:
    """`Client.assign` on the current client."""
    from .runtime.caller import current_client

    return await current_client().assign(target, *args, reference=reference, **kwargs)


async def reserve(target: Target, **options: Any) -> Reservation:
    """`Client.reserve` on the current client."""
    from .runtime.caller import current_client

    return await current_client().reserve(target, **options)


__all__ = [
    "Agent",
    "AgentDisconnectedError",
    "AgentStatistics",
    "ApiError",
    "ArgumentError",
    "ArkitektError",
    "Array",
    "Assignation",
    "AssignationCancelledError",
    "AssignationError",
    "AssignationTimeoutError",
    "AuthenticationError",
    "BlockingClient",
    "BlockingReservation",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "Event",
    "FellBehindError",
    "File",
    "InvalidInputError",
    "LimitExceededError",
    "Node",
    "NotFoundError",
    "PermissionDeniedError",
    "Port",
    "RegistrationError",
    "Registry",
    "RemoteError",
    "Reservation",
    "ReservationError",
    "ServerUnavailableError",
    "Startup",
    "StartupError",
    "Strategy",
    "StructureError",
    "Target",
    "TargetError",
    "__version__",
    "assign",
    "call",
    "cancelled",
    "connect",
    "current_client",
    "log",
    "node_of",
    "progress",
    "register",
    "register_structure",
    "reserve",
    "startup",
    "stream",
]


# Where each public name lives, for `__getattr__`.
_SOURCES = {
    "Strategy": ".api.enums",
    **dict.fromkeys([name for name in __all__ if name.endswith("Error")], ".errors"),
    **dict.fromkeys(["Agent", "AgentStatistics"], ".runtime.agent"),
    **dict.fromkeys(["BlockingClient", "BlockingReservation"], ".runtime.blocking"),
    **dict.fromkeys(
        ["Assignation", "Client", "Event", "Reservation", "Target", "connect", "current_client"],
        ".runtime.caller",
    ),
    **dict.fromkeys(["cancelled", "log", "progress"], ".runtime.context"),
    **dict.fromkeys(["Node", "node_of"], ".runtime.nodes"),
    "Port": ".runtime.ports",
    **dict.fromkeys(["Registry", "register"], ".runtime.registry"),
    "register_structure": ".runtime.structures",
    **dict.fromkeys(["Startup", "startup"], ".runtime.startups"),
    "Array": ".structures.array",  # loads numpy and zarr, on first use only
    "File": ".structures.file",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'arkitekt' has no attribute {name!r}")
    value = getattr(importlib.import_module(source, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
