"""The first functions to try: `arkitekt run examples/basics.py`, then
`arkitekt call add a=1 b=2` or `arkitekt call count_up to=5`."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from enum import Enum

import arkitekt
from arkitekt import register


@register
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first summand.
        b: The second summand.

    Returns:
        The sum.
    """
    return a + b


@register
async def count_up(to: int, delay: float = 0.0) -> AsyncIterator[int]:
    """Count from 1 up to `to`, one number at a time.

    Args:
        to: The last number.
        delay: Seconds to wait between numbers.
    """
    for n in range(1, to + 1):
        if delay:
            await asyncio.sleep(delay)
        yield n


class Greeting(Enum):
    HELLO = "Hello"
    HI = "Hi"
    GOOD_MORNING = "Good morning"


@register
def greet(name: str, greeting: Greeting = Greeting.HELLO, shout: bool = False) -> str:
    """Greet somebody.

    Args:
        name: Who to greet.
        greeting: How.
        shout: Whether to shout it.
    """
    text = f"{greeting.value}, {name}!"
    return text.upper() if shout else text


@register
def statistics(values: list[float]) -> dict[str, float]:
    """Summarize numbers: count, mean, minimum and maximum.

    Args:
        values: The numbers (at least one).
    """
    if not values:
        raise ValueError("statistics needs at least one value")
    return {
        "count": float(len(values)),
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }


@register
def slow_square(x: float, steps: int = 10) -> float:
    """Square a number slowly, reporting progress (try Ctrl-C while it runs).

    Args:
        x: The number.
        steps: How many tenths of a second it takes.
    """
    for step in range(steps):
        arkitekt.progress(100 * step / steps, f"step {step + 1} of {steps}")
        time.sleep(0.1)
    arkitekt.log(f"squared {x}")
    return x * x


@register
def words(text: str) -> Iterator[str]:
    """Yield the words of a text, one by one.

    Args:
        text: Any text.
    """
    yield from text.split()
