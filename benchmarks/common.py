"""Shared bits for the benchmark scripts: timing and writing results."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median_ms(function, repeats: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), samples


def write_results(name: str, figures: dict, details: dict | None = None, merge: bool = False) -> Path:
    """figures: the numeric keys later checks read; details: context for people.

    With `merge`, the figures and details of other scripts writing the same
    file are kept (several benchmarks share ingest.json)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = json.loads(path.read_text()) if merge and path.exists() else {}
    old_details = payload.pop("_details", {})
    payload.update(figures)
    payload["_details"] = {
        **old_details,
        "machine": platform.machine(),
        "python": platform.python_version(),
        **(details or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written {path.relative_to(RESULTS_DIR.parent.parent)}")
    return path
