"""GraphQL as any client may send it: plain HTTP posts and graphql-transport-ws frames,
with answers kept exactly as the server gave them."""

from __future__ import annotations

from typing import Any

import aiohttp


async def post(url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    """The JSON answer to one operation over HTTP (whatever the status)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/graphql", json=body, headers=headers) as response,
    ):
        answer: dict[str, Any] = await response.json(content_type=None)
        answer["status"] = response.status
        return answer


async def first_message(
    url: str, token: str, query: str, *, timeout: float = 10, **variables: Any
) -> dict[str, Any]:
    """The first message a subscription gets (`next` or `error`), over a new websocket."""
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http", "ws", 1) + "/graphql"
        async with session.ws_connect(ws_url, protocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            )
            ack = await ws.receive_json(timeout=timeout)
            assert ack["type"] == "connection_ack", ack
            payload = {"query": query, "variables": variables}
            await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
            message: dict[str, Any] = await ws.receive_json(timeout=timeout)
            return message


def codes(answer: dict[str, Any]) -> list[str]:
    """The error codes of an answer, in order."""
    errors = answer.get("errors") or answer.get("payload") or []
    if isinstance(errors, dict):  # a `next` message: its payload is a result
        errors = errors.get("errors") or []
    return [error["extensions"]["code"] for error in errors]
