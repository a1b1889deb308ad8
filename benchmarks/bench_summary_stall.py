"""How long the community summary's computation holds a gevent worker's event loop (issue 16).

Run: `.venv/bin/python benchmarks/bench_summary_stall.py` (seeds 1,000 households x 30 days as bench_web.py
does, about 5 minutes here; `--database-url URL` reuses a database bench_web.py's seed filled; `--quick`:
100 households x 2 days, prints only). Merges into benchmarks/results/web.json: summary_refresh_max_stall_ms.

Under gunicorn's gevent workers (backend/web/gunicorn_conf.py) the summary's 5 s background refresh is a
greenlet of the worker that serves the requests: its database waits yield (psycopg 3 is gevent-aware), but
each stretch of Python between two of them runs to its end, and every request of that worker waits for it.
The longest stretch bounds the p99 that a worker's cached summary can have, whatever else it serves.

A child process patches the standard library as the gevent worker does, builds the app on the database
(no chain: the refresh's one chain read is a wait too), and computes the summary `--repeats` times in a
greenlet while another greenlet wakes every 0.5 ms and notes the longest gap between its wake-ups: the
longest stall of the loop during that computation. The figure is the median over the computations; the
computation's own CPU and wall time are reported beside, and the ratio to the 50 ms p99 target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
MARKET = "0x" + "11" * 20  # the seed names the market contract in its events; no chain runs here


def probe(database_url: str, repeats: int) -> dict:
    """In a fresh process only: patch for gevent first, then compute the summary and watch the loop."""
    from gevent import monkey

    monkey.patch_all()
    import statistics

    import gevent
    from gevent.event import Event

    from backend.web.app import create_app
    from backend.web.community import community_summary
    from backend.web.config import Config
    from backend.web.context import db

    app = create_app(Config(database_url=database_url, summary_cache_s=0, rate_limits_enabled=False))
    app.testing = True  # no live feed greenlet in this process

    def compute() -> None:
        with app.app_context():
            community_summary(db())

    compute()  # warm: plans, forecast views, cached checksums (as a worker after its first refresh)

    def beat(gaps: list[float], stop: Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            gevent.sleep(0.0005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stalls, cpu, wall = [], [], []
    for _ in range(repeats):
        gaps: list[float] = []
        stop = Event()
        watcher = gevent.spawn(beat, gaps, stop)
        gevent.sleep(0.01)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        gevent.spawn(compute).join()
        cpu.append(time.process_time() - cpu_start)  # the watcher's few wake-ups included
        wall.append(time.perf_counter() - wall_start)
        stop.set()
        watcher.join()
        stalls.append(max(gaps))
    app.extensions["vatio"].engine.dispose()
    return {
        "max_stall_ms": round(1000 * statistics.median(stalls), 1),
        "max_stall_ms_each": [round(1000 * s, 1) for s in stalls],
        "compute_cpu_ms": round(1000 * statistics.median(cpu), 1),
        "compute_wall_ms": round(1000 * statistics.median(wall), 1),
    }


def measure(database_url: str, repeats: int) -> dict:
    command = [sys.executable, __file__, "--probe", database_url, "--repeats", str(repeats)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a database bench_web.py's seed filled (default: seed a new one)")
    parser.add_argument("--quick", action="store_true", help="100 households x 2 days; prints only")
    parser.add_argument("--repeats", type=int, default=10, help="summary computations watched (default 10)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave web.json alone")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.probe:
        print(json.dumps(probe(args.probe, args.repeats)))
        return

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_web import QUICK, Scale, seed
    from common import throwaway_database, write_results

    scale = QUICK if args.quick else Scale()
    load_at_start = os.getloadavg()
    if args.database_url:
        result = measure(args.database_url, args.repeats)
        seeded = "given"
    else:
        with throwaway_database("stall") as url:
            seed(url, scale, MARKET, int(time.time()))
            result = measure(url, args.repeats)
        seeded = f"{scale.households} households x {scale.days} days (bench_web.seed)"
    details = {
        **result,
        "database": seeded,
        "repeats": args.repeats,
        "stall_ratio_to_p99_target": round(result["max_stall_ms"] / TARGET_P99_MS, 3),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "card": "this machine's CPU (2 cores, shared)",
    }
    print(
        f"summary refresh: longest event-loop stall {result['max_stall_ms']} ms (median of {args.repeats}; "
        f"target p99 <= {TARGET_P99_MS:.0f} ms: ratio {details['stall_ratio_to_p99_target']}); computation "
        f"{result['compute_cpu_ms']} ms CPU, {result['compute_wall_ms']} ms wall"
    )
    if args.no_write or args.quick:
        print(json.dumps(details, indent=2))
    else:
        write_results(
            "web", {"summary_refresh_max_stall_ms": result["max_stall_ms"]}, {"summary_refresh": details}, merge=True
        )


if __name__ == "__main__":
    main()
