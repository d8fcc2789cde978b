"""A raw loopback HTTP server: the ceiling array transfers through storage are compared with.

POST /sink reads and discards a streamed body; GET /source/<n> streams n bytes from memory.
"""

import sys

from aiohttp import web

PIECE = 1 << 20
BUFFER = bytes(PIECE)


async def sink(request: web.Request) -> web.Response:
    size = 0
    async for piece in request.content.iter_chunked(PIECE):
        size += len(piece)
    return web.json_response({"size": size})


async def source(request: web.Request) -> web.StreamResponse:
    size = int(request.match_info["size"])
    response = web.StreamResponse(headers={"Content-Length": str(size)})
    await response.prepare(request)
    view = memoryview(BUFFER)
    while size > 0:
        await response.write(view[: min(PIECE, size)])
        size -= PIECE
    return response


def main() -> None:
    app = web.Application(client_max_size=0)
    app.router.add_post("/sink", sink)
    app.router.add_get("/source/{size}", source)
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True)
    )


if __name__ == "__main__":
    main()
