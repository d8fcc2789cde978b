"""Node: the contract of a function, stored once per content hash."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import sqlalchemy as sa
from ariadne import ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy.engine import Connection

from arkitekt.server import tables
from arkitekt.server.access import agents_visible_to, nodes_visible_to
from arkitekt.server.auth import User
from arkitekt.server.context import context_of, require
from arkitekt.server.errors import InvalidInput
from arkitekt.server.platform import Platform, definition_hash
from arkitekt.server.tables import new_id

from .base import mutation, query

node_type = ObjectType("Node")

MAX_DEPTH = 5  # the SDK's Port fragment reads four levels of children under a port
SCALARS = {"INT", "FLOAT", "STRING", "BOOL", "DATETIME"}
ONE_CHILD = {"LIST", "DICT"}


def _strip(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def canonical_port(
    port: dict[str, Any], where: str, models: set[str], depth: int = 1
) -> dict[str, Any]:
    """Checks a port and returns its canonical form: no nulls, no empty lists.

    `models` holds the identifiers of the node's models, which MODEL ports refer to.
    """
    key, kind = port.get("key"), port["kind"]
    if not key:
        raise InvalidInput(f"{where}.key", "must not be empty")
    where = f"{where}[{key}]"
    children = port.get("children") or []
    if depth > MAX_DEPTH and children:
        raise InvalidInput(where, f"ports nest at most {MAX_DEPTH} levels deep")
    if kind in ONE_CHILD and len(children) != 1:
        raise InvalidInput(f"{where}.children", f"a {kind} port has exactly one child")
    if kind == "UNION" and len(children) < 2:
        raise InvalidInput(f"{where}.children", "a UNION port has at least two children")
    if kind in SCALARS | {"ENUM", "STRUCTURE", "MODEL"} and children:
        hint = "; its fields belong in the node's models" if kind == "MODEL" else ""
        raise InvalidInput(f"{where}.children", f"a {kind} port has no children{hint}")
    if kind == "ENUM" and not port.get("choices"):
        raise InvalidInput(f"{where}.choices", "an ENUM port needs at least one choice")
    if kind in {"MODEL", "STRUCTURE"} and not port.get("identifier"):
        raise InvalidInput(f"{where}.identifier", f"a {kind} port needs an identifier")
    if kind == "MODEL" and port["identifier"] not in models:
        raise InvalidInput(
            f"{where}.identifier", f"no model {port['identifier']!r} in the node's models"
        )
    result = _strip(
        {**port, "children": None, "choices": None, "constraints": None, "widget": None}
    )
    if children:
        result["children"] = [
            canonical_port(child, f"{where}.children", models, depth + 1) for child in children
        ]
    if port.get("choices"):
        result["choices"] = [_strip(choice) for choice in port["choices"]]
    constraints = _strip(port.get("constraints") or {})
    if constraints:
        result["constraints"] = constraints
    widget = _strip(port.get("widget") or {})
    if widget:
        result["widget"] = _check_widget(widget, kind, f"{where}.widget")
    return result


WIDGET_KINDS = {
    "TEXT": {"STRING"},
    "PARAGRAPH": {"STRING"},
    "COLOR": {"STRING"},
    "SLIDER": {"INT", "FLOAT"},
}
"""The kinds of port each widget fits."""


def _check_widget(widget: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    """Refuses a widget forms could not show for a port of this kind."""
    if kind not in WIDGET_KINDS[widget["kind"]]:
        raise InvalidInput(where, f"a {widget['kind']} widget does not fit a {kind} port")
    if widget.get("step", 1) <= 0:
        raise InvalidInput(f"{where}.step", "must be positive")
    if not 1 <= widget.get("rows", 1) <= 100:
        raise InvalidInput(f"{where}.rows", "must be 1 to 100")
    return widget


def _check_unique_keys(ports: list[dict[str, Any]], where: str) -> None:
    keys = [port.get("key") for port in ports]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InvalidInput(where, f"duplicate keys {', '.join(duplicates)}")


def canonical_node(definition: dict[str, Any], where: str = "input") -> dict[str, Any]:
    name = definition.get("name") or ""
    if not name.strip() or name.strip() != name or len(name) > 200:
        raise InvalidInput(
            f"{where}.name", "must be 1 to 200 characters, without surrounding blanks"
        )
    result: dict[str, Any] = {"name": name, "kind": definition["kind"]}
    if definition.get("description"):
        result["description"] = definition["description"]
    models = definition.get("models") or []
    identifiers = {model["identifier"] for model in models}
    for side in ("args", "returns"):
        ports = definition.get(side) or []
        _check_unique_keys(ports, f"{where}.{side}")
        result[side] = [canonical_port(port, f"{where}.{side}", identifiers) for port in ports]
    if models:
        result["models"] = canonical_models(models, identifiers, f"{where}.models")
    if definition.get("idempotent"):
        result["idempotent"] = True
    return result


def canonical_models(
    models: list[dict[str, Any]], identifiers: set[str], where: str
) -> list[dict[str, Any]]:
    """The node's models sorted by identifier, each checked like a list of ports."""
    if len(identifiers) != len(models):
        _check_unique_keys([{"key": m["identifier"]} for m in models], where)
    result = []
    for model in sorted(models, key=lambda m: str(m["identifier"])):
        inside = f"{where}[{model['identifier']}]"
        if not model["identifier"].strip():
            raise InvalidInput(f"{where}.identifier", "must not be empty")
        _check_unique_keys(model["fields"], f"{inside}.fields")
        fields = [canonical_port(f, f"{inside}.fields", identifiers) for f in model["fields"]]
        entry: dict[str, Any] = {"identifier": model["identifier"], "fields": fields}
        if model.get("description"):
            entry["description"] = model["description"]
        result.append(entry)
    return result


def upsert_nodes(connection: Connection, definitions: list[dict[str, Any]]) -> dict[str, str]:
    """Stores canonical definitions not stored yet; returns hash -> node id."""
    n = tables.nodes
    hashes = {definition_hash(d): d for d in definitions}
    existing = dict(
        connection.execute(sa.select(n.c.hash, n.c.id).where(n.c.hash.in_(hashes))).all()
    )
    missing = [
        {
            "id": new_id(),
            "hash": h,
            "name": d["name"],
            "kind": d["kind"],
            "description": d.get("description"),
            "args": d["args"],
            "returns": d["returns"],
            "models": d.get("models", []),
            "idempotent": bool(d.get("idempotent")),
        }
        for h, d in hashes.items()
        if h not in existing
    ]
    if missing:
        connection.execute(n.insert(), missing)
        existing.update({row["hash"]: row["id"] for row in missing})
    return existing


def node_by_id(platform: Platform, node_id: str) -> Any:
    """A stored node: at once when this server has seen it, else an awaitable.

    Resolvers return this rather than awaiting: a payload whose fields are all in memory is
    completed without creating coroutines (which a subscription closed mid-way would leave
    un-awaited)."""
    node = platform.nodes.get(node_id)
    return node if node is not None else cached_node(platform, node_id)


async def cached_node(platform: Platform, node_id: str) -> Any:
    """A stored node, from memory when this server has seen it (nodes never change)."""
    node = platform.nodes.get(node_id)
    if node is None:
        node = await platform.db.read(lambda connection: load_node(connection, node_id))
        if node is not None:
            platform.nodes.put(node_id, node)
    return node


def load_node(connection: Connection, node_id: str) -> Any:
    return (connection.execute(sa.select(tables.nodes).where(tables.nodes.c.id == node_id))).first()


def load_visible_node(connection: Connection, node_id: str, user: User) -> Any:
    n = tables.nodes
    statement = sa.select(n).where(n.c.id == node_id, nodes_visible_to(user))
    return connection.execute(statement).first()


@mutation.field("createNode")
async def resolve_create_node(_: None, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    context = require(info, "AGENT", "CALL")
    definition = canonical_node(input)
    c = tables.node_creators

    def job(connection: Connection) -> Any:
        node_id = upsert_nodes(connection, [definition])[definition_hash(definition)]
        mine = sa.select(c).where(c.c.node_id == node_id, c.c.user_id == context.user.id)
        if connection.execute(mine).first() is None:
            connection.execute(c.insert().values(node_id=node_id, user_id=context.user.id))
        return load_node(connection, node_id)

    return await context.platform.db.write(job)


@query.field("nodes")
async def resolve_nodes(
    _: None,
    info: GraphQLResolveInfo,
    search: str | None = None,
    name: str | None = None,
    limit: int = 100,
) -> list[Any]:
    context = context_of(info)
    n = tables.nodes
    statement = (
        sa.select(n)
        .where(nodes_visible_to(context.user))
        .order_by(n.c.created_at.desc())
        .limit(max(1, min(limit, 1000)))
    )
    if name is not None:
        statement = statement.where(n.c.name == name)
    if search:
        pattern = f"%{search}%"
        statement = statement.where(sa.or_(n.c.name.ilike(pattern), n.c.description.ilike(pattern)))
    return await context.platform.db.read(
        lambda connection: list(connection.execute(statement).all())
    )


@query.field("node")
async def resolve_node(
    _: None, info: GraphQLResolveInfo, id: str | None = None, hash: str | None = None
) -> Any:
    if (id is None) == (hash is None):
        raise InvalidInput("node", "give exactly one of id and hash")
    context = context_of(info)
    n = tables.nodes
    condition = n.c.id == id if id is not None else n.c.hash == hash
    statement = sa.select(n).where(condition, nodes_visible_to(context.user))
    return await context.platform.db.read(lambda connection: connection.execute(statement).first())


@node_type.field("models")
def resolve_models(node: Any, info: GraphQLResolveInfo) -> list[Any]:
    return list(node.models or [])


@node_type.field("implementations")
async def resolve_implementations(
    node: Any, info: GraphQLResolveInfo, live: bool = False
) -> list[Any]:
    context = context_of(info)
    platform = context.platform
    i, g = tables.implementations, tables.agents
    statement = (
        sa.select(i)
        .join(g, g.c.id == i.c.agent_id)
        .where(i.c.node_id == node.id, i.c.active, agents_visible_to(context.user))
    )
    rows = await platform.db.read(lambda connection: connection.execute(statement).all())
    if live:
        rows = [row for row in rows if platform.router.is_live(row.agent_id)]
    return list(rows)


@node_type.field("superseded")
async def resolve_superseded(node: Any, info: GraphQLResolveInfo) -> bool:
    platform = context_of(info).platform
    batch = _superseded_batches.get(platform)
    if batch is None:
        batch = _superseded_batches[platform] = SupersededBatch(platform)
    return await batch.ask(node.id)


class SupersededBatch:
    """Answers whether nodes are superseded with one query for all the nodes asked about
    together: a listing of 200 nodes reads the database once, not 200 times."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.waiting: dict[str, list[asyncio.Future[bool]]] = {}
        self.answering: asyncio.Task[None] | None = None

    async def ask(self, node_id: str) -> bool:
        loop = asyncio.get_running_loop()
        if not self.waiting:
            self.answering = loop.create_task(self._answer())
        future: asyncio.Future[bool] = loop.create_future()
        self.waiting.setdefault(node_id, []).append(future)
        return await future

    async def _answer(self) -> None:
        # This task starts after the steps already scheduled: a listing's other nodes have
        # asked by then.
        waiting, self.waiting = self.waiting, {}
        try:
            rows = await self.platform.db.read(lambda c: _offers(c, list(waiting)))
        except Exception as error:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():  # its request may have gone
                        future.set_exception(error)
            return
        offers: dict[str, list[Any]] = {}
        for row in rows:
            offers.setdefault(row.node_id, []).append(row)
        router = self.platform.router
        for node_id, futures in waiting.items():
            found = offers.get(node_id, [])
            live = any(row.active and router.is_live(row.agent_id) for row in found)
            superseded = bool(found) and not live and all(row.replaced for row in found)
            for future in futures:
                if not future.done():
                    future.set_result(superseded)


_superseded_batches: weakref.WeakKeyDictionary[Platform, SupersededBatch] = (
    weakref.WeakKeyDictionary()
)


def _offers(connection: Connection, node_ids: list[str]) -> list[Any]:
    """Each implementation of the nodes, with whether a newer offer of its app's interface
    replaced it."""
    i, a = tables.implementations, tables.agents
    newer, by = i.alias("newer"), a.alias("by")
    replaced = (
        sa.select(newer.c.id)
        .join(by, by.c.id == newer.c.agent_id)
        .where(
            by.c.name == a.c.name,
            by.c.user_id == a.c.user_id,
            newer.c.interface == i.c.interface,
            newer.c.node_id != i.c.node_id,
            newer.c.offered_at > i.c.offered_at,
        )
        .exists()
    )
    statement = (
        sa.select(i.c.node_id, i.c.agent_id, i.c.active, replaced.label("replaced"))
        .join(a, a.c.id == i.c.agent_id)
        .where(i.c.node_id.in_(node_ids))
    )
    return list(connection.execute(statement).all())


bindables = [node_type]
