"""A platform in its own process, with short timings, for tests that kill things.

python server_process.py DATA_DIR PORT [DATABASE_URL]
"""

import asyncio
import json
import sys
from pathlib import Path

from arkitekt.server.serve import serve
from arkitekt.server.settings import Settings

TIMINGS = {"heartbeat": 0.5, "grace": 2.0, "sweep_interval": 0.2}


async def main() -> None:
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    database_url = sys.argv[3] if len(sys.argv) > 3 else None
    token_file = data_dir / "token"
    token = token_file.read_text() if token_file.exists() else None
    settings = Settings(
        data_dir=data_dir, port=port, database_url=database_url, admin_token=token, **TIMINGS
    )
    async with serve(settings) as server:
        token_file.write_text(server.admin_token)
        print(json.dumps({"url": server.url, "token": server.admin_token}), flush=True)
        await server.wait_exiting()


if __name__ == "__main__":
    asyncio.run(main())
