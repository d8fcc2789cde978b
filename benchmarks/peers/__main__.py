"""arkitekt beside what a lab would pick instead: the same three workloads, side by side.

    poe bench-peers            # installs arkitekt[bench] and redis-server, then runs this
    python -m benchmarks.peers [--rounds 3] [--systems echo,arkitekt,dask,celery]

Each system's servers and worker run in processes of their own for the whole run. Each
round starts a fresh caller process per system, which warms up and runs the workloads, in
turn (A B C D, A B C D, ...), after one discarded warm-up round with small counts. Printed:
the median of the rounds, their min and max, and each median's ratio to arkitekt's; written
to `benchmarks/results/peers.json`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.embedded import RESULTS, ROOT

from .workloads import FIGURES, IN_FLIGHT, Counts

SYSTEMS = ("echo", "arkitekt", "dask", "celery")
WARM_UP_ROUND = Counts(round_trips=50, calls=200, results=1000)  # at most this much
ROUND_TIMEOUT = 120.0  # seconds one caller may take before the run fails
RUN_TIMEOUT = 900  # seconds the whole run may take, starting the systems included


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    counts = Counts(round_trips=args.round_trips, calls=args.calls, results=args.results)
    peers = {name: _peer(name) for name in args.systems}
    load_before, started = os.getloadavg(), time.monotonic()
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in peers}
    # A system that never says it is ready must not hold the run: the alarm raises in the
    # blocked read, and leaving the stack stops every process started so far.
    signal.signal(signal.SIGALRM, _expire)
    signal.alarm(RUN_TIMEOUT)
    with ExitStack() as stack:
        addresses = {name: stack.enter_context(peer.running()) for name, peer in peers.items()}
        for name in peers:
            _round(name, _smaller(WARM_UP_ROUND, counts), addresses[name])
        for _ in range(args.rounds):
            for name in peers:
                rounds[name].append(_round(name, counts, addresses[name]))
    signal.alarm(0)
    summary = _summary(rounds)
    run = {
        "rounds": args.rounds,
        "counts": asdict(counts),
        "in_flight": IN_FLIGHT,
        "seconds": round(time.monotonic() - started, 1),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "systems": {
            name: {"label": peer.LABEL, "settings": peer.SETTINGS, "figures": summary[name]}
            for name, peer in peers.items()
        },
    }
    # The figures are saved first: a report cut short (a closed pipe) must not lose them.
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({**run, "machine": _machine()}, indent=2) + "\n")
    _report(run, counts)


def _expire(*_: object) -> None:
    raise TimeoutError(f"the run took more than {RUN_TIMEOUT} s")


def _smaller(first: Counts, second: Counts) -> Counts:
    return Counts(**{key: min(value, getattr(second, key)) for key, value in asdict(first).items()})


def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "commit": commit.stdout.strip() or None,
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument(
        "--round-trips", type=int, default=500, help="sequential calls a round (default 500)"
    )
    parser.add_argument(
        "--calls", type=int, default=2000, help="calls with 64 in flight a round (default 2000)"
    )
    parser.add_argument(
        "--results", type=int, default=10_000, help="results one generator makes (default 10000)"
    )
    parser.add_argument(
        "--systems",
        type=lambda text: text.split(","),
        default=list(SYSTEMS),
        help=f"comma-separated, from {','.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "peers.json",
        help="where the JSON goes (default benchmarks/results/peers.json)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {','.join(SYSTEMS)}")
    return args


def _peer(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"benchmarks.peers.{name}_peer")
    except ModuleNotFoundError as error:
        sys.exit(f'{name} needs {error.name}: pip install -e ".[bench]" (or run `poe bench-peers`)')


def _round(name: str, counts: Counts, address: list[str]) -> dict[str, float]:
    """Runs one round in a fresh caller process and returns its figures."""
    command = [sys.executable, "-m", "benchmarks.peers.caller", name, json.dumps(asdict(counts))]
    done = subprocess.run(
        [*command, *address],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=ROUND_TIMEOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {name} caller failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _summary(rounds: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per system and figure: the median of the rounds, min, max, the rounds, and the ratio."""
    summary: dict[str, dict[str, dict[str, Any]]] = {
        name: {
            figure: {
                "median": statistics.median(r[figure] for r in results),
                "min": min(r[figure] for r in results),
                "max": max(r[figure] for r in results),
                "rounds": [r[figure] for r in results],
            }
            for figure in FIGURES
        }
        for name, results in rounds.items()
    }
    if "arkitekt" in summary:
        for figures in summary.values():
            for figure, values in figures.items():
                values["ratio_to_arkitekt"] = (
                    values["median"] / summary["arkitekt"][figure]["median"]
                )
    return summary


COLUMNS = {
    "round_trip_median_ms": ("round trip\nmedian, ms", "{:.2f}"),
    "round_trip_p99_ms": ("round trip\np99, ms", "{:.2f}"),
    "calls_per_second": (f"calls/s,\n{IN_FLIGHT} in flight", "{:,.0f}"),
    "results_per_second": ("results/s,\none generator", "{:,.0f}"),
}


def _report(run: dict[str, Any], counts: Counts) -> None:
    table = Table(
        title=f"Median of {run['rounds']} rounds, min-max below; x: the median / arkitekt's",
        caption=(
            f"per round: {counts.round_trips} round trips, {counts.calls} calls, "
            f"{counts.results} results; load average {run['load_average']['before'][0]:.2f} "
            f"before, {run['load_average']['after'][0]:.2f} after; {run['seconds']} s in all"
        ),
    )
    table.add_column("system")
    for heading, _ in COLUMNS.values():
        table.add_column(heading, justify="right")
    for system in run["systems"].values():
        cells = []
        for figure, (_, style) in COLUMNS.items():
            values = system["figures"][figure]
            ratio = values.get("ratio_to_arkitekt")
            cells.append(
                style.format(values["median"])
                + (f" {ratio:.2f}x" if ratio is not None else "")
                + f"\n[dim]{style.format(values['min'])}-{style.format(values['max'])}[/dim]"
            )
        table.add_row(system["label"], *cells)
    console = Console(width=max(Console().width, 100))
    console.print(table)
    for system in run["systems"].values():
        console.print(f"[bold]{system['label']}[/bold]")
        for key, setting in system["settings"].items():
            console.print(f"  {key}: {setting}", highlight=False)


if __name__ == "__main__":
    main()
