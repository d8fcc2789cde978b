"""Blobs over HTTP: central storage for structures, streamed both ways.

    POST /blobs                      a new, empty blob              -> 201 {"id"}
    GET  /blobs?limit=&before=       your blobs, newest first        -> {"stored", "blobs"}
    PUT  /blobs/{blob}/{key...}      stores one object, write-once  -> 201 {"key", "size"}
    GET  /blobs/{blob}               its objects                    -> {"id", "objects"}
    GET  /blobs/{blob}/{key...}      one object; `Range: bytes=a-b` -> 200 or 206
    HEAD /blobs/{blob}/{key...}      its size and media type
    DELETE /blobs/{blob}             frees the blob and its objects  -> 204

Every request carries the same bearer token as `/graphql`, and access is checked per blob:
its owner writes it (once per key, with a token that may call or serve) and deletes it,
and its owner and the members of the owner's teams read it (an agent reads its callers'
arguments, a caller its agents' results). A blob you may not read answers as one that does
not exist. A release's bundle, and a blob that a call which has not ended takes as an
argument, cannot be deleted (409). Errors are JSON shaped like GraphQL's
(`{"errors": [{"message", "extensions": {"code"}}]}`).

An object larger than `limits.object_size`, or one that would take its owner's blobs past
`storage_quota`, is refused (413), and so is one that would leave the storage folder's disk
with less than `reserved_disk` free (507).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import retention, tables
from .auth import Grant, User, parse_authorization
from .errors import ApiError, Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound
from .platform import Platform
from .storage import Backend, StorageFull, make_backend
from .tables import new_id

STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "INVALID_INPUT": 400,
    "LIMIT_EXCEEDED": 413,
}
_ID = re.compile(r"[0-9a-f]{32}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MAX_KEY = 1000
DRAIN = 64 << 20  # bytes of a refused upload read on, so that its client reads the answer


class RangeNotSatisfiable(ApiError):
    code = "INVALID_INPUT"


def readable(user: User) -> sa.ColumnElement[bool]:
    """Blobs the user may read: their own, and those of the members of their teams."""
    b, m = tables.blobs, tables.memberships
    teammates = sa.select(m.c.user_id).where(m.c.team_id.in_(user.teams))
    return sa.or_(b.c.user_id == user.id, b.c.user_id.in_(teammates))


def _platform(request: Request) -> Platform:
    platform = request.app.state.platform
    assert isinstance(platform, Platform)
    return platform


def _backend(request: Request) -> Backend:
    state = request.app.state
    if getattr(state, "blob_backend", None) is None:
        state.blob_backend = make_backend(_platform(request).settings)
    backend: Backend = state.blob_backend
    return backend


async def _grant(request: Request, *, write: bool = False) -> Grant:
    token = parse_authorization(request.headers.get("authorization"))
    grant = await _platform(request).tokens.authenticate(token)
    if "HOST" in grant.scopes:  # a host fetches bundles with its deployments' tokens
        raise Forbidden("A host token may only run a host (`arkitekt host`).")
    if write and grant.scopes.isdisjoint(("CALL", "AGENT")):
        raise Forbidden("This token may not store blobs: it needs the call or agent scope.")
    return grant


def _error(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    if isinstance(error, RangeNotSatisfiable):
        status = 416
    elif isinstance(error, StorageFull):
        status = 507
    else:
        status = STATUS.get(error.code, 500)
    extensions = {**error.extensions, "code": error.code}
    body = {"errors": [{"message": str(error), "extensions": extensions}]}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, headers=headers)


def _checked_key(key: str) -> str:
    parts = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(c) < 32 or c == "\\" for c in key)
    ):
        raise InvalidInput("key", f"{key[:80]!r} is not a valid object key")
    return key


async def _blob(request: Request, grant: Grant, *, owner: str | None = None) -> Any:
    """The blob of the request's path, if the grant may read it; with `owner` (what the
    request does: "write", "delete"), only if the grant's user owns it. Its row carries
    `owner_stored`: what its owner's blobs hold, for the quota."""
    blob_id = request.path_params["blob"]
    if not _ID.fullmatch(blob_id):
        raise NotFound("blob", blob_id)
    b, u = tables.blobs, tables.users
    statement = (
        sa.select(b, u.c.stored_bytes.label("owner_stored"))
        .join_from(b, u, u.c.id == b.c.user_id)
        .where(b.c.id == blob_id, readable(grant.user))
    )
    row = await _platform(request).db.read(lambda connection: connection.execute(statement).first())
    if row is None:
        raise NotFound("blob", blob_id)
    if owner is not None and row.user_id != grant.user.id:
        raise Forbidden(f"You may not {owner} blob {blob_id}: only its owner may.")
    return row


async def create_blob(request: Request) -> Response:
    try:
        grant = await _grant(request, write=True)
    except ApiError as error:
        return _error(error)
    blob_id = new_id()

    def job(connection: Connection) -> None:
        connection.execute(tables.blobs.insert().values(id=blob_id, user_id=grant.user.id))

    await _platform(request).db.write(job)
    return JSONResponse({"id": blob_id}, status_code=201)


async def list_blobs(request: Request) -> Response:
    """The caller's blobs, newest first, each with its size: what to free near a quota.
    `before` (the id of the last blob of a page) pages on; `limit` is 1 to 1,000."""
    try:
        grant = await _grant(request)
        limit = _int_param(request, "limit", 100, 1, 1000)
        before = request.query_params.get("before")
    except ApiError as error:
        return _error(error)
    b, o, u = tables.blobs, tables.blob_objects, tables.users
    page = (
        sa.select(b.c.id, b.c.created_at, sa.func.count(o.c.key), sa.func.sum(o.c.size))
        .join_from(b, o, o.c.blob_id == b.c.id, isouter=True)
        .where(b.c.user_id == grant.user.id)
        .group_by(b.c.id, b.c.created_at)
        .order_by(b.c.created_at.desc(), b.c.id)
        .limit(limit)
    )
    last = None
    if before is not None:  # after it in that order: older, or as old with a larger id
        last = sa.select(b.c.created_at).where(b.c.id == before, b.c.user_id == grant.user.id)
        older = b.c.created_at < last.scalar_subquery()
        tied = sa.and_(b.c.created_at == last.scalar_subquery(), b.c.id > before)
        page = page.where(sa.or_(older, tied))
    stored = sa.select(u.c.stored_bytes).where(u.c.id == grant.user.id)

    def job(connection: Connection) -> tuple[Any, list[Any]]:
        if last is not None and connection.execute(last).first() is None:
            raise NotFound("blob", before)  # deleted meanwhile: page on from another
        return connection.execute(stored).scalar(), list(connection.execute(page).all())

    try:
        total, rows = await _platform(request).db.read(job)
    except ApiError as error:
        return _error(error)
    blobs = [
        {"id": id, "createdAt": created.isoformat(), "objects": count, "size": int(size or 0)}
        for id, created, count, size in rows
    ]
    return JSONResponse({"stored": int(total or 0), "blobs": blobs})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(name, f"must be a whole number from {low} to {high}")
    return int(text)


async def list_objects(request: Request) -> Response:
    try:
        blob = await _blob(request, await _grant(request))
    except ApiError as error:
        return _error(error)
    o = tables.blob_objects
    rows = await _platform(request).db.read(
        lambda connection: connection.execute(sa.select(o).where(o.c.blob_id == blob.id)).all()
    )
    objects = {row.key: {"size": row.size, "mediaType": row.media_type} for row in rows}
    return JSONResponse({"id": blob.id, "objects": objects})


async def put_object(request: Request) -> Response:
    key = request.path_params["key"]
    settings = _platform(request).settings
    body = _Body(request, key, settings.limits.object_size)
    try:
        blob = await _blob(request, await _grant(request, write=True), owner="write")
        key = _checked_key(key)
        if await _object(request, blob.id, key) is not None:
            raise Conflict(f"Blob {blob.id} already has {key!r}; objects are written once.")
        if settings.storage_quota is not None:
            body.quota = _Quota(settings.storage_quota, blob.owner_stored)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            body.check(int(declared))
        size = await _backend(request).write(f"{blob.id}/{key}", aiter(body))
    except ApiError as error:
        return await _refuse(request, body, error)
    media_type = request.headers.get("content-type") or "application/octet-stream"

    def job(connection: Connection) -> None:
        connection.execute(
            tables.blob_objects.insert().values(
                blob_id=blob.id, key=key, size=size, media_type=media_type[:200]
            )
        )
        _count(connection, blob.user_id, key, size, settings.storage_quota)

    try:
        await _platform(request).db.write(job)
    except sa.exc.IntegrityError:
        return _error(Conflict(f"Blob {blob.id} already has {key!r}; objects are written once."))
    except LimitExceeded as error:  # uploads side by side took the room meanwhile
        await _backend(request).delete(f"{blob.id}/{key}")
        return _error(error)
    return JSONResponse({"key": key, "size": size}, status_code=201)


def _count(connection: Connection, user_id: str, key: str, size: int, quota: int | None) -> None:
    """Adds an object's size to what its owner's blobs hold, in the write that stores it:
    under a quota, only if it still fits, whatever was stored since the upload began."""
    u = tables.users
    grown = u.c.stored_bytes + size
    update = u.update().where(u.c.id == user_id).values(stored_bytes=grown)
    if quota is None:
        connection.execute(update)
    elif connection.execute(update.where(grown <= quota)).rowcount == 0:
        stored = connection.execute(sa.select(u.c.stored_bytes).where(u.c.id == user_id))
        raise _over_quota(key, _Quota(quota, int(stored.scalar_one())))


async def delete_blob(request: Request) -> Response:
    try:
        blob = await _blob(request, await _grant(request, write=True), owner="delete")
        await _platform(request).db.write(lambda connection: _delete_rows(connection, blob.id))
    except ApiError as error:
        return _error(error)
    # Rows first, then the bytes (as retention does): a crash in between leaves bytes
    # behind, never a listed blob whose bytes are gone.
    await _backend(request).delete_blob(blob.id)
    return Response(status_code=204)


def _delete_rows(connection: Connection, blob_id: str) -> None:
    r = tables.releases
    release = connection.execute(
        sa.select(r.c.app, r.c.version).where(r.c.blob_id == blob_id).limit(1)
    ).first()
    if release is not None:
        raise Conflict(
            f"Blob {blob_id} is the bundle of {release.app} {release.version}; hosts fetch "
            "it to start the app, so it stays as long as the release."
        )
    if retention.in_use(connection, {blob_id}):
        raise Conflict(
            f"A call that has not ended takes blob {blob_id} as an argument; cancel the "
            "call or let it end, then delete the blob."
        )
    retention.forget(connection, [blob_id])


async def _refuse(request: Request, body: _Body, error: ApiError) -> Response:
    """Answers a refused upload. A client still sending its body reads the answer only
    once it has sent it: read on (up to `DRAIN` bytes) unless it waits for `100 Continue`
    before sending, and has not been told to yet. Past that, the connection closes."""
    waiting = request.headers.get("expect", "").lower() == "100-continue" and not body.started
    if body.read_all or waiting or await _drained(request, DRAIN):
        return _error(error)
    return _error(error, {"Connection": "close"})


@dataclass(frozen=True)
class _Quota:
    quota: int
    stored: int
    """What the owner's blobs held as the upload started."""


class _Body:
    """A request's body, piece by piece, refused once it grows past `limit` bytes or past
    what the owner's `quota` leaves."""

    def __init__(self, request: Request, key: str, limit: int) -> None:
        self.request, self.key, self.limit = request, key, limit
        self.quota: _Quota | None = None
        self.started = self.read_all = False

    def check(self, size: int) -> None:
        if size > self.limit:
            raise _too_large(self.key, self.limit)
        quota = self.quota
        if quota is not None and quota.stored + size > quota.quota:
            raise _over_quota(self.key, quota)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        size = 0
        async for piece in self.request.stream():
            size += len(piece)
            self.check(size)
            yield piece
        self.read_all = True


def _over_quota(key: str, quota: _Quota) -> LimitExceeded:
    return LimitExceeded(
        f"{key!r} does not fit: your blobs hold {_amount(quota.stored)} of the "
        f"{_amount(quota.quota)} each user may store here. Delete the blobs you no "
        "longer need (`arkitekt blob list`, then `arkitekt blob delete`; or "
        "`await client.storage.delete(reference)`), or ask the operator for more "
        "(`arkitekt server --storage-quota-gib`)."
    )


def _amount(size: int) -> str:
    """A size for people: 512 bytes, 3.2 MiB."""
    units = ("KiB", "MiB", "GiB", "TiB")
    if size < 1024:
        return f"{size} bytes"
    power = min(len(units), (size.bit_length() - 1) // 10)
    return f"{size / (1 << (10 * power)):.1f} {units[power - 1]}"


async def _drained(request: Request, limit: int) -> bool:
    """Reads and drops the rest of the request's body; False when more than `limit` is left."""
    left = limit
    while left >= 0:
        message = await request.receive()
        left -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return left >= 0
    return False


def _too_large(key: str, limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"{key!r} is larger than the {limit >> 20} MiB one object may hold here; "
        "store it in parts (arrays are chunked), or ask the operator to raise the limit."
    )


async def _object(request: Request, blob_id: str, key: str) -> Any:
    o = tables.blob_objects
    statement = sa.select(o).where(o.c.blob_id == blob_id, o.c.key == key)
    return await _platform(request).db.read(
        lambda connection: connection.execute(statement).first()
    )


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) of a single `bytes=` range, end exclusive; None for the whole object."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise RangeNotSatisfiable(f"Unsupported range {header!r}: send one `bytes=a-b` range.")
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"Range {header!r} is outside the object's {size} bytes.")
    return start, end


async def get_object(request: Request) -> Response:
    size = 0
    try:
        blob = await _blob(request, await _grant(request))
        key = _checked_key(request.path_params["key"])
        row = await _object(request, blob.id, key)
        if row is None:
            raise NotFound("object", f"{blob.id}/{key}")
        size = row.size
        wanted = _range(request.headers.get("range"), size)
    except RangeNotSatisfiable as error:
        return _error(error, {"Content-Range": f"bytes */{size}"})
    except ApiError as error:
        return _error(error)
    start, end = wanted or (0, size)
    headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    status = 206 if wanted is not None else 200
    if request.method == "HEAD" or end == start:
        return Response(status_code=status, headers=headers, media_type=row.media_type)
    return StreamingResponse(
        _backend(request).read(f"{blob.id}/{key}", start, end),
        status_code=status,
        headers=headers,
        media_type=row.media_type,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/blobs", create_blob, methods=["POST"]),
        Route("/blobs", list_blobs, methods=["GET"]),
        Route("/blobs/{blob}", list_objects, methods=["GET"]),
        Route("/blobs/{blob}", delete_blob, methods=["DELETE"]),
        Route("/blobs/{blob}/{key:path}", put_object, methods=["PUT"]),
        Route("/blobs/{blob}/{key:path}", get_object, methods=["GET", "HEAD"]),
    ]
