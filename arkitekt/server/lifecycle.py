"""The life of an assignation: its statuses, and which event leads to which."""

from __future__ import annotations

TERMINAL = frozenset({"DONE", "ERROR", "CRITICAL", "CANCELLED", "DISCONNECTED"})
"""Statuses (and event kinds) that end an assignation: the first one wins."""
ACTIVE = ("QUEUED", "ASSIGNED", "RUNNING", "CANCELLING")

_STATUS_OF_EVENT = {"PROGRESS": "RUNNING", "LOG": "RUNNING", "YIELD": "RUNNING"}


def next_status(status: str, kind: str) -> str:
    """The assignation's status after an event of `kind`."""
    if status == "CANCELLING" and kind in _STATUS_OF_EVENT:
        return status
    return _STATUS_OF_EVENT.get(kind, kind)
