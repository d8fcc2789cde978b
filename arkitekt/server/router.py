"""Which agents are connected to this server, what they implement, and who runs the next call.

The router is the in-memory view of live agents that routing needs on every assignation;
the database holds the same facts durably (agent status, implementations).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

ROUND_ROBIN = "ROUND_ROBIN"
LEAST_BUSY = "LEAST_BUSY"


class Caller(Protocol):
    """Who a call is routed for: only agents they may see serve it."""

    @property
    def id(self) -> str: ...
    @property
    def teams(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Live:
    """A node an agent connected here can run now, and who may use it."""

    agent_id: str
    implementation_id: str
    node_id: str
    interface: str
    owner: str
    """The user whose token started the agent."""
    teams: frozenset[str]
    """The teams the agent serves."""

    def serves(self, caller: Caller) -> bool:
        return self.owner == caller.id or not self.teams.isdisjoint(caller.teams)


class Router:
    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, Live]] = {}
        self._by_agent: dict[str, list[Live]] = {}
        self._connections: dict[str, object] = {}
        self._cursors: Counter[str] = Counter()
        self._running: dict[str, str] = {}  # assignation id -> agent id
        self.load: Counter[str] = Counter()  # agent id -> running assignations
        self._withdrawn: set[str] = set()

    def connect(self, agent_id: str, connection: object, offers: Iterable[Live]) -> None:
        """Marks the agent live on `connection`, replacing an older connection."""
        self._connections[agent_id] = connection
        self._withdrawn.discard(agent_id)
        self.offer(agent_id, offers)

    def offer(self, agent_id: str, offers: Iterable[Live]) -> None:
        """Replaces what a connected agent implements (it registered a new catalogue)."""
        if agent_id not in self._connections or agent_id in self._withdrawn:
            offers = []
        self._set_offers(agent_id, offers)

    def remote(self, agent_id: str, offers: Iterable[Live]) -> None:
        """What an agent connected to another replica offers (nothing: it is not live)."""
        if agent_id not in self._connections:
            self._set_offers(agent_id, offers)

    def _set_offers(self, agent_id: str, offers: Iterable[Live]) -> None:
        for live in self._by_agent.pop(agent_id, []):
            self._by_node.get(live.node_id, {}).pop(agent_id, None)
        offers = list(offers)
        if offers:
            self._by_agent[agent_id] = offers
        for live in offers:
            self._by_node.setdefault(live.node_id, {})[agent_id] = live

    def disconnect(self, agent_id: str, connection: object) -> bool:
        """Forgets the agent unless a newer connection replaced `connection`."""
        if self._connections.get(agent_id) is not connection:
            return False
        del self._connections[agent_id]
        self._withdrawn.discard(agent_id)
        self.offer(agent_id, [])
        return True

    def withdraw(self, agent_id: str) -> None:
        """Routes nothing more to the agent; its connection ends later as usual."""
        self.offer(agent_id, [])
        self._withdrawn.add(agent_id)

    def is_withdrawn(self, agent_id: str) -> bool:
        return agent_id in self._withdrawn

    def connected(self) -> list[str]:
        """The agents connected to this replica."""
        return list(self._connections)

    def is_connected(self, agent_id: str) -> bool:
        """Whether the agent's connection is held by this replica."""
        return agent_id in self._connections

    def is_live(self, agent_id: str) -> bool:
        """Whether the agent can be routed to, through any replica."""
        return agent_id in self._by_agent

    def nodes_of(self, agent_id: str) -> set[str]:
        return {live.node_id for live in self._by_agent.get(agent_id, [])}

    def live(self, node_id: str, caller: Caller, allowed: Collection[str] = ()) -> list[Live]:
        """What can run the node for `caller` now (only agents in `allowed`, if any)."""
        offers = self._by_node.get(node_id, {})
        return [
            offers[a]
            for a in sorted(offers)
            if (not allowed or a in allowed) and offers[a].serves(caller)
        ]

    def choose(
        self,
        reservation_id: str,
        node_id: str,
        strategy: str,
        caller: Caller,
        allowed: Collection[str] = (),
    ) -> Live | None:
        candidates = self.live(node_id, caller, allowed)
        if not candidates:
            return None
        turn = self._cursors[reservation_id]
        self._cursors[reservation_id] += 1
        if strategy == LEAST_BUSY:
            least = min(self.load[c.agent_id] for c in candidates)
            candidates = [c for c in candidates if self.load[c.agent_id] == least]
        return candidates[turn % len(candidates)]

    def started(self, assignation_id: str, agent_id: str) -> None:
        if assignation_id not in self._running:
            self._running[assignation_id] = agent_id
            self.load[agent_id] += 1

    def finished(self, assignation_id: str) -> None:
        agent_id = self._running.pop(assignation_id, None)
        if agent_id is not None:
            self.load[agent_id] -= 1
