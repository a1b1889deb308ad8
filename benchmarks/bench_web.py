"""Web app benchmarks (issues 5, 16): the community summary and a household's endpoints under load, live latency.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_web.py`; `--quick` for a small smoke run).
Needs PostgreSQL on 127.0.0.1:5432 (trust; $VATIO_TEST_POSTGRES_URL points elsewhere), Redis on
127.0.0.1:6379, Mosquitto and Anvil installed; `wrk` is used when installed (apt `wrk`), else a Python
load generator. Writes benchmarks/results/web.json: summary_p99_ms, summary_rps, live_p95_ms, and
household_{detail,intervals,readings}_{p99_ms,rps}; ratios to the targets and the rest under _details.

The web app is served for real by the production server, `vatio serve --production --workers 2`
(gunicorn with gevent workers, backend/web/gunicorn_conf.py; Redis carries Socket.IO between them);
--dev-server runs Werkzeug's threaded development server instead, for a comparison.

1. Community summary. A throwaway PostgreSQL database is migrated and seeded like 30 days of a
   1,000-household community: 2.88M readings (15-min cumulative registers from a load profile and,
   for 40% of households, PV), the intervals and their 2.88M entries, the chain events the indexer
   would have stored (IntervalSettled, HouseholdSettled and auto Filled per interval; resting orders
   placed, filled and closed), and a 24 h and a 168 h forecast run. A load generator on loopback asks
   GET /api/community/summary over 8 keep-alive connections for 20 s (then briefly over 1, 4, 16 and
   32, reported beside).
   Targets: p99 <= 50 ms and >= 500 requests/s. The summary is cached per worker for
   VATIO_SUMMARY_CACHE_S (5 s) and recomputed in the background; the uncached computation time is
   measured too and reported beside.

1b. A household's endpoints, on the same database: GET /api/households/<a> (its page: meter, live
   power, balances read from the chain, recent intervals, meter status), /api/households/<a>/intervals
   (100 intervals with their settlement events) and /api/households/<a>/readings (24 h in 15-min
   buckets), each over 8 keep-alive connections, every request for the next of the 1,000 households in
   a shuffled order, with the admin's session cookie (SIWE; the admin may read every household). Three
   runs of 10 s each; the figures are the medians. Same targets as the summary. The server's CPU per
   request (from /proc) is reported beside: on a shared machine it says what a request costs.

2. Live latency. On a deployed community (Anvil) with registered meters, a real oracle (OracleService +
   Ingester, ReadingPusher through Redis) subscribes to a private Mosquitto (the repo's config); 200
   Socket.IO clients (websocket), each signed in (SIWE) as a household, sit in their household room and
   the community room; a publisher sends pre-signed readings at 500/s (500 meters, one a second each).
   Latency = a client's receipt of a "reading" event - the publish time of that reading, matched by
   (meter, seq). The emitter thins readings (per household room at most VATIO_LIVE_READINGS_PER_S = 2/s,
   the community room at most 20/s in all), so only delivered events are measured: that is what a
   browser sees. A client may hear a reading twice (its household room and the community room, or the
   web app's own database feed, backend/web/live_feed.py, besides the oracle's push): its first arrival
   counts. Target: p95 <= 300 ms.

Options: --quick (100 households, 2 days, 20 clients, 100 readings/s; about 1.5 minutes), --skip-summary,
--skip-households, --skip-live, --dev-server, --web-workers N (gunicorn workers, default 2), --python-load
(the Python load generator even with wrk), --no-write (print only; --quick never writes). The full run
takes about 10 minutes here, most of it seeding.

Everything runs on this machine (2 cores, shared): server, database, broker, oracle, load generator
and clients compete for the CPU, so the figures are pessimistic and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from common import throwaway_database, write_results  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.chain.anvil import free_port, start_anvil  # noqa: E402
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployment, deploy_community  # noqa: E402
from backend.processes import kill_process_group, stop_process_group  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("VATIO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
INTERVAL_S = 900
HOUR_S = 3600
DAY_S = 86400
TARGET_P99_MS = 50.0
TARGET_RPS = 500.0
TARGET_LIVE_P95_MS = 300.0
SIGNATURE_HEX = "\\\\x" + "ab" * 65  # COPY text: a bytea in hex; the web app never checks signatures
DIGEST_HEX = "\\\\x" + "cd" * 32


@dataclass
class Scale:
    households: int = 1000
    days: int = 30
    prosumer_share: float = 0.4
    summary_seconds: int = 20
    summary_connections: int = 8
    household_seconds: int = 10  # per run; the figures are the medians of household_runs runs
    household_runs: int = 3
    live_clients: int = 200
    live_meters: int = 500
    live_rate_per_s: int = 500
    live_seconds: int = 20


QUICK = Scale(
    households=100,
    days=2,
    summary_seconds=5,
    household_seconds=3,
    household_runs=1,
    live_clients=20,
    live_meters=100,
    live_rate_per_s=100,
    live_seconds=5,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def address(tag: bytes, index: int) -> str:
    return to_checksum_address(keccak(tag + index.to_bytes(4, "big"))[12:])


def hex32(rng: np.random.Generator) -> str:
    return "0x" + rng.bytes(32).hex()


# --- the throwaway database (benchmarks/common.py) and COPY --------------


def _copy(cursor, table: str, columns: tuple[str, ...], lines: Iterator[str], chunk_lines: int = 50_000) -> int:
    """COPY text lines into a table in chunks; return the row count."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            count += 1
            if count % chunk_lines == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


# --- seeding: a community's 30 days -----------------------------------------


@dataclass
class Community:
    households: list[str]
    meters: list[str]
    prosumer: np.ndarray  # bool per household
    start_ts: int  # first interval start
    intervals: int  # closed intervals seeded (the last two are still open)
    market: str


def _profiles(scale: Scale, start_ts: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Produced and consumed Wh per 15-min step, [households, steps]: a daily load shape and clear-sky-ish PV."""
    ts = start_ts + INTERVAL_S * np.arange(steps)
    hour = ((ts + 3600) % DAY_S) / 3600.0  # local time, UTC+1
    shape = 0.35 + 0.3 * np.exp(-(((hour - 8) / 1.5) ** 2)) + 0.7 * np.exp(-(((hour - 20.5) / 2.2) ** 2))
    scale_w = rng.uniform(250, 650, size=(scale.households, 1))
    noise = rng.lognormal(0.0, 0.35, size=(scale.households, steps))
    consumed = scale_w * shape[None, :] * noise / 4.0
    sun = np.clip(np.sin(np.pi * (hour - 7.0) / 12.0), 0, None)
    day = (ts - start_ts) // DAY_S
    clouds = rng.uniform(0.25, 1.0, size=(scale.households, int(day.max()) + 1))
    clouds = 0.5 * clouds + 0.5 * clouds.mean(axis=0, keepdims=True)  # weather is shared, partly
    kwp = rng.uniform(3000, 6000, size=(scale.households, 1))
    produced = kwp * sun[None, :] * clouds[:, day] / 4.0
    prosumer = rng.random(scale.households) < scale.prosumer_share
    produced[~prosumer] = 0.0
    return np.rint(produced).astype(np.int64), np.rint(consumed).astype(np.int64)


def seed(url: str, scale: Scale, market: str, now: int) -> Community:
    """Fill the database as 30 days of the oracle, the indexer and the forecaster would have."""
    import psycopg

    rng = np.random.default_rng(7)
    steps = scale.days * 96
    start_ts = (now // INTERVAL_S - steps) * INTERVAL_S
    households = [address(b"bench-household", i) for i in range(scale.households)]
    meters = [address(b"bench-meter", i) for i in range(scale.households)]
    produced_step, consumed_step = _profiles(scale, start_ts, steps, rng)
    first = rng.integers(10_000, 5_000_000, size=(scale.households, 1))
    produced_reg = first + np.concatenate([np.zeros((scale.households, 1), np.int64), produced_step.cumsum(1)], 1)
    consumed_reg = first * 2 + np.concatenate([np.zeros((scale.households, 1), np.int64), consumed_step.cumsum(1)], 1)
    offsets = rng.integers(0, 60, size=scale.households)  # meters report a few seconds after the boundary
    reading_ts = start_ts + INTERVAL_S * np.arange(steps + 1)[None, :] + offsets[:, None]
    # The newest readings are at most "now": the last step's reading exists only if its time has come.
    power = (
        np.abs(
            np.concatenate([produced_step[:, :1], produced_step], 1)
            - np.concatenate([consumed_step[:, :1], consumed_step], 1)
        )
        * 4
    )
    closed = steps - 2  # the last two intervals are still open (grace), as the oracle leaves them

    pg_url = make_url(url).set(drivername="postgresql")
    with psycopg.connect(pg_url.render_as_string(hide_password=False), autocommit=False) as connection:
        cursor = connection.cursor()
        cursor.execute("SET session_replication_role = replica")  # skip FK triggers: built consistent
        started = time.perf_counter()
        last = steps  # index of the last reading per meter
        _copy(
            cursor,
            "meters",
            (
                "address",
                "household",
                "capacity_w",
                "active",
                "registered_block",
                "last_seq",
                "last_ts",
                "last_produced_wh",
                "last_consumed_wh",
            ),
            (
                f"{meters[h]}\t{households[h]}\t{15000}\tt\t1\t{last}\t{reading_ts[h, last]}\t"
                f"{produced_reg[h, last]}\t{consumed_reg[h, last]}\n"
                for h in range(scale.households)
            ),
        )

        def reading_lines() -> Iterator[str]:
            for h in range(scale.households):
                meter, household = meters[h], households[h]
                ts_row, p_row, c_row, w_row = (
                    reading_ts[h].tolist(),
                    produced_reg[h].tolist(),
                    consumed_reg[h].tolist(),
                    power[h].tolist(),
                )
                for k in range(steps + 1):
                    yield (
                        f"{meter}\t{household}\t{k}\t{ts_row[k]}\t{p_row[k]}\t{c_row[k]}\t{w_row[k]}\t"
                        f"{SIGNATURE_HEX}\t{DIGEST_HEX}\t{ts_row[k] + 1}\n"
                    )

        readings = _copy(
            cursor,
            "readings",
            (
                "meter",
                "household",
                "seq",
                "ts",
                "produced_wh",
                "consumed_wh",
                "power_w",
                "signature",
                "digest",
                "received_at",
            ),
            reading_lines(),
        )
        log(f"  readings: {readings:,} rows in {time.perf_counter() - started:.0f} s")

        first_interval = start_ts // INTERVAL_S
        prices = rng.integers(90_000, 160_000, size=closed)
        block_of = 1000 + 3 * np.arange(closed)  # one settlement block per interval, orders in between
        settled_tx = [hex32(rng) for _ in range(closed)]
        _copy(
            cursor,
            "intervals",
            ("interval_id", "status", "readings_root", "clearing_price", "closed_at", "settled_tx", "settled_block"),
            (
                f"{first_interval + k}\tsettled\t\\\\x{rng.bytes(32).hex()}\t{prices[k]}\t"
                f"{start_ts + (k + 1) * INTERVAL_S + 60}\t{settled_tx[k]}\t{block_of[k]}\n"
                for k in range(closed)
            ),
        )

        started = time.perf_counter()

        def entry_lines() -> Iterator[str]:
            leaves = rng.bytes(32 * scale.households * closed).hex()
            position = 0
            for h in range(scale.households):
                meter, household = meters[h], households[h]
                p_row, c_row, pe, ce = (
                    produced_step[h].tolist(),
                    consumed_step[h].tolist(),
                    produced_reg[h].tolist(),
                    consumed_reg[h].tolist(),
                )
                for k in range(closed):
                    leaf = leaves[position : position + 64]
                    position += 64
                    previous = "\\N" if k == 0 else str(first_interval + k - 1)
                    yield (
                        f"{first_interval + k}\t{household}\t{meter}\t{p_row[k]}\t{c_row[k]}\t\\\\x{leaf}\t"
                        f"\\\\x{leaf}\t{k}\t{k + 1}\t{pe[k + 1]}\t{ce[k + 1]}\t{previous}\n"
                    )

        entries = _copy(
            cursor,
            "interval_entries",
            (
                "interval_id",
                "household",
                "meter",
                "produced_wh",
                "consumed_wh",
                "readings_hash",
                "leaf",
                "first_seq",
                "last_seq",
                "end_produced_wh",
                "end_consumed_wh",
                "previous_interval",
            ),
            entry_lines(),
        )
        log(f"  interval entries: {entries:,} rows in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        events = _copy(
            cursor,
            "chain_events",
            ("block_number", "block_hash", "tx_hash", "log_index", "contract", "event", "args"),
            _event_lines(
                scale,
                households,
                produced_step,
                consumed_step,
                prices,
                block_of,
                settled_tx,
                first_interval,
                closed,
                market,
                rng,
                now,
            ),
        )
        log(f"  chain events: {events:,} rows in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        prosumer = produced_step.sum(1) > 0
        forecasts = 0
        issued_at = now // HOUR_S * HOUR_S
        for horizon in (24, 168):
            forecasts += _copy(
                cursor,
                "forecasts",
                (
                    "issued_at",
                    "household",
                    "kind",
                    "horizon_h",
                    "target_ts",
                    "p10_wh",
                    "p50_wh",
                    "p90_wh",
                    "model_version",
                ),
                _forecast_lines(households, prosumer, produced_step, consumed_step, issued_at, horizon),
            )
        log(f"  forecasts: {forecasts:,} rows in {time.perf_counter() - started:.0f} s")
        cursor.execute("SET session_replication_role = DEFAULT")
        connection.commit()
        started = time.perf_counter()
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")  # write the seed out now, not while the load runs
        log(f"  vacuum analyze and checkpoint in {time.perf_counter() - started:.0f} s")
    return Community(households, meters, prosumer, start_ts, closed, market)


def _event_lines(
    scale,
    households,
    produced_step,
    consumed_step,
    prices,
    block_of,
    settled_tx,
    first_interval,
    closed,
    market,
    rng,
    now,
) -> Iterator[str]:
    """The indexer's rows: per interval IntervalSettled, HouseholdSettled and auto Filled; resting orders."""

    def line(block: int, tx: str, log_index: int, event: str, args: dict) -> str:
        return (
            f"{block}\t0x{block:064x}\t{tx}\t{log_index}\t{market}\t{event}\t"
            f"{json.dumps(args, separators=(',', ':'))}\n"
        )

    net = produced_step[:, :closed] - consumed_step[:, :closed]
    for k in range(closed):
        interval_id = str(first_interval + k)
        block, tx = int(block_of[k]), settled_tx[k]
        surplus = np.clip(net[:, k], 0, None)
        deficit = np.clip(-net[:, k], 0, None)
        traded = int(min(surplus.sum(), deficit.sum()))
        log_index = 0
        sell_share = traded / surplus.sum() if surplus.sum() else 0.0
        buy_share = traded / deficit.sum() if deficit.sum() else 0.0
        for h in range(len(households)):
            credited = int(surplus[h] * (1 - sell_share))
            burned = 0
            grid = int(deficit[h] * (1 - buy_share))
            yield line(
                block,
                tx,
                log_index,
                "HouseholdSettled",
                {
                    "intervalId": interval_id,
                    "household": households[h],
                    "producedWh": str(produced_step[h, k]),
                    "consumedWh": str(consumed_step[h, k]),
                    "creditedWh": str(credited),
                    "burnedWh": str(burned),
                    "gridImportWh": str(grid),
                },
            )
            log_index += 1
            amount = int(surplus[h] * sell_share) if surplus[h] else int(deficit[h] * buy_share)
            if amount > 0:
                side = "1" if surplus[h] else "0"
                yield line(
                    block,
                    tx,
                    log_index,
                    "Filled",
                    {
                        "intervalId": interval_id,
                        "orderId": "0",
                        "household": households[h],
                        "side": side,
                        "amountWh": str(amount),
                        "value": str(amount * int(prices[k]) // 1000),
                    },
                )
                log_index += 1
        yield line(
            block,
            tx,
            log_index,
            "IntervalSettled",
            {
                "intervalId": interval_id,
                "readingsRoot": hex32(rng),
                "clearingPrice": str(prices[k]),
                "surplusWh": str(int(surplus.sum())),
                "coveredWh": "0",
                "tradedWh": str(traded),
                "gridImportWh": str(int(deficit.sum()) - traded),
                "chunks": "1",
            },
        )
    # Resting orders: about 50 a day; most fill or close, the recent ones stay open.
    orders = scale.days * 50
    now_interval = now // INTERVAL_S
    for order_id in range(1, orders + 1):
        k = min(closed - 1, order_id * closed // orders)
        owner = households[int(rng.integers(len(households)))]
        side = int(rng.integers(2))
        amount = int(rng.integers(100, 5000))
        price = int(rng.integers(60_000, 190_000))
        valid_from = first_interval + k
        valid_to = valid_from + int(rng.integers(4, 96))
        block = int(block_of[k]) + 1
        yield line(
            block,
            hex32(rng),
            0,
            "OrderPlaced",
            {
                "orderId": str(order_id),
                "owner": owner,
                "side": str(side),
                "limitPrice": str(price),
                "amountWh": str(amount),
                "validFrom": str(valid_from),
                "validTo": str(max(valid_to, now_interval + 8) if order_id > orders - 100 else valid_to),
                "escrow": str(amount * price // 1000 if side == 0 else amount),
            },
        )
        if order_id <= orders - 100:
            filled = int(amount * rng.uniform(0.2, 1.0))
            settle = int(block_of[min(closed - 1, k + 1)])
            yield line(
                settle,
                hex32(rng),
                0,
                "Filled",
                {
                    "intervalId": str(valid_from + 1),
                    "orderId": str(order_id),
                    "household": owner,
                    "side": str(side),
                    "amountWh": str(filled),
                    "value": str(filled * price // 1000),
                },
            )
            if rng.random() < 0.6:
                yield line(
                    settle + 1,
                    hex32(rng),
                    0,
                    "OrderClosed",
                    {"orderId": str(order_id), "owner": owner, "refundedEuro": "0", "refundedWh": "0"},
                )


def _forecast_lines(households, prosumer, produced_step, consumed_step, issued_at, horizon) -> Iterator[str]:
    """A run like `vatio forecast run` stores: each household's load (and PV) and the community's own."""
    hours = np.arange(horizon)
    day_profile_load = consumed_step[:, -96:].reshape(len(households), 24, 4).sum(2)
    day_profile_pv = produced_step[:, -96:].reshape(len(households), 24, 4).sum(2)
    start_hour = (issued_at // HOUR_S) % 24
    columns = (start_hour + hours) % 24
    version = "load-bench/1"
    community_load = np.zeros(horizon)
    community_pv = np.zeros(horizon)
    for h, household in enumerate(households):
        load = day_profile_load[h, columns].astype(float)
        community_load += load
        for kind, values in (("load", load), ("pv", day_profile_pv[h, columns].astype(float))):
            if kind == "pv" and not prosumer[h]:
                continue
            if kind == "pv":
                community_pv += values
            for k in range(horizon):
                p50 = int(values[k])
                yield (
                    f"{issued_at}\t{household}\t{kind}\t{horizon}\t{issued_at + k * HOUR_S}\t{int(p50 * 0.7)}\t"
                    f"{p50}\t{int(p50 * 1.4) + 1}\t{version}\n"
                )
    for kind, values in (("load", community_load), ("pv", community_pv)):
        for k in range(horizon):
            p50 = int(values[k])
            yield (
                f"{issued_at}\t\\N\t{kind}\t{horizon}\t{issued_at + k * HOUR_S}\t{int(p50 * 0.85)}\t{p50}\t"
                f"{int(p50 * 1.15) + 1}\t{version}\n"
            )


# --- the chain: a deployed community ----------------------------------------


def register_households(web3, deployment: Deployment, pairs: list[tuple[str, str]], capacity_w: int = 15_000) -> None:
    """Register (household, meter) pairs from the admin key: raw transactions back to back, then one wait."""
    admin = Account.from_key(ANVIL_DEPLOYER_KEY)
    registry = deployment.contract(web3, "CommunityRegistry")
    nonce = web3.eth.get_transaction_count(admin.address, "pending")
    gas_price = web3.eth.gas_price * 2
    last = None
    for offset, (household, meter) in enumerate(pairs):
        transaction = registry.functions.registerHousehold(household, meter, capacity_w).build_transaction(
            {
                "from": admin.address,
                "nonce": nonce + offset,
                "gas": 300_000,
                "gasPrice": gas_price,
                "chainId": deployment.chain_id,
            }
        )
        last = web3.eth.send_raw_transaction(admin.sign_transaction(transaction).raw_transaction)
    if last is not None and web3.eth.wait_for_transaction_receipt(last, timeout=120)["status"] != 1:
        raise RuntimeError("registering the live households failed")


# --- the web server, served for real ----------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_path: Path
    name: str

    def stop(self) -> None:
        """SIGTERM (gunicorn: a graceful stop of its workers); SIGKILL to the group if it lingers."""
        stop_process_group(self.process, timeout=30)

    def cpu_s(self) -> float | None:
        """CPU seconds the server and its direct children (gunicorn's workers) used so far; None without /proc.

        On a shared machine, CPU per request says what a request costs the server whatever else runs."""
        try:
            pid = self.process.pid
            pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
            total = 0
            for each in pids:
                fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        except (OSError, ValueError):
            return None
        return total / os.sysconf("SC_CLK_TCK")


def start_server(
    workdir: Path,
    database_url: str,
    rpc_url: str,
    deployment_file: Path,
    channel: str,
    production: bool = True,
    workers: int = 2,
) -> Server:
    """`vatio serve` in its own process group, on Redis, with sign-in limits lifted for 200 benchmark wallets.

    `production`: `vatio serve --production --workers N` (gunicorn, gevent workers: backend/web/gunicorn_conf.py);
    otherwise Werkzeug's threaded development server, as the figures before issue 16 were taken.
    """
    port = free_port()
    env = {
        **os.environ,
        "VATIO_DATABASE_URL": database_url,
        "VATIO_RPC_URL": rpc_url,
        "VATIO_DEPLOYMENT": str(deployment_file),
        "VATIO_REDIS_URL": REDIS_URL,
        "VATIO_SECRET_KEY": secrets.token_hex(32),
        "VATIO_SOCKETIO_CHANNEL": channel,
        "VATIO_SIWE_DOMAINS": f"127.0.0.1:{port}",
        "VATIO_ARCHIVE_DIR": str(workdir / "archive"),
        "VATIO_RATE_LIMIT_SIGNIN": "100000 per minute",
    }
    command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)]
    if production:
        command += ["--production", "--workers", str(workers)]
    name = (
        f"vatio serve --production (gunicorn, {workers} gevent workers)"
        if production
        else "vatio serve (Werkzeug threaded, Flask-SocketIO)"
    )
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                return Server(process, url, log_path, name)
        except OSError:
            time.sleep(0.3)
    kill_process_group(process)
    raise RuntimeError("the web server did not answer within 60 s")


# --- 1. the community summary under load ------------------------------------

WRK_REPORT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n', summary.requests, summary.duration, errors,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _wrk_paths(paths: list[str]) -> str:
    """Lua: each request asks the next of `paths` in turn, each wrk thread starting elsewhere in the list."""
    table = ",\n".join(json.dumps(path) for path in paths)  # a JSON string is a valid Lua string here
    return f"""
local paths = {{
{table}
}}
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  position = offset or 0
end
function request()
  position = position + 1
  return wrk.format("GET", paths[(position % #paths) + 1])
end
"""


def load_with_wrk(
    url: str,
    seconds: int,
    connections: int,
    workdir: Path,
    paths: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """wrk on `url`, or on `paths` of its server in turn; `headers` go with every request (a session cookie)."""
    script = workdir / "report.lua"
    script.write_text((_wrk_paths(paths) if paths else "") + WRK_REPORT)
    threads = min(2, connections)  # wrk wants at least one connection per thread
    header_args = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *header_args, "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    report = json.loads(next(line for line in output.splitlines() if line.startswith("WRK "))[4:])
    return {
        "tool": f"wrk -t{threads} -c{connections} -d{seconds}s (keep-alive)",
        "requests": report["requests"],
        "errors": report["errors"] + report["non2xx"],
        "rps": report["requests"] / (report["duration_us"] / 1e6),
        "p50_ms": report["p50_us"] / 1000,
        "p90_ms": report["p90_us"] / 1000,
        "p99_ms": report["p99_us"] / 1000,
        "max_ms": report["max_us"] / 1000,
    }


def _python_load_worker(
    url: str,
    seconds: float,
    threads: int,
    results: multiprocessing.Queue,
    paths: list[str] | None = None,
    headers: dict[str, str] | None = None,
    first_thread: int = 0,
) -> None:
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    paths = paths or [parsed.path]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run(position: int) -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        mine = []
        while time.perf_counter() < deadline:
            position += 1
            started = time.perf_counter()
            try:
                connection.request("GET", paths[position % len(paths)], headers=headers or {})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=((first_thread + n) * 7919,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, errors[0]))


def load_with_python(
    url: str,
    seconds: int,
    connections: int,
    paths: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """A keep-alive HTTP client in up to 2 processes of threads, one connection each (when wrk is not installed)."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    workers = min(2, connections)
    per_worker = connections // workers
    processes = [
        multiprocessing.Process(
            target=_python_load_worker,
            args=(url, seconds, per_worker, results, paths, headers, n * per_worker),
        )
        for n in range(workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    gathered = [results.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for part, _ in gathered for x in part)
    errors = sum(e for _, e in gathered)
    return {
        "tool": f"python http.client, {workers} processes x {connections // workers} threads (keep-alive)",
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p90_ms": 1000 * latencies[int(len(latencies) * 0.9)],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1],
    }


def summary_compute_ms(database_url: str, rpc_url: str, deployment: Deployment, repeats: int = 5) -> dict:
    """The summary computed without the cache, in this process: the first call (cold forecast views) and then."""
    from backend.web.app import create_app
    from backend.web.config import Config

    app = create_app(
        Config(
            database_url=database_url,
            rpc_url=rpc_url,
            deployment=deployment,
            summary_cache_s=0,
            rate_limits_enabled=False,
        )
    )
    app.testing = True  # no live feed thread in this measuring process
    client = app.test_client()
    samples = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        response = client.get("/api/community/summary")
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"summary failed: {response.get_data(as_text=True)[:500]}")
    app.extensions["vatio"].engine.dispose()
    return {
        "first_ms": round(samples[0], 1),
        "median_ms": round(statistics.median(samples[1:]), 1),
        "body": response.get_json(),
    }


def summary_cache_default_s() -> float:
    """The summary's cache lifetime the served app runs with (the default: the benchmark leaves it alone)."""
    from backend.web.config import Config

    return Config.__dataclass_fields__["summary_cache_s"].default


def bench_summary(
    server: Server, scale: Scale, workdir: Path, sweep: tuple[int, ...] = (), use_wrk: bool = True
) -> dict:
    """Load at `summary_connections` keep-alive connections (the figure), then briefly at other concurrencies."""
    url = f"{server.url}/api/community/summary"
    with urllib.request.urlopen(url, timeout=120) as response:  # warm: the first computation and the run views
        json.loads(response.read())

    def load(seconds: int, connections: int) -> dict:
        if use_wrk and shutil.which("wrk"):
            return load_with_wrk(url, seconds, connections, workdir)
        return load_with_python(url, seconds, connections)

    load(2, scale.summary_connections)  # warm-up
    figure = load(scale.summary_seconds, scale.summary_connections)
    figure["sweep"] = {}
    for connections in sweep:
        other = load(max(5, scale.summary_seconds // 2), connections)
        figure["sweep"][f"c{connections}"] = {
            "rps": round(other["rps"], 1),
            "p50_ms": round(other["p50_ms"], 2),
            "p99_ms": round(other["p99_ms"], 2),
        }
    return figure


# --- 1b. one household's endpoints under load --------------------------------

# What a household's page asks (docs/api.md): its detail (meter, live power, balances from the chain, the
# ten recent intervals with their settlement, savings over its fills, meter status), its interval history
# (the default page: 100 intervals) and its readings (the default: the last 24 h in 15-min buckets).
HOUSEHOLD_ENDPOINTS = {
    "household_detail": "/api/households/{}",
    "household_intervals": "/api/households/{}/intervals",
    "household_readings": "/api/households/{}/readings",
}


def bench_households(
    server: Server, households: list[str], chain_id: int, scale: Scale, workdir: Path, use_wrk: bool = True
) -> dict:
    """Each endpoint at `summary_connections` keep-alive connections, every request for the next household.

    The requests carry the admin's session cookie (signed in with SIWE, as the households sign in): the
    admin may read every household, so one session asks for all of them, in a shuffled order, and no
    answer is served from a cache of the same household's previous one. A run is household_seconds long;
    the figures are the medians over household_runs runs, after a 2 s warm-up.
    """
    cookie = _sign_in(server.url, ANVIL_DEPLOYER_KEY, chain_id)
    headers = {"Cookie": cookie}
    order = np.random.default_rng(11).permutation(len(households))
    results = {}
    for name, template in HOUSEHOLD_ENDPOINTS.items():
        paths = [template.format(households[i]) for i in order]
        request = urllib.request.Request(server.url + paths[0], headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:  # fails loudly on 401/403/500
            json.loads(response.read())

        def load(seconds: int, paths: list[str] = paths) -> dict:
            if use_wrk and shutil.which("wrk"):
                return load_with_wrk(server.url, seconds, scale.summary_connections, workdir, paths, headers)
            return load_with_python(server.url, seconds, scale.summary_connections, paths, headers)

        load(2)  # warm-up: connections, plans, the chain gateway's tariffs
        cpu_before = server.cpu_s()
        runs = [load(scale.household_seconds) for _ in range(scale.household_runs)]
        cpu_after = server.cpu_s()
        requests = sum(run["requests"] for run in runs)
        errors = sum(run["errors"] for run in runs)
        if errors > 0.01 * requests:
            raise RuntimeError(f"{name}: {errors} failed requests (see {server.log_path})")
        p99 = statistics.median(run["p99_ms"] for run in runs)
        rps = statistics.median(run["rps"] for run in runs)
        results[name] = {
            "tool": runs[0]["tool"],
            "p99_ms": round(p99, 2),
            "rps": round(rps, 1),
            "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 2),
            "errors": errors,
            "server_cpu_ms_per_request": None
            if cpu_before is None or cpu_after is None or not requests
            else round(1000 * (cpu_after - cpu_before) / requests, 2),
            "runs": [{k: round(run[k], 2) for k in ("rps", "p50_ms", "p99_ms", "max_ms")} for run in runs],
            "p99_ratio_to_target": round(p99 / TARGET_P99_MS, 3),
            "rps_ratio_to_target": round(rps / TARGET_RPS, 3),
        }
        log(
            f"  {name}: {rps:.0f} requests/s (target >= {TARGET_RPS:.0f}: ratio {rps / TARGET_RPS:.2f}), "
            f"p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f}: ratio {p99 / TARGET_P99_MS:.2f})"
        )
    return results


# --- 2. live latency: MQTT publish -> Socket.IO client ----------------------


def _run_oracle(
    database_url: str,
    rpc_url: str,
    deployment_json: dict,
    broker_url: str,
    community: str,
    channel: str,
    ready,
    stop,
    report,
) -> None:
    """A real oracle: verify, store, ack, and push each stored reading through Redis (as `vatio oracle`)."""
    from web3 import Web3

    from backend.db.session import make_engine, session_factory
    from backend.oracle.ingest import Ingester
    from backend.oracle.pushes import live_pushers
    from backend.oracle.registry_cache import RegistryCache
    from backend.oracle.service import OracleService
    from backend.protocol.readings import MeterDomain

    deployment = Deployment.from_json(deployment_json)
    web3 = Web3(Web3.HTTPProvider(rpc_url))
    registry = RegistryCache(web3, deployment)
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    sessions = session_factory(make_engine(database_url))
    ingester = Ingester(sessions, domain, community, registry.lookup)
    pusher, _ = live_pushers(REDIS_URL, channel, 2.0, sessions, deployment.settings["intervalSeconds"], registry.lookup)
    service = OracleService(ingester, broker_url, client_id=f"bench-web-{community}", on_committed=pusher)
    service.start()
    service.subscribed.wait(10)
    ready.set()
    stop.wait()
    service.stop()
    report.put(
        {
            "stored": service.stored,
            "rejected": service.rejected,
            "duplicates": service.duplicates,
            "meters_known": len(registry.meters),
        }
    )


def _run_publisher(
    broker_url: str,
    community: str,
    keys: list[tuple[str, str]],
    deployment_json: dict,
    rate: int,
    seconds: int,
    ready,
    go,
    out_path: str,
) -> None:
    """Pre-sign `rate x seconds` readings (each meter one per second), then publish them on a fixed schedule."""
    from backend.meters.mqtt import MeterPublisher
    from backend.meters.simulator import SimulatedMeter, payload, topic
    from backend.protocol.readings import MeterDomain

    deployment = Deployment.from_json(deployment_json)
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    meters = [SimulatedMeter(i, household_key, meter_key) for i, (household_key, meter_key) in enumerate(keys)]
    addresses = [Account.from_key(meter_key).address for _, meter_key in keys]
    start_at = int(time.time()) + 3 + (rate * seconds) // 4000  # room to sign first (about 4,000/s here)
    messages = []
    for j in range(rate * seconds):
        index = j % len(meters)
        signed = meters[index].advance(0.0, 1.0, start_at + j // len(meters), 1, domain)
        messages.append((topic(community, addresses[index]), payload(signed), addresses[index], signed.reading.seq))
    ready.set()
    go.wait()
    publisher = MeterPublisher(broker_url, max_inflight=100)
    start_at = max(start_at, time.time())
    sent: dict[str, float] = {}
    for j, (message_topic, body, meter, seq) in enumerate(messages):
        due = start_at + j / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        sent[f"{meter}:{seq}"] = time.time()
        publisher.publish(message_topic, body)
    publisher.close()
    Path(out_path).write_text(json.dumps({"sent": sent, "started": start_at, "finished": time.time()}))


def _sign_in(base_url: str, key: str, chain_id: int) -> str:
    """SIWE over HTTP like a wallet; return the Cookie header for the socket."""
    import requests
    from eth_account.messages import encode_defunct

    from backend.web.siwe import SiweMessage, format_message

    account = Account.from_key(key)
    http = requests.Session()
    nonce = http.get(f"{base_url}/api/auth/nonce", timeout=30).json()["nonce"]
    host = base_url.removeprefix("http://")
    text = format_message(
        SiweMessage(
            domain=host,
            address=account.address,
            statement="Sign in to Vatio.",
            uri=base_url,
            version="1",
            chain_id=chain_id,
            nonce=nonce,
            issued_at=int(time.time()),
        )
    )
    signature = "0x" + account.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")
    response = http.post(f"{base_url}/api/auth/verify", json={"message": text, "signature": signature}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"sign-in failed: {response.text[:300]}")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in http.cookies)


def _run_clients(base_url: str, household_keys: list[str], chain_id: int, ready, stop, out_path: str) -> None:
    """Sign each household in, open its Socket.IO connection (websocket), and note every reading's arrival."""
    import socketio

    cookies = [_sign_in(base_url, key, chain_id) for key in household_keys]
    households = [Account.from_key(key).address for key in household_keys]
    arrivals: list[tuple[float, int, str, int, str]] = []
    welcomed: list[list[str]] = [[] for _ in household_keys]

    async def main() -> None:
        clients = []
        for index, cookie in enumerate(cookies):
            client = socketio.AsyncClient(reconnection=False)

            def on_reading(data, index=index):
                arrivals.append((time.time(), index, data.get("meter"), data.get("seq"), data.get("household")))

            def on_welcome(data, index=index):
                welcomed[index] = data.get("rooms", [])

            client.on("reading", on_reading)
            client.on("welcome", on_welcome)
            await client.connect(base_url, headers={"Cookie": cookie}, transports=["websocket"])
            clients.append(client)
        deadline = time.monotonic() + 30
        while not all(welcomed) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for client in clients:
            await client.disconnect()

    asyncio.run(main())
    Path(out_path).write_text(json.dumps({"arrivals": arrivals, "households": households, "rooms": welcomed}))


def bench_live(
    server: Server,
    database_url: str,
    rpc_url: str,
    web3,
    deployment: Deployment,
    scale: Scale,
    channel: str,
    workdir: Path,
) -> dict:
    from backend.broker import start_mosquitto
    from backend.meters.simulator import simulated_keys

    seed_tag = secrets.randbelow(10**9)
    keys = [simulated_keys(seed_tag, i) for i in range(scale.live_meters)]
    register_households(web3, deployment, [(Account.from_key(h).address, Account.from_key(m).address) for h, m in keys])
    log(f"  registered {len(keys)} live households and meters")
    broker = start_mosquitto(workdir / "mosquitto")
    community = f"benchweb{seed_tag}"
    context = multiprocessing.get_context("spawn")
    oracle_ready, oracle_stop, oracle_report = context.Event(), context.Event(), context.Queue()
    clients_ready, clients_stop = context.Event(), context.Event()
    publisher_ready, publisher_go = context.Event(), context.Event()
    deployment_json = deployment.to_json()
    processes = []
    try:
        oracle = context.Process(
            target=_run_oracle,
            args=(
                database_url,
                rpc_url,
                deployment_json,
                broker.url,
                community,
                channel,
                oracle_ready,
                oracle_stop,
                oracle_report,
            ),
        )
        clients = context.Process(
            target=_run_clients,
            args=(
                server.url,
                [h for h, _ in keys[: scale.live_clients]],
                deployment.chain_id,
                clients_ready,
                clients_stop,
                str(workdir / "arrivals.json"),
            ),
        )
        publisher = context.Process(
            target=_run_publisher,
            args=(
                broker.url,
                community,
                keys,
                deployment_json,
                scale.live_rate_per_s,
                scale.live_seconds,
                publisher_ready,
                publisher_go,
                str(workdir / "sent.json"),
            ),
        )
        processes = [oracle, clients, publisher]
        for process in processes:
            process.start()
        for name, event in (("oracle", oracle_ready), ("clients", clients_ready), ("publisher", publisher_ready)):
            if not event.wait(180):
                raise RuntimeError(f"the {name} did not get ready")
        log(f"  oracle subscribed, {scale.live_clients} clients connected, readings signed: publishing")
        publisher_go.set()
        publisher.join(scale.live_seconds + 120)
        time.sleep(3)  # the last readings still travel
        clients_stop.set()
        clients.join(60)
        oracle_stop.set()
        oracle_result = oracle_report.get(timeout=30)
        oracle.join(30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        broker.stop()
    sent_doc = json.loads((workdir / "sent.json").read_text())
    arrivals_doc = json.loads((workdir / "arrivals.json").read_text())
    return _live_figures(sent_doc, arrivals_doc, oracle_result, scale)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _live_figures(sent_doc: dict, arrivals_doc: dict, oracle: dict, scale: Scale) -> dict:
    sent = sent_doc["sent"]
    households = arrivals_doc["households"]
    first: dict[tuple[int, str, int], tuple[float, str]] = {}  # (client, meter, seq) -> first arrival, household
    deliveries = unmatched = 0
    for received, client, meter, seq, household in arrivals_doc["arrivals"]:
        deliveries += 1
        if f"{meter}:{seq}" not in sent:
            unmatched += 1
            continue
        key = (client, meter, seq)
        if key not in first or received < first[key][0]:
            first[key] = (received, household)
    latencies, own = [], []
    for (client, meter, seq), (received, household) in first.items():
        latency = (received - sent[f"{meter}:{seq}"]) * 1000
        latencies.append(latency)
        if household == households[client]:
            own.append(latency)
    published = len(sent)
    duration = sent_doc["finished"] - sent_doc["started"]
    own_readings = published * scale.live_clients / scale.live_meters  # readings of the clients' own households
    return {
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "own_household_p95_ms": _percentile(own, 95),
        "published": published,
        "publish_rate_per_s": published / duration if duration > 0 else None,
        "oracle": oracle,
        "events_delivered": deliveries,
        "events_measured": len(latencies),
        "duplicate_deliveries": deliveries - unmatched - len(first),
        "unmatched": unmatched,
        "own_household_delivered_share": len(own) / own_readings if own_readings else None,
        "events_per_client_per_s": deliveries / scale.live_clients / max(duration, 1e-9),
        "clients_in_household_rooms": sum(
            1 for rooms in arrivals_doc["rooms"] if any(r.startswith("household:") for r in rooms)
        ),
    }


# --- the run -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (100 households, 2 days, 20 clients)")
    parser.add_argument("--skip-live", action="store_true", help="leave the live benchmark out")
    parser.add_argument("--skip-summary", action="store_true", help="leave the summary benchmark out")
    parser.add_argument("--skip-households", action="store_true", help="leave the household endpoints out")
    parser.add_argument(
        "--dev-server", action="store_true", help="Werkzeug's development server instead of gunicorn (a comparison)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn gevent workers (default 2: one a core)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave web.json alone")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    args = parser.parse_args()
    if not 1 <= args.web_workers <= 64:
        parser.error("--web-workers must be between 1 and 64")
    scale = QUICK if args.quick else Scale()
    from web3 import Web3

    workdir = Path(tempfile.mkdtemp(prefix="vatio-bench-web-"))
    node = start_anvil()
    server = None
    figures: dict = {}
    details: dict = {
        "scale": scale.__dict__,
        "quick": args.quick,
        "card": "this machine's CPU (2 cores, shared)",
        "load_average_at_start": os.getloadavg(),  # what else ran: the figures scale with the CPU left over
    }
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings())
        deployment_file = workdir / "deployment.json"
        deployment_file.write_text(json.dumps(deployment.to_json()))
        with throwaway_database("web") as database_url:
            started = time.perf_counter()
            log(f"seeding {scale.households} households x {scale.days} days into PostgreSQL")
            community = seed(database_url, scale, deployment.address("EnergyMarket"), int(time.time()))
            details["seed_s"] = round(time.perf_counter() - started)
            channel = f"vatio-bench-{secrets.token_hex(4)}"
            server = start_server(
                workdir,
                database_url,
                node.url,
                deployment_file,
                channel,
                production=not args.dev_server,
                workers=args.web_workers,
            )
            details["server"] = server.name
            if not args.skip_summary:
                compute = summary_compute_ms(database_url, node.url, deployment)
                log(
                    f"summary computed without the cache: first {compute['first_ms']} ms, "
                    f"then median {compute['median_ms']} ms"
                )
                load = bench_summary(
                    server, scale, workdir, sweep=() if args.quick else (1, 4, 16, 32), use_wrk=not args.python_load
                )
                log(
                    f"summary under load ({load['tool']}): {load['rps']:.0f} requests/s, p50 {load['p50_ms']:.1f} ms, "
                    f"p99 {load['p99_ms']:.1f} ms, errors {load['errors']}"
                )
                figures["summary_p99_ms"] = round(load["p99_ms"], 2)
                figures["summary_rps"] = round(load["rps"], 1)
                details["summary"] = {
                    **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in load.items()},
                    "uncached_first_ms": compute["first_ms"],
                    "uncached_median_ms": compute["median_ms"],
                    "cache_s": summary_cache_default_s(),
                    "server": server.name,
                    "p99_ratio_to_target": round(load["p99_ms"] / TARGET_P99_MS, 3),
                    "rps_ratio_to_target": round(load["rps"] / TARGET_RPS, 3),
                }
                print(
                    f"summary p99 {load['p99_ms']:.1f} ms (target <= {TARGET_P99_MS:.0f}: ratio "
                    f"{load['p99_ms'] / TARGET_P99_MS:.2f}); {load['rps']:.0f} requests/s (target >= "
                    f"{TARGET_RPS:.0f}: ratio {load['rps'] / TARGET_RPS:.2f})"
                )
            if not args.skip_households:
                log(f"household endpoints, {scale.household_runs} x {scale.household_seconds} s each")
                households = bench_households(
                    server, community.households, deployment.chain_id, scale, workdir, use_wrk=not args.python_load
                )
                for name, result in households.items():
                    figures[f"{name}_p99_ms"] = result["p99_ms"]
                    figures[f"{name}_rps"] = result["rps"]
                details["households"] = households
            if not args.skip_live:
                log(
                    f"live: {scale.live_clients} clients, {scale.live_rate_per_s} readings/s for "
                    f"{scale.live_seconds} s from {scale.live_meters} meters"
                )
                live = bench_live(server, database_url, node.url, web3, deployment, scale, channel, workdir)
                figures["live_p95_ms"] = round(live["p95_ms"], 1)
                details["live"] = {
                    **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in live.items()},
                    "p95_ratio_to_target": round(live["p95_ms"] / TARGET_LIVE_P95_MS, 3),
                    "readings_per_s_per_household_room": 2,
                    "community_room_readings_per_s": 20,
                }
                print(
                    f"live p95 {live['p95_ms']:.0f} ms (target <= {TARGET_LIVE_P95_MS:.0f}: ratio "
                    f"{live['p95_ms'] / TARGET_LIVE_P95_MS:.2f}); p50 {live['p50_ms']:.0f} ms, "
                    f"{live['events_measured']:,} events measured; own household p95 "
                    f"{live['own_household_p95_ms']:.0f} ms"
                )
            server.stop()
            server = None
    finally:
        if server is not None:
            server.stop()
        node.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    details["load_average_at_end"] = os.getloadavg()
    details["note"] = (
        "server, PostgreSQL, Redis, Mosquitto, oracle, load generator and clients share this "
        "machine's 2 cores: noisy, pessimistic figures"
    )
    if args.no_write or args.quick:
        print(json.dumps({**figures, "_details": details}, indent=2, default=str))
    else:
        write_results("web", figures, details)


if __name__ == "__main__":
    main()
