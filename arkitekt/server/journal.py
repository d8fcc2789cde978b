"""What this server remembers, so that hot paths skip the database.

Nodes never change once stored, and reservations change only when they end, so both are
kept by id. The journal keeps the events of recent assignations: a subscription to an
assignation this server is working on is served from memory; anything the journal lacks
(evicted, or written by another replica) is read from the database.

The journal is for the many short calls, and holds a bounded amount: an assignation
leaves it once its events take more than `per_entry` bytes (as JSON, about), and the
least recently used go while all of them take more than `budget`. No stream, however
long, grows the server's memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from arkitekt.sizes import event_size

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
    weight: int = 0
    """About how many bytes its events take."""

    @property
    def sequence(self) -> int:
        return self.events[-1]["sequence"] if self.events else 0

    def after(self, sequence: int) -> list[dict[str, Any]]:
        return self.events[sequence:] if self.sequence >= sequence else []


def weigh(event: dict[str, Any]) -> int:
    return event_size(event.get("yields"), event.get("message"), event.get("traceback"))


class Journal:
    def __init__(
        self, size: int = 10_000, budget: int = 64 << 20, per_entry: int = 1 << 20
    ) -> None:
        self.size, self.budget, self.per_entry = size, budget, per_entry
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.held = 0
        """About how many bytes all entries take."""

    def start(self, assignation_id: str, user_id: str) -> None:
        self._drop(assignation_id)
        self._entries[assignation_id] = Entry(user_id, "QUEUED")
        while len(self._entries) > self.size:
            self._drop(next(iter(self._entries)))

    def record(self, events: list[dict[str, Any]]) -> None:
        """Appends events; an entry that would get a gap, or grow past `per_entry`, is
        dropped (the database has it)."""
        assignation_id = events[0]["assignation"]
        entry = self._entries.get(assignation_id)
        if entry is None:
            return
        weight = sum(weigh(event) for event in events)
        if events[0]["sequence"] != entry.sequence + 1 or entry.weight + weight > self.per_entry:
            self._drop(assignation_id)
            return
        entry.events.extend(events)
        entry.weight += weight
        self.held += weight
        for event in events:
            entry.status = next_status(entry.status, event["kind"])
        self._entries.move_to_end(assignation_id)
        while self.held > self.budget:
            self._drop(next(iter(self._entries)))

    def get(self, assignation_id: str) -> Entry | None:
        entry = self._entries.get(assignation_id)
        if entry is not None:
            self._entries.move_to_end(assignation_id)
        return entry

    def _drop(self, assignation_id: str) -> None:
        entry = self._entries.pop(assignation_id, None)
        if entry is not None:
            self.held -= entry.weight
