"""An agent in its own process, serving `app.py`, for tests that kill things.

python agent_process.py URL TOKEN NAME INSTANCE
"""

import asyncio
import logging
import os
import sys
from pathlib import Path

import arkitekt
from arkitekt.runtime.agent import Agent
from arkitekt.runtime.apps import load_app


async def main() -> None:
    url, token, name, instance = sys.argv[1:5]
    os.environ["ARKITEKT_TEST_INSTANCE"] = instance
    registry = load_app(Path(__file__).with_name("app.py"))
    async with (
        arkitekt.connect(url, token) as client,
        Agent(client, registry, name=name, instance=instance) as agent,
    ):
        print(f"live {agent.id}", flush=True)
        await agent.wait_closed()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
    asyncio.run(main())
