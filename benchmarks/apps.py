"""The functions the call benchmarks run: as little work as possible."""

from collections.abc import AsyncIterator

from arkitekt import register


@register
async def noop(x: int) -> int:
    return x


@register(idempotent=True)
async def noop_idempotent(x: int) -> int:
    """Safe to run twice: it starts without waiting for the platform's acknowledgement."""
    return x


@register
async def produce(count: int) -> AsyncIterator[int]:
    for n in range(count):
        yield n
