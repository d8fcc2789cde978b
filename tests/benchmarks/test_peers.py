"""The peer benchmark's harness, with tiny counts, on the systems every install has."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
FIGURES = ("round_trip_median_ms", "round_trip_p99_ms", "calls_per_second", "results_per_second")


def test_peers_reports_every_figure_with_its_ratio_to_arkitekt(tmp_path: Path) -> None:
    output = tmp_path / "peers.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.peers", "--systems", "echo,arkitekt",
            "--rounds", "2", "--round-trips", "20", "--calls", "100", "--results", "200",
            "--output", str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ws echo (floor)" in done.stdout
    assert "arkitekt" in done.stdout

    run = json.loads(output.read_text())
    assert run["rounds"] == 2
    assert run["counts"] == {"round_trips": 20, "calls": 100, "results": 200}
    systems = run["systems"]
    assert list(systems) == ["echo", "arkitekt"]
    for system in systems.values():
        for figure in FIGURES:
            values = system["figures"][figure]
            assert len(values["rounds"]) == 2
            assert 0 < values["min"] <= values["median"] <= values["max"]
    for figure in FIGURES:
        assert systems["arkitekt"]["figures"][figure]["ratio_to_arkitekt"] == 1.0
    # The floor is a floor: no platform answers faster than a bare echo.
    echo, ours = systems["echo"]["figures"], systems["arkitekt"]["figures"]
    assert echo["round_trip_median_ms"]["median"] < ours["round_trip_median_ms"]["median"]


def test_peers_refuses_an_unknown_system() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", "--systems", "echo,rabbit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert "unknown systems ['rabbit']" in done.stderr
