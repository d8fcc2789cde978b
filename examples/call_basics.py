"""Call the functions of examples/basics.py from Python."""

import asyncio

import arkitekt


async def main() -> None:
    async with (
        arkitekt.connect() as client
    ):  # URL and token from the config `arkitekt server` wrote
        print(await client.call("add", a=1, b=2))
        async for n in client.stream("count_up", to=5):
            print(n)


asyncio.run(main())
