"""In-process fan-out of changes to the subscriptions that wait for them.

A publisher never waits: each subscriber has its own unbounded queue, and a topic
without subscribers costs a dictionary lookup. Publishing happens after the change is
committed, so a subscriber that reads the database after subscribing misses nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def get(self) -> Any:
        return await self.queue.get()

    def drain(self) -> list[Any]:
        """Everything published since the last call, without waiting."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    async def batch(self) -> list[Any]:
        """Waits for at least one message, then returns all that are queued."""
        first = await self.queue.get()
        return [first, *self.drain()]


class Bus:
    def __init__(self) -> None:
        self._topics: defaultdict[str, set[Subscription]] = defaultdict(set)

    @contextmanager
    def subscribe(self, *topics: str) -> Iterator[Subscription]:
        subscription = Subscription()
        for topic in topics:
            self._topics[topic].add(subscription)
        try:
            yield subscription
        finally:
            for topic in topics:
                subscribers = self._topics.get(topic)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._topics[topic]

    def topics(self) -> list[str]:
        """The topics somebody listens to now."""
        return list(self._topics)

    def publish(self, topic: str, message: Any) -> None:
        for subscription in self._topics.get(topic, ()):
            subscription.queue.put_nowait(message)
