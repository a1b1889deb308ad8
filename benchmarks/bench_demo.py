"""The demo's first minutes, as a newcomer meets them: `vatio demo` on a fresh var/ folder.

Runs `vatio demo --broker own --redis-url none` (its own Mosquitto, no Redis, free ports, SQLite in a
temporary VATIO_VAR_DIR) for --minutes of wall time and measures:

  * seconds until the URL is printed ("Open http://..."), from the process start;
  * seconds until the first settled interval (/api/community/summary's lastSettled);
  * seconds until the first forecast (/api/community/forecast's issuedAt);
  * the catch-up rate: intervals settled per second (the summary's catchUp.settled over time);
  * var/ size and the chain state file: its size and how many bytes were written to it per minute
    (each rewrite, seen as a new mtime, counts its whole size; the demo's StateSaver rewrites it every
    backend.chain.anvil.save_interval_s(its size), so the rate stays within a budget).

The 1-hour and 24-simulated-hour figures are projections, not measurements: a model of what grows
(bytes per block and per transaction in the state file, archive per settled interval, database per
simulated day), measured on the stopped demo's var/, extended by the remaining catch-up and the real-time
pace (see summarise); the JSON names them `..._projected` and stores the model and the raw samples.
Writes benchmarks/results/demo.json.

    .venv/bin/python benchmarks/bench_demo.py --minutes 10 [--keep-var]
    .venv/bin/python benchmarks/bench_demo.py --recompute /tmp/vatio-bench-demo-XXXX   # projections again
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_results  # noqa: E402

from backend.chain.anvil import save_interval_s  # noqa: E402
from backend.demo import HEARTBEAT_IDLE_S  # noqa: E402
from backend.processes import free_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def get_json_rpc(url: str, method: str):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response).get("result")
    except (OSError, ValueError):
        return None


def stop_leftovers(var: Path) -> None:
    """Children of the demo still running (each has its own session) after it was killed: those whose
    command line names this run's var folder."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if str(var) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--keep-var", action="store_true", help="keep the temporary var/ folder (its path is printed)")
    parser.add_argument(
        "--recompute", type=Path, metavar="VAR", help="recompute from demo.json's samples and a kept var/"
    )
    args = parser.parse_args()
    if args.recompute:
        recompute(args.recompute)
        return

    var = Path(tempfile.mkdtemp(prefix="vatio-bench-demo-"))
    chain_port, web_port = free_port(), free_port()
    env = {**os.environ, "VATIO_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1"}
    env.pop("VATIO_DATABASE_URL", None)
    command = [
        str(REPO / ".venv" / "bin" / "vatio"),
        "demo",
        "--port",
        str(chain_port),
        "--web-port",
        str(web_port),
        "--broker",
        "own",
        "--redis-url",
        "none",
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    url_at: list[float] = []
    output: list[str] = []

    def read_output() -> None:
        for line in process.stdout:
            output.append(line)
            if not url_at and re.search(r"Open http://", line):
                url_at.append(time.monotonic() - started)

    threading.Thread(target=read_output, daemon=True).start()
    web = f"http://127.0.0.1:{web_port}"
    state_file = var / "chain" / "anvil-state.json"
    first_settled = first_forecast = None
    samples: list[dict] = []  # per poll: s since start, var/ and state file bytes, chain head, intervals settled/total
    state_writes: list[tuple[float, int]] = []  # (s, size) at each new mtime of the state file
    last_mtime = None
    catch_up: dict = {}
    deadline = started + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("vatio demo exited early:\n" + "".join(output[-40:]))
            elapsed = time.monotonic() - started
            if url_at:
                summary = get_json(f"{web}/api/community/summary")
                if summary:
                    if first_settled is None and summary.get("lastSettled"):
                        first_settled = elapsed
                    catch_up = summary.get("catchUp") or catch_up
                if first_forecast is None:
                    forecast = get_json(f"{web}/api/community/forecast")
                    if forecast and forecast.get("issuedAt") is not None:
                        first_forecast = elapsed
            try:
                stat = state_file.stat()
                if stat.st_mtime != last_mtime:
                    last_mtime = stat.st_mtime
                    state_writes.append((elapsed, stat.st_size))
                state_bytes = stat.st_size
            except OSError:
                state_bytes = 0
            head = get_json_rpc(f"http://127.0.0.1:{chain_port}", "eth_blockNumber")
            samples.append(
                {
                    "s": round(elapsed, 1),
                    "var": folder_bytes(var),
                    "state": state_bytes,
                    "head": None if head is None else int(head, 16),
                    "settled": catch_up.get("settled"),
                    "total": catch_up.get("total"),
                }
            )
            time.sleep(5)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the demo stops its children, then the chain
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        stop_leftovers(var)
        parts = {child.name: folder_bytes(child) if child.is_dir() else child.stat().st_size for child in var.iterdir()}
        stopped = measure_var(var)
        if args.keep_var:
            print(f"var/ kept at {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)

    figures, model = summarise(samples, state_writes, stopped)
    figures = {
        "seconds_to_url": round(url_at[0], 1) if url_at else None,
        "seconds_to_first_settled_interval": None if first_settled is None else round(first_settled, 1),
        "seconds_to_first_forecast": None if first_forecast is None else round(first_forecast, 1),
        **figures,
    }
    details = {
        "command": "vatio demo --broker own --redis-url none (fresh VATIO_VAR_DIR, SQLite, free ports), "
        f"{args.minutes:g} minutes of wall time, one run",
        "note": "Keys ending _measured come from the run. Keys ending _projected are NOT measured: they are a model "
        "fitted to the run (see projection_model) and extended to 60 minutes and to 24 hours of demo (the "
        "simulated meters follow the clock once the 8 replayed days are in, so 24 hours of demo are 24 "
        "simulated hours). Chain-state bytes written count the whole file at each rewrite (new mtime).",
        "projection_model": model,
        "var_parts_bytes_at_end": parts,
        "samples": samples,
        "state_writes": state_writes,
    }
    print(json.dumps(figures, indent=2))
    write_results("demo", figures, details)


# backend.demo's heartbeat: an empty block when the newest is HEARTBEAT_IDLE_S old (and one at each interval's
# end, which also resets that wait).
HEARTBEAT_BLOCKS_PER_MIN = 60 / HEARTBEAT_IDLE_S
INTERVALS_PER_MIN_IN_REAL_TIME = 1 / 15  # one 15-minute interval settles every 15 minutes once caught up


def measure_var(var: Path) -> dict:
    """What the stopped demo left: the state file's blocks and transactions, settled intervals, archive, readings."""
    import sqlite3

    state = json.loads((var / "chain" / "anvil-state.json").read_text())
    blocks_bytes = len(json.dumps(state["blocks"]))
    txs_bytes = len(json.dumps(state["transactions"]))
    with sqlite3.connect(var / "vatio.db") as db:
        settled = db.execute("select count(*) from chain_events where event = 'IntervalSettled'").fetchone()[0]
        readings, first_ts, last_ts = db.execute("select count(*), min(ts), max(ts) from readings").fetchone()
    database = sum(path.stat().st_size for path in var.glob("vatio.db*"))
    return {
        "state_file_bytes": (var / "chain" / "anvil-state.json").stat().st_size,
        "blocks": len(state["blocks"]),
        "state_bytes_per_block": blocks_bytes / len(state["blocks"]),
        "transactions": len(state["transactions"]),
        "state_bytes_per_transaction": txs_bytes / max(1, len(state["transactions"])),
        "intervals_settled": settled,
        "archive_bytes": folder_bytes(var / "archive"),
        "database_bytes": database,
        "readings": readings,
        "simulated_days_of_readings": (last_ts - first_ts) / 86400,
        "var_bytes": folder_bytes(var),
    }


def summarise(samples: list[dict], state_writes: list[tuple[float, int]], stopped: dict) -> tuple[dict, dict]:
    """Measured figures, and projections from a model of what grows, measured on the run.

    The state file holds the newest state, every block and every transaction: it grows by a size per
    block and a size per transaction (settlements carry the entries; both measured on the stopped demo's
    file). After the run the projection settles the rest of the replayed backlog (the measured
    transactions per settled interval), then one interval per 15 minutes, and mines the heartbeat's
    12 empty blocks a minute. The archive grows by its measured bytes per settled interval, the database
    by its measured bytes per simulated day of readings (the meters follow the clock after the replay).
    The file is rewritten whole every save_interval_s(its size) (backend.chain.anvil.StateSaver).
    """
    end = samples[-1]
    minutes = end["s"] / 60
    settled_known = [x for x in samples if x["settled"] is not None]
    first, last = settled_known[0], settled_known[-1]
    rate = (last["settled"] - first["settled"]) / (last["s"] - first["s"]) if last["s"] > first["s"] else 0.0
    late_writes = [w for w in state_writes if w[0] >= end["s"] / 2]
    writes_per_min = len(late_writes) / (end["s"] / 2 / 60)
    written_per_min = sum(size for _, size in late_writes) / (end["s"] / 2 / 60)
    backlog_total = last["total"] or 0
    txs_per_interval = stopped["transactions"] / max(1, stopped["intervals_settled"])
    per_interval_state = txs_per_interval * stopped["state_bytes_per_transaction"]
    per_interval_archive = stopped["archive_bytes"] / max(1, stopped["intervals_settled"])
    per_day_database = stopped["database_bytes"] / max(stopped["simulated_days_of_readings"], 1e-9)

    def projected(at_min: float) -> tuple[int, int, int]:
        """(var bytes, state bytes, state bytes written per minute) at `at_min` minutes of demo."""
        extra_min = at_min - minutes
        backlog = max(0, backlog_total - stopped["intervals_settled"])
        catch_up_min = backlog / rate / 60 if rate > 0 else float("inf")
        catching_up = min(extra_min, catch_up_min)
        intervals = rate * 60 * catching_up + max(0.0, extra_min - catch_up_min) * INTERVALS_PER_MIN_IN_REAL_TIME
        idle_min = max(0.0, extra_min - catch_up_min)
        state_growth = (
            intervals * per_interval_state + idle_min * HEARTBEAT_BLOCKS_PER_MIN * stopped["state_bytes_per_block"]
        )
        state = int(stopped["state_file_bytes"] + state_growth)
        var_bytes = int(
            stopped["var_bytes"] + state_growth + intervals * per_interval_archive + per_day_database * extra_min / 1440
        )
        return var_bytes, state, int(state * 60 / save_interval_s(state))

    figures = {
        "run_minutes_measured": round(minutes, 2),
        "catch_up_intervals_per_s_measured": round(rate, 3),
        "intervals_settled_during_run_measured": last["settled"],
        "intervals_settled_at_stop_measured": stopped["intervals_settled"],
        "intervals_to_replay_measured": backlog_total,
        f"var_bytes_after_{minutes:.0f}min_measured": end["var"],
        f"chain_state_bytes_after_{minutes:.0f}min_measured": end["state"],
        "var_bytes_at_stop_measured": stopped["var_bytes"],
        "chain_state_bytes_at_stop_measured": stopped["state_file_bytes"],
        "chain_state_bytes_written_per_min_measured": int(written_per_min),
        "chain_state_rewrites_per_min_measured": round(writes_per_min, 2),
    }
    model = {
        "state_bytes_per_block": round(stopped["state_bytes_per_block"], 1),
        "state_bytes_per_transaction": round(stopped["state_bytes_per_transaction"], 1),
        "transactions_per_settled_interval": round(txs_per_interval, 3),
        "archive_bytes_per_settled_interval": int(per_interval_archive),
        "database_bytes_per_simulated_day": int(per_day_database),
        "heartbeat_blocks_per_min_assumed": HEARTBEAT_BLOCKS_PER_MIN,
        "settled_intervals_per_min_after_catch_up_assumed": round(INTERVALS_PER_MIN_IN_REAL_TIME, 4),
        "stopped_demo": stopped,
    }
    for label, at_min in (("1h", 60), ("24h", 24 * 60)):
        var_bytes, state, written = projected(at_min)
        figures[f"var_bytes_after_{label}_projected"] = var_bytes
        figures[f"chain_state_bytes_after_{label}_projected"] = state
        figures[f"chain_state_bytes_written_per_min_after_{label}_projected"] = written
    return figures, model


def recompute(var: Path) -> None:
    """Recompute demo.json's figures from its stored samples and a kept var/ (--keep-var), without a new run."""
    path = Path(__file__).resolve().parent / "results" / "demo.json"
    payload = json.loads(path.read_text())
    details = payload["_details"]
    figures, model = summarise(details["samples"], [tuple(w) for w in details["state_writes"]], measure_var(var))
    keep = {k: payload[k] for k in ("seconds_to_url", "seconds_to_first_settled_interval", "seconds_to_first_forecast")}
    details["projection_model"] = model
    print(json.dumps({**keep, **figures}, indent=2))
    write_results("demo", {**keep, **figures}, {k: v for k, v in details.items() if k not in ("machine", "python")})


if __name__ == "__main__":
    main()
