"""The durable state of the platform, as SQLAlchemy Core tables.

Ids are random hex strings chosen by the server, so that a row's id is known before its
transaction commits and ids reveal nothing about other users' activity.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always reads back timezone-aware (SQLite drops the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite's DATETIME text ("2026-12-05 20:31:40.000123"), written without
        # SQLAlchemy's generic formatting: every event row has a timestamp.
        def to_text(value: datetime | None) -> str | None:
            utc = self.process_bind_param(value, dialect)
            return None if utc is None else utc.isoformat(" ", "microseconds")

        return to_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[str]:
    return Column("id", String(32), primary_key=True, default=new_id)


def _created() -> Column[datetime]:
    return Column("created_at", UTCDateTime, nullable=False, default=now)


users = Table(
    "users",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    # What the user's blobs hold, kept as objects are stored and blobs freed (a quota's
    # check reads one row instead of summing every object).
    Column("stored_bytes", BigInteger, nullable=False, default=0, server_default="0"),
    _created(),
)

tokens = Table(
    "tokens",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    # sha256 of the token: the token itself is shown once and never stored.
    Column("digest", String(64), nullable=False, unique=True),
    # What the token may do, as space-separated Scope values (see `access.SCOPES`).
    Column("scopes", String(200), nullable=False, default="AGENT CALL"),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    _created(),
)

teams = Table(
    "teams",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    _created(),
)

memberships = Table(
    "memberships",
    metadata,
    Column("team_id", ForeignKey("teams.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
    # MEMBER or ADMIN: a team's admins manage its members.
    Column("role", String(20), nullable=False, default="MEMBER"),
    _created(),
)

nodes = Table(
    "nodes",
    metadata,
    _id(),
    Column("hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("description", Text),
    Column("args", JSON, nullable=False),
    Column("returns", JSON, nullable=False),
    # The record types MODEL ports refer to, by identifier (canonical form).
    Column("models", JSON, nullable=False, default=list),
    # Safe to run again: work lost with an agent is re-run elsewhere.
    Column("idempotent", Boolean, nullable=False, default=False, server_default=sa_false()),
    _created(),
)

agents = Table(
    "agents",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("instance", String(200), nullable=False, unique=True),
    Column("hostname", String(200)),
    Column("status", String(20), nullable=False, default="DISCONNECTED"),
    # sha256 over the (interface, node hash) pairs: an unchanged catalogue writes nothing.
    Column("catalogue", String(64)),
    Column("connected_at", UTCDateTime),
    Column("last_seen", UTCDateTime),
    # The lease: each new connection takes a higher epoch; writes under an older one fail.
    Column("epoch", Integer, nullable=False, default=0, server_default="0"),
    # The process behind the instance: a new session means the old one's work is lost.
    Column("session", String(64)),
    # The server replica holding its connection.
    Column("replica", String(32)),
    _created(),
    Index(None, "status"),  # the sweeper's connected agents, not every agent there ever was
)

replicas = Table(
    "replicas",
    metadata,
    _id(),
    Column("started_at", UTCDateTime, nullable=False, default=now),
    # Refreshed by the replica's sweeper; a stale one's agents are disconnected.
    Column("last_seen", UTCDateTime, nullable=False, default=now),
)

# The teams an agent serves: their members see and call what it implements.
agent_teams = Table(
    "agent_teams",
    metadata,
    Column("agent_id", ForeignKey("agents.id"), primary_key=True),
    Column("team_id", ForeignKey("teams.id"), primary_key=True, index=True),
)

# Who stored a node with createNode: nodes are shared by content, so a node is visible to
# each of its creators (and to whoever sees an agent implementing it).
node_creators = Table(
    "node_creators",
    metadata,
    Column("node_id", ForeignKey("nodes.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)

implementations = Table(
    "implementations",
    metadata,
    _id(),
    Column("agent_id", ForeignKey("agents.id"), nullable=False),
    Column("node_id", ForeignKey("nodes.id"), nullable=False, index=True),
    Column("interface", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    _created(),
    # When its agent last offered it (registered, or revived): the newest offer of an
    # app's interface supersedes the nodes offered under that interface before.
    Column("offered_at", UTCDateTime, nullable=False, default=now),
    UniqueConstraint("agent_id", "interface", "node_id"),
    Index(None, "interface"),  # the newer offers of an interface, for `Node.superseded`
)

reservations = Table(
    "reservations",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("node_id", ForeignKey("nodes.id"), nullable=False),
    Column("strategy", String(20), nullable=False),
    Column("min_instances", Integer, nullable=False, default=1),
    # Agent ids allowed to serve it; empty: any instance.
    Column("agents", JSON, nullable=False, default=list),
    Column("implicit", Boolean, nullable=False, default=False),
    Column("ended_at", UTCDateTime),
    _created(),
)

assignations = Table(
    "assignations",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("node_id", ForeignKey("nodes.id"), nullable=False),
    Column("reservation_id", ForeignKey("reservations.id"), nullable=False),
    Column("agent_id", ForeignKey("agents.id")),
    Column("interface", String(200)),
    Column("args", JSON, nullable=False),
    Column("reference", String(200)),
    Column("status", String(20), nullable=False),
    # The sequence number of the latest event.
    Column("sequence", Integer, nullable=False, default=0),
    # The agent's index of the latest event it reported (duplicates are skipped).
    Column("reported", Integer, nullable=False, default=0, server_default="0"),
    # How many times it was started; idempotent work lost with an agent runs again.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    # Runs on without a follower; otherwise it is cancelled once nobody followed it for
    # the caller grace (its caller went away).
    Column("detached", Boolean, nullable=False, default=False, server_default=sa_false()),
    # When a replica last had a subscriber following its events.
    Column("followed_at", UTCDateTime),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=now),
    UniqueConstraint("user_id", "reference"),
    Index(None, "user_id", "created_at"),
    Index(None, "agent_id", "status"),
    Index(None, "node_id", "status"),
    Index(None, "status"),  # the sweeper's unfinished work, not the history
    Index(None, "updated_at"),  # the longest ended first, when a retention deletes them
)

blobs = Table(
    "blobs",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    _created(),
    Index(None, "created_at"),  # the oldest first, when a retention frees them
)

# The named objects inside a blob (a file, or the keys of a zarr array). Objects are
# written once: a blob is immutable once its objects exist.
blob_objects = Table(
    "blob_objects",
    metadata,
    Column("blob_id", ForeignKey("blobs.id"), primary_key=True),
    Column("key", String(1000), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(200), nullable=False),
    _created(),
)

events = Table(
    "assignation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("assignation_id", ForeignKey("assignations.id"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    # YIELD: the values yielded, oldest first (an agent merges yields that queue up).
    Column("yields", JSON),
    Column("message", Text),
    Column("progress", Float),
    Column("level", String(10)),
    Column("error_type", String(200)),
    Column("traceback", Text),
    _created(),
    UniqueConstraint("assignation_id", "sequence"),
)

# A version of an app: its bundle (a blob), requirements and functions. Published once.
releases = Table(
    "releases",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("app", String(100), nullable=False),
    Column("version", String(100), nullable=False),
    Column("entry", String(200), nullable=False),
    Column("requirements", JSON, nullable=False, default=list),
    Column("blob_id", ForeignKey("blobs.id"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    _created(),
    UniqueConstraint("user_id", "app", "version"),
)

release_functions = Table(
    "release_functions",
    metadata,
    Column("release_id", ForeignKey("releases.id"), primary_key=True),
    Column("interface", String(200), primary_key=True),
    Column("node_id", ForeignKey("nodes.id"), nullable=False),
)

# Machines that run releases, supervised by `arkitekt host`.
hosts = Table(
    "hosts",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("hostname", String(200)),
    Column("cpus", Integer),
    Column("memory", Float),
    Column("gpus", JSON, nullable=False, default=list),
    Column("platform", String(200)),
    Column("status", String(20), nullable=False, default="DISCONNECTED"),
    # Like an agent's lease: a newer connection of the host takes over, the older one ends.
    Column("epoch", Integer, nullable=False, default=0),
    Column("replica", String(32)),
    Column("connected_at", UTCDateTime),
    Column("last_seen", UTCDateTime),
    _created(),
)

# The teams whose members may deploy to a host.
host_teams = Table(
    "host_teams",
    metadata,
    Column("host_id", ForeignKey("hosts.id"), primary_key=True),
    Column("team_id", ForeignKey("teams.id"), primary_key=True, index=True),
)

# One app on one host: deploying another release of the app upgrades it in place.
deployments = Table(
    "deployments",
    metadata,
    _id(),
    Column("host_id", ForeignKey("hosts.id"), nullable=False),
    Column("app", String(100), nullable=False),
    Column("release_id", ForeignKey("releases.id"), nullable=False),
    # Whose agent it runs as (who deployed it last).
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    # The names of the teams its agent serves.
    Column("teams", JSON, nullable=False, default=list),
    Column("status", String(20), nullable=False),
    Column("message", Text),
    Column("agent_id", ForeignKey("agents.id")),
    Column("restarts", Integer, nullable=False, default=0),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False, default=now),
    UniqueConstraint("host_id", "app"),
)

deployment_logs = Table(
    "deployment_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", ForeignKey("deployments.id"), nullable=False),
    Column("line", Text, nullable=False),
    _created(),
    Index(None, "deployment_id", "id"),
)

# The tokens the platform made for deployments' apps: revoked when the deployment stops.
deployment_tokens = Table(
    "deployment_tokens",
    metadata,
    Column("token_id", ForeignKey("tokens.id"), primary_key=True),
    Column("deployment_id", ForeignKey("deployments.id"), nullable=False, index=True),
)
