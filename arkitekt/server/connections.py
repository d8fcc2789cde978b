"""The websockets open on this replica, by the token that opened them.

Revoking a token closes its websockets (on every replica: the revocation is announced), and
a change to a user's teams reaches the open websockets of that user at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket

from .auth import Grant, Principal
from .errors import Unauthenticated

# graphql-transport-ws close code for a refused token (PROTOCOL.md).
FORBIDDEN = 4403


class Connections:
    def __init__(self) -> None:
        self._open: dict[str, dict[WebSocket, Principal]] = {}

    def add(self, websocket: WebSocket, principal: Principal) -> None:
        self._open.setdefault(principal.grant.digest, {})[websocket] = principal

    def remove(self, websocket: WebSocket, principal: Principal) -> None:
        sockets = self._open.get(principal.grant.digest)
        if sockets is not None:
            sockets.pop(websocket, None)
            if not sockets:
                del self._open[principal.grant.digest]

    def count(self, digest: str) -> int:
        return len(self._open.get(digest, ()))

    async def close(self, digest: str, reason: str) -> None:
        """Closes every websocket opened with the token."""
        for websocket in list(self._open.pop(digest, {})):
            with contextlib.suppress(RuntimeError, OSError):  # it closed meanwhile
                await websocket.close(code=FORBIDDEN, reason=reason[:120])

    async def refresh(self, user_id: str, load: Callable[[str], Awaitable[Grant]]) -> None:
        """Gives the open websockets of a user their new grant (new teams)."""
        for digest, sockets in list(self._open.items()):
            if not any(p.grant.user.id == user_id for p in sockets.values()):
                continue
            try:
                grant = await load(digest)
            except Unauthenticated as error:
                await self.close(digest, str(error))
                continue
            for principal in sockets.values():
                principal.grant = grant
