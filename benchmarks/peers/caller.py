"""One round of the workloads against one running system, in a fresh caller process.

    python -m benchmarks.peers.caller SYSTEM COUNTS_JSON ADDRESS...

Prints the round's figures as one line of JSON.
"""

from __future__ import annotations

import importlib
import json
import sys

from .workloads import Counts


def main() -> None:
    system, counts, *address = sys.argv[1:]
    peer = importlib.import_module(f"benchmarks.peers.{system}_peer")
    print(json.dumps(peer.measure(address, Counts(**json.loads(counts)))), flush=True)


if __name__ == "__main__":
    main()
