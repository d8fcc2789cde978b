"""A raw loopback websocket echo server: the floor a call round trip is compared with."""

import sys

from aiohttp import web


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


def main() -> None:
    app = web.Application()
    app.router.add_get("/", echo)
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True)
    )


if __name__ == "__main__":
    main()
