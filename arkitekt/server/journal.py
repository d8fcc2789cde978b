"""What this server remembers, so that hot paths skip the database.

Nodes never change once stored, and reservations change only when they end, so both are
kept by id. The journal keeps the events of recent assignations: a subscription to an
assignation this server is working on is served from memory; anything the journal lacks
(evicted, or written by another replica) is read from the database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .lifecycle import next_status

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """A dictionary that forgets the least recently used entries beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)


@dataclass
class Entry:
    """The events of one assignation, from sequence 1 without gaps."""

    user_id: str
    status: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sequence(self) -> int:
        return self.events[-1]["sequence"] if self.events else 0

    def after(self, sequence: int) -> list[dict[str, Any]]:
        return self.events[sequence:] if self.sequence >= sequence else []


class Journal:
    def __init__(self, size: int = 10_000) -> None:
        self._entries: Recent[str, Entry] = Recent(size)

    def start(self, assignation_id: str, user_id: str) -> None:
        self._entries.put(assignation_id, Entry(user_id, "QUEUED"))

    def record(self, events: list[dict[str, Any]]) -> None:
        """Appends events; an entry that would get a gap is dropped (the database has it)."""
        entry = self._entries.get(events[0]["assignation"])
        if entry is None:
            return
        if events[0]["sequence"] != entry.sequence + 1:
            self._entries.pop(events[0]["assignation"])
            return
        entry.events.extend(events)
        for event in events:
            entry.status = next_status(entry.status, event["kind"])

    def get(self, assignation_id: str) -> Entry | None:
        return self._entries.get(assignation_id)
