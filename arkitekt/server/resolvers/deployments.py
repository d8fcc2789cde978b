"""Deployment: a release running on a host, and what the host reports of it.

Deploying writes what the host must run and pokes the host (on whichever replica holds
its connection); the host does the rest and reports each state. Each app process gets a
token of its own, with the AGENT scope of the user who deployed it, revoked once the
app stopped for good (the host retires it) or the deployment stopped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import relay, tables
from arkitekt.server.access import deployments_visible_to, hosts_visible_to
from arkitekt.server.auth import digest as digest_of
from arkitekt.server.auth import insert_token, new_token
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import Conflict, InvalidInput, NotFound
from arkitekt.server.platform import DEPLOYMENTS_TOPIC, Platform, host_topic, revoked_topic
from arkitekt.server.tables import new_id, now

from .agents import load_visible_agent, team_ids
from .base import event_source, mutation, query
from .hosts import poke
from .releases import load_visible_release

deployment_type = ObjectType("Deployment")

d, h, k = tables.deployments, tables.hosts, tables.tokens
logs, dt = tables.deployment_logs, tables.deployment_tokens
MAX_LOGS = 1000
"""Lines kept per deployment: the latest."""
MAX_LINE = 4000
FORCED = "stopped without waiting for its host (undeploy --force)"


def _load(connection: Connection, deployment_id: str) -> Any:
    return connection.execute(sa.select(d).where(d.c.id == deployment_id)).one()


def _hosted(connection: Connection, deployment_id: str, user_id: str) -> Any:
    """A deployment on a host that the user's host token runs."""
    statement = (
        sa.select(d)
        .join(h, h.c.id == d.c.host_id)
        .where(d.c.id == deployment_id, h.c.user_id == user_id)
    )
    return connection.execute(statement).first()


@mutation.field("deploy")
async def resolve_deploy(
    _: None, info: GraphQLResolveInfo, release: str, host: str, teams: list[str] | None = None
) -> Any:
    context = require(info, "AGENT")
    user, platform = context.user, context.platform
    names = list(dict.fromkeys(teams or []))

    def job(connection: Connection) -> Any:
        found = load_visible_release(connection, release, user)
        if found is None:
            raise NotFound("release", release)
        target = connection.execute(
            sa.select(h.c.id).where(h.c.id == host, hosts_visible_to(user))
        ).first()
        if target is None:
            raise NotFound("host you may deploy to", host)
        team_ids(connection, user, names)  # teams of the user's, or NOT_FOUND
        current = connection.execute(
            sa.select(d).where(d.c.host_id == host, d.c.app == found.app)
        ).first()
        values = {
            "release_id": found.id,
            "user_id": user.id,
            "teams": names,
            "updated_at": now(),
        }
        if current is None:
            deployment_id = new_id()
            connection.execute(
                d.insert().values(
                    id=deployment_id, host_id=host, app=found.app, status="STARTING", **values
                )
            )
        else:
            deployment_id = current.id
            if current.status in ("STOPPING", "STOPPED"):
                values.update(status="STARTING", message=None, agent_id=None, restarts=0)
            elif current.release_id != found.id:
                values["message"] = f"Upgrading to {found.version}."
            connection.execute(d.update().where(d.c.id == deployment_id).values(**values))
        poke(platform, host)
        platform.announce(DEPLOYMENTS_TOPIC, deployment_id)
        return _load(connection, deployment_id)

    row = await platform.db.write(job)
    _changed(platform, row)
    return row


def _changed(platform: Platform, row: Any) -> None:
    """After the write: the host and the deployment's watchers hear of it."""
    platform.bus.publish(host_topic(row.host_id), relay.POKE)
    platform.bus.publish(DEPLOYMENTS_TOPIC, row.id)


@mutation.field("undeploy")
async def resolve_undeploy(
    _: None, info: GraphQLResolveInfo, deployment: str, force: bool = False
) -> Any:
    context = require(info, "AGENT")
    platform = context.platform

    def job(connection: Connection) -> tuple[Any, list[str]]:
        statement = sa.select(d).where(d.c.id == deployment, deployments_visible_to(context.user))
        found = connection.execute(statement).first()
        if found is None:
            raise NotFound("deployment", deployment)
        if found.status == "STOPPED" or (found.status == "STOPPING" and not force):
            return found, []
        values: dict[str, Any] = {"status": "STOPPING", "message": None, "updated_at": now()}
        if force:
            values.update(status="STOPPED", message=FORCED, agent_id=None)
        connection.execute(d.update().where(d.c.id == deployment).values(**values))
        revoked = _revoke_tokens(connection, deployment) if force else []
        for digest in revoked:
            platform.announce(revoked_topic(digest), None)
        poke(platform, found.host_id)
        platform.announce(DEPLOYMENTS_TOPIC, deployment)
        return _load(connection, deployment), revoked

    row, revoked = await platform.db.write(job)
    for digest in revoked:
        await platform.revoked(digest)
    _changed(platform, row)
    return row


@mutation.field("deploymentToken")
async def resolve_deployment_token(_: None, info: GraphQLResolveInfo, deployment: str) -> str:
    context = require(info, "HOST")
    secret = new_token()

    def job(connection: Connection) -> None:
        found = _hosted(connection, deployment, context.user.id)
        if found is None:
            raise NotFound("deployment", deployment)
        if found.status in ("STOPPING", "STOPPED"):
            raise Conflict(f"Deployment {deployment} is {found.status.lower()}: it runs no app.")
        host = connection.execute(sa.select(h.c.name).where(h.c.id == found.host_id)).scalar()
        name = f"{found.app} on {host}"[:100]
        token_id = insert_token(connection, found.user_id, name, secret, ["AGENT"])
        connection.execute(dt.insert().values(token_id=token_id, deployment_id=deployment))

    await context.platform.db.write(job)
    return secret


@mutation.field("retireDeploymentToken")
async def resolve_retire_deployment_token(
    _: None, info: GraphQLResolveInfo, deployment: str, token: str
) -> bool:
    context = require(info, "HOST")
    platform = context.platform

    def job(connection: Connection) -> list[str]:
        if _hosted(connection, deployment, context.user.id) is None:
            raise NotFound("deployment", deployment)
        revoked = _revoke_tokens(connection, deployment, only=digest_of(token))
        for each in revoked:
            platform.announce(revoked_topic(each), None)
        return revoked

    revoked = await platform.db.write(job)
    for each in revoked:
        await platform.revoked(each)
    return bool(revoked)


@mutation.field("reportDeployment")
async def resolve_report_deployment(
    _: None,
    info: GraphQLResolveInfo,
    deployment: str,
    release: str | None = None,
    status: str | None = None,
    message: str | None = None,
    agent: str | None = None,
    restarts: int | None = None,
    logs: list[str] | None = None,
) -> Any:
    context = require(info, "HOST")
    platform = context.platform
    if restarts is not None and restarts < 0:
        raise InvalidInput("restarts", "must not be negative")
    if len(logs or ()) > MAX_LOGS:
        raise InvalidInput("logs", f"send at most {MAX_LOGS} lines at once")

    def job(connection: Connection) -> tuple[Any, list[str], bool]:
        found = _hosted(connection, deployment, context.user.id)
        if found is None:
            raise NotFound("deployment", deployment)
        if logs:
            _append_logs(connection, deployment, logs)
        values = _state(found, release, status, message, restarts)
        if agent is not None and values:
            a = tables.agents
            owned = sa.select(a.c.id).where(a.c.id == agent, a.c.user_id == found.user_id)
            if connection.execute(owned).first() is None:
                raise NotFound("agent of the deployment's user", agent)
            values["agent_id"] = agent
        revoked: list[str] = []
        if values:
            connection.execute(d.update().where(d.c.id == deployment).values(**values))
            platform.announce(DEPLOYMENTS_TOPIC, deployment)
            if values.get("status") == "STOPPED":
                revoked = _revoke_tokens(connection, deployment)
                for digest in revoked:
                    platform.announce(revoked_topic(digest), None)
        return _load(connection, deployment), revoked, bool(values)

    row, revoked, changed = await platform.db.write(job)
    for digest in revoked:
        await platform.revoked(digest)
    if changed:
        platform.bus.publish(DEPLOYMENTS_TOPIC, row.id)
    return row


def _state(
    found: Any, release: str | None, status: str | None, message: str | None, restarts: int | None
) -> dict[str, Any]:
    """What a report changes: nothing when it speaks of another release, or of an app
    that was asked to stop (but for its stopping)."""
    if release is not None and release != found.release_id:
        return {}
    if status is None and message is None and restarts is None:
        return {}
    if found.status == "STOPPED" or (found.status == "STOPPING" and status != "STOPPED"):
        return {}
    if status == "STOPPED" and found.status != "STOPPING":
        return {}  # only an undeployed app stops for good
    values: dict[str, Any] = {"updated_at": now()}
    if status is not None:
        values.update(status=status, message=message)
        if status == "STOPPED":
            values["agent_id"] = None
    elif message is not None:
        values["message"] = message
    if restarts is not None:
        values["restarts"] = restarts
    return values


def _append_logs(connection: Connection, deployment: str, lines: list[str]) -> None:
    moment = now()
    connection.execute(
        logs.insert(),
        [
            {"deployment_id": deployment, "line": line[:MAX_LINE], "created_at": moment}
            for line in lines
        ],
    )
    oldest_kept = (
        sa.select(logs.c.id)
        .where(logs.c.deployment_id == deployment)
        .order_by(logs.c.id.desc())
        .offset(MAX_LOGS - 1)
        .limit(1)
        .scalar_subquery()
    )
    connection.execute(
        logs.delete().where(logs.c.deployment_id == deployment, logs.c.id < oldest_kept)
    )


def _revoke_tokens(connection: Connection, deployment: str, only: str | None = None) -> list[str]:
    """Revokes the tokens made for the deployment's apps (or the one of digest `only`);
    returns their digests."""
    mine = sa.select(dt.c.token_id).where(dt.c.deployment_id == deployment)
    valid = sa.and_(k.c.id.in_(mine), k.c.revoked_at.is_(None))
    if only is not None:
        valid = sa.and_(valid, k.c.digest == only)
    digests = list(connection.execute(sa.select(k.c.digest).where(valid)).scalars())
    if digests:
        connection.execute(k.update().where(valid).values(revoked_at=now()))
    return digests


@query.field("deployments")
async def resolve_deployments(
    _: None, info: GraphQLResolveInfo, host: str | None = None, all: bool = False
) -> list[Any]:
    context = context_of(info)
    statement = (
        sa.select(d).where(deployments_visible_to(context.user)).order_by(d.c.created_at.desc())
    )
    if host is not None:
        statement = statement.where(d.c.host_id == host)
    if not all:
        statement = statement.where(d.c.status != "STOPPED")
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@query.field("deployment")
async def resolve_deployment(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = context_of(info)
    statement = sa.select(d).where(d.c.id == id, deployments_visible_to(context.user))
    return await context.platform.db.read(lambda connection: connection.execute(statement).first())


@deployment_type.field("release")
async def resolve_deployment_release(deployment: Any, info: GraphQLResolveInfo) -> Any:
    r = tables.releases
    statement = sa.select(r).where(r.c.id == deployment.release_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@deployment_type.field("host")
async def resolve_deployment_host(deployment: Any, info: GraphQLResolveInfo) -> Any:
    statement = sa.select(h).where(h.c.id == deployment.host_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@deployment_type.field("agent")
async def resolve_deployment_agent(deployment: Any, info: GraphQLResolveInfo) -> Any:
    if deployment.agent_id is None:
        return None
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_visible_agent(connection, deployment.agent_id, context.user)
    )


@deployment_type.field("user")
async def resolve_deployment_user(deployment: Any, info: GraphQLResolveInfo) -> Any:
    u = tables.users
    statement = sa.select(u).where(u.c.id == deployment.user_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@deployment_type.field("logs")
async def resolve_deployment_logs(
    deployment: Any, info: GraphQLResolveInfo, limit: int = 100
) -> list[Any]:
    if not 0 < limit <= MAX_LOGS:
        raise InvalidInput("limit", f"must be 1 to {MAX_LOGS}")
    statement = (
        sa.select(logs)
        .where(logs.c.deployment_id == deployment.id)
        .order_by(logs.c.id.desc())
        .limit(limit)
    )
    rows = await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )
    return rows[::-1]


@event_source("watchDeployments")
async def watch_deployments(_: None, info: GraphQLResolveInfo) -> AsyncGenerator[Any, None]:
    context = context_of(info)
    with context.platform.bus.subscribe(DEPLOYMENTS_TOPIC) as changes:
        visible = deployments_visible_to(context.user)
        current = sa.select(d).where(visible, d.c.status != "STOPPED").order_by(d.c.created_at)
        for row in await context.platform.db.read(
            lambda connection: list(connection.execute(current).all())
        ):
            yield row
        while True:
            changed = list(dict.fromkeys(await changes.batch()))
            statement = sa.select(d).where(
                d.c.id.in_(changed), deployments_visible_to(context.user)
            )
            rows = await context.platform.db.read(
                lambda connection, statement=statement: list(  # type: ignore[misc]
                    connection.execute(statement).all()
                )
            )
            for row in rows:
                yield row


bindables = [deployment_type]
