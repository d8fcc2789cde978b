"""Who sees what, as conditions on the tables: every resolver that reads by id or lists
adds the one for its type, so that another team's object is simply not found.

- An agent: its owner (whose token registered it) and the members of the teams it serves.
- An implementation: whoever sees its agent.
- A node: whoever sees an agent that implements (or implemented) it, and whoever stored it
  with createNode. Nodes are shared by content: storing the same definition finds the
  same node, which shows its contract (written by the one asking) and nothing else.
- A reservation, an assignation and its events: the caller who made them.
- A blob: its owner, and the members of the owner's teams (see `blobs`).
- A team: its members (and platform admins).
- A release: its publisher, and the members of the publisher's teams (as its bundle).
- A host: its owner (whose host token runs it) and the members of the teams it is open
  to; they, and only they, deploy to it.
- A deployment: whoever may deploy to its host.

Calls go only to agents the caller sees: the router checks each candidate
(`router.Live.serves`) from memory.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import tables
from .auth import User


def agents_visible_to(user: User) -> sa.ColumnElement[bool]:
    g, t = tables.agents, tables.agent_teams
    served = sa.select(t.c.agent_id).where(t.c.team_id.in_(user.teams))
    return sa.or_(g.c.user_id == user.id, g.c.id.in_(served))


def nodes_visible_to(user: User) -> sa.ColumnElement[bool]:
    n, i, g, c = tables.nodes, tables.implementations, tables.agents, tables.node_creators
    implemented = (
        sa.select(i.c.node_id).join(g, g.c.id == i.c.agent_id).where(agents_visible_to(user))
    )
    created = sa.select(c.c.node_id).where(c.c.user_id == user.id)
    return sa.or_(n.c.id.in_(implemented), n.c.id.in_(created))


def teams_visible_to(user: User) -> sa.ColumnElement[bool]:
    if user.is_admin:
        return sa.true()
    return tables.teams.c.id.in_(user.teams)


def linked_teams(link: sa.Table, key: sa.Column[str], owner: str, user: User) -> sa.Select[Any]:
    """The teams that `link` ties to `owner` (an agent, a host) and that the user sees."""
    t = tables.teams
    return (
        sa.select(t)
        .join(link, link.c.team_id == t.c.id)
        .where(key == owner, teams_visible_to(user))
        .order_by(t.c.name)
    )


def releases_visible_to(user: User) -> sa.ColumnElement[bool]:
    r, m = tables.releases, tables.memberships
    teammates = sa.select(m.c.user_id).where(m.c.team_id.in_(user.teams))
    return sa.or_(r.c.user_id == user.id, r.c.user_id.in_(teammates))


def hosts_visible_to(user: User) -> sa.ColumnElement[bool]:
    """The hosts the user may deploy to."""
    h, t = tables.hosts, tables.host_teams
    open_to = sa.select(t.c.host_id).where(t.c.team_id.in_(user.teams))
    return sa.or_(h.c.user_id == user.id, h.c.id.in_(open_to))


def deployments_visible_to(user: User) -> sa.ColumnElement[bool]:
    h = tables.hosts
    return tables.deployments.c.host_id.in_(sa.select(h.c.id).where(hosts_visible_to(user)))
