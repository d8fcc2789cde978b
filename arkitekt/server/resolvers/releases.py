"""Release: a version of an app, its bundle in central storage and its functions."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import releases_visible_to
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import Conflict, InvalidInput, NotFound
from arkitekt.server.platform import definition_hash
from arkitekt.server.tables import new_id

from .base import mutation, query
from .nodes import canonical_node, node_by_id, upsert_nodes

release_type = ObjectType("Release")
release_function_type = ObjectType("ReleaseFunction")

r, f = tables.releases, tables.release_functions
BUNDLE = "bundle.tar.gz"
"""The object of a release's blob that holds its bundle."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
DIGEST = re.compile(r"[0-9a-f]{64}")


def load_visible_release(connection: Connection, release_id: str, user: User) -> Any:
    statement = sa.select(r).where(r.c.id == release_id, releases_visible_to(user))
    return connection.execute(statement).first()


def _checked(input: dict[str, Any]) -> dict[str, Any]:
    for field in ("app", "version"):
        if not NAME.fullmatch(input[field]):
            raise InvalidInput(
                f"input.{field}",
                "use 1 to 100 letters, digits and . _ + - (from a letter or digit)",
            )
    entry = input["entry"]
    parts = entry.split("/")
    if not entry.endswith(".py") or any(p in ("", ".", "..") for p in parts) or len(entry) > 200:
        raise InvalidInput("input.entry", f"{entry!r} is not a Python file inside the bundle")
    if not DIGEST.fullmatch(input["digest"]):
        raise InvalidInput("input.digest", "must be a sha256 in lowercase hex")
    if any(not requirement.strip() for requirement in input["requirements"]):
        raise InvalidInput("input.requirements", "must not hold empty requirements")
    return input


@mutation.field("publishRelease")
async def resolve_publish_release(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    context = require(info, "AGENT")
    user = context.user
    _checked(input)
    interfaces = [function["interface"] for function in input["functions"]]
    if len(set(interfaces)) != len(interfaces):
        raise InvalidInput("input.functions", "interfaces must be unique")
    definitions = {
        function["interface"]: canonical_node(
            function["node"], f"input.functions[{function['interface']}].node"
        )
        for function in input["functions"]
    }
    o, c = tables.blob_objects, tables.node_creators

    def job(connection: Connection) -> Any:
        bundle = connection.execute(
            sa.select(o.c.size)
            .join(tables.blobs, tables.blobs.c.id == o.c.blob_id)
            .where(
                o.c.blob_id == input["blob"], o.c.key == BUNDLE, tables.blobs.c.user_id == user.id
            )
        ).first()
        if bundle is None:
            raise NotFound(f"blob of yours holding {BUNDLE}", input["blob"])
        published = connection.execute(
            sa.select(r.c.id).where(
                r.c.user_id == user.id, r.c.app == input["app"], r.c.version == input["version"]
            )
        ).first()
        if published is not None:
            raise Conflict(
                f"Version {input['version']} of {input['app']} is published already; "
                "publish a new version."
            )
        node_ids = upsert_nodes(connection, list(definitions.values()))
        release_id = new_id()
        connection.execute(
            r.insert().values(
                id=release_id,
                user_id=user.id,
                app=input["app"],
                version=input["version"],
                entry=input["entry"],
                requirements=[line.strip() for line in input["requirements"]],
                blob_id=input["blob"],
                digest=input["digest"],
                size=bundle.size,
            )
        )
        functions = {i: node_ids[definition_hash(d)] for i, d in definitions.items()}
        if functions:
            connection.execute(
                f.insert(),
                [
                    {"release_id": release_id, "interface": i, "node_id": n}
                    for i, n in functions.items()
                ],
            )
        # The publisher sees the nodes of the functions they published.
        known = set(
            connection.execute(
                sa.select(c.c.node_id).where(
                    c.c.user_id == user.id, c.c.node_id.in_(set(functions.values()))
                )
            ).scalars()
        )
        fresh = set(functions.values()) - known
        if fresh:
            connection.execute(c.insert(), [{"node_id": n, "user_id": user.id} for n in fresh])
        return connection.execute(sa.select(r).where(r.c.id == release_id)).one()

    try:
        return await context.platform.db.write(job)
    except sa.exc.IntegrityError:
        raise Conflict(
            f"Version {input['version']} of {input['app']} is published already; "
            "publish a new version."
        ) from None


@query.field("releases")
async def resolve_releases(_: None, info: GraphQLResolveInfo, app: str | None = None) -> list[Any]:
    context = context_of(info)
    statement = (
        sa.select(r).where(releases_visible_to(context.user)).order_by(r.c.created_at.desc())
    )
    if app is not None:
        statement = statement.where(r.c.app == app)
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@query.field("release")
async def resolve_release(_: None, info: GraphQLResolveInfo, id: str) -> Any:
    context = context_of(info)
    return await context.platform.db.read(
        lambda connection: load_visible_release(connection, id, context.user)
    )


@release_type.field("blob")
def resolve_release_blob(release: Any, info: GraphQLResolveInfo) -> str:
    return str(release.blob_id)


@release_type.field("functions")
async def resolve_release_functions(release: Any, info: GraphQLResolveInfo) -> list[Any]:
    statement = sa.select(f).where(f.c.release_id == release.id).order_by(f.c.interface)
    return await context_of(info).platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@release_type.field("publisher")
async def resolve_release_publisher(release: Any, info: GraphQLResolveInfo) -> Any:
    u = tables.users
    statement = sa.select(u).where(u.c.id == release.user_id)
    return await context_of(info).platform.db.read(
        lambda connection: connection.execute(statement).one()
    )


@release_function_type.field("node")
def resolve_release_function_node(function: Any, info: GraphQLResolveInfo) -> Any:
    return node_by_id(context_of(info).platform, function.node_id)


bindables = [release_type, release_function_type]
