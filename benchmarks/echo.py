"""A raw loopback websocket echo server: the floor a call round trip is compared with.

`/produce/{count}` sends `count` small messages instead: the floor for streamed results.
"""

import sys

from aiohttp import web


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


async def produce(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    for n in range(int(request.match_info["count"])):
        await ws.send_str(f'{{"value": {n}}}')
    await ws.close()
    return ws


def main() -> None:
    app = web.Application()
    app.router.add_get("/", echo)
    app.router.add_get("/produce/{count}", produce)
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True)
    )


if __name__ == "__main__":
    main()
