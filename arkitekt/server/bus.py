"""In-process fan-out of changes to the subscriptions that wait for them.

A publisher never waits: each subscriber has its own queue, and a topic without
subscribers costs a dictionary lookup. Publishing happens after the change is committed,
so a subscriber that reads the database after subscribing misses nothing. A queue is
unbounded unless its subscriber can catch up from the database, as a follower of an
assignation's events can.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Subscription:
    def __init__(self, limit: int | None = None, overflow: Any = None) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.limit, self.overflow = limit, overflow

    def put(self, message: Any) -> None:
        if self.limit is not None and self.queue.qsize() >= self.limit:
            # A subscriber this far behind reads from the database instead: forget what
            # it has not taken, and tell it so.
            self.drain()
            self.queue.put_nowait(self.overflow)
        self.queue.put_nowait(message)

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
    def subscribe(
        self, *topics: str, limit: int | None = None, overflow: Any = None
    ) -> Iterator[Subscription]:
        """`limit`: at most this many messages wait; past it, they are replaced by
        `overflow`, a message that tells the subscriber to catch up some other way."""
        subscription = Subscription(limit, overflow)
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

    def waiting(self, topic: str) -> int:
        """The most messages that wait for one subscriber of `topic`."""
        return max((s.queue.qsize() for s in self._topics.get(topic, ())), default=0)

    def topics(self) -> list[str]:
        """The topics somebody listens to now."""
        return list(self._topics)

    def publish(self, topic: str, message: Any) -> None:
        for subscription in self._topics.get(topic, ()):
            subscription.put(message)
