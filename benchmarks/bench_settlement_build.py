"""Closing an interval and building its settlement for 1,000 households.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_settlement_build.py`).
What the oracle does between an interval's grace period ending and sending
its first transaction, without the chain: read every meter's readings from
the database (SQLite, the embedded default), attribute each household's
energy (register deltas, interpolated at the boundaries), hash the listed
readings, build the leaves and the Merkle root, clear the market with the
pay-as-clear solver (1,000 auto orders and 10,000 resting orders, as in
bench_solver.py), and split the result into transactions.

Target (issue 3): <= 2 s. Figure `settlement_build_1000_households_s` in
benchmarks/results/ingest.json (merged with the ingestion figures).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_solver import community  # noqa: E402
from common import write_results  # noqa: E402

from backend.db.migrate import upgrade  # noqa: E402
from backend.db.models import Meter  # noqa: E402
from backend.db.session import make_engine, session_factory  # noqa: E402
from backend.db.store import insert_readings  # noqa: E402
from backend.market.orderbook import MeteredEntry, Tariffs  # noqa: E402
from backend.market.solver import clear_interval  # noqa: E402
from backend.meters.simulator import make_meters  # noqa: E402
from backend.oracle.closing import close_interval  # noqa: E402
from backend.oracle.settlement import build_transactions  # noqa: E402
from backend.protocol.readings import MeterDomain, reading_digest  # noqa: E402

HOUSEHOLDS = 1_000
INTERVAL_SECONDS = 900
READING_SECONDS = 60
TARGET_S = 2.0
RUNS = 7
DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def fill_database(sessions, first_interval: int, intervals: int) -> None:
    """1,000 meters reading every minute for `intervals` intervals, signed like real meters."""
    rng = random.Random(3)
    meters = make_meters(HOUSEHOLDS, seed=11)
    with sessions() as session:
        session.add_all(
            Meter(address=m.meter, household=m.household, capacity_w=15_000, registered_block=1) for m in meters
        )
        session.commit()
    start = first_interval * INTERVAL_SECONDS
    for step in range(1, intervals * INTERVAL_SECONDS // READING_SECONDS + 1):
        ts = start + step * READING_SECONDS
        rows = []
        for meter in meters:
            signed = meter.advance(rng.uniform(0, 60), rng.uniform(0, 40), ts, READING_SECONDS, DOMAIN)
            r = signed.reading
            rows.append(
                {
                    "meter": r.meter,
                    "household": meter.household,
                    "seq": r.seq,
                    "ts": r.ts,
                    "produced_wh": r.produced_wh,
                    "consumed_wh": r.consumed_wh,
                    "power_w": r.power_w,
                    "signature": signed.signature,
                    "digest": reading_digest(r, DOMAIN),
                    "received_at": ts,
                }
            )
        with sessions() as session:
            insert_readings(session, rows)
            session.commit()


def build_once(sessions, interval_id: int, orders, accounts, tariffs) -> tuple[float, int, int]:
    """Close (then roll back, so the run can repeat), clear, split; returns (seconds, entries, transactions)."""
    with sessions() as session:
        started = time.perf_counter()
        closed = close_interval(session, interval_id, INTERVAL_SECONDS, DOMAIN)
        entries = [MeteredEntry(e.household, e.produced_wh, e.consumed_wh) for e in closed.entries]
        # The same accounts under the real households' addresses: the auto orders then meet the metered energy.
        by_household = dict(zip((e.household for e in entries), accounts.values(), strict=True))
        clearing = clear_interval(interval_id, entries, orders, by_household, tariffs)
        transactions = build_transactions(interval_id, closed.readings_root, clearing, {o.order_id: o for o in orders})
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed, len(closed.entries), len(transactions)


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        first = 2_000_000
        print(f"writing {HOUSEHOLDS} meters x {2 * INTERVAL_SECONDS // READING_SECONDS} signed readings ...")
        fill_database(sessions, first, intervals=2)
        with sessions() as session:  # the previous interval closed: the measured one continues from it
            close_interval(session, first, INTERVAL_SECONDS, DOMAIN)
            session.commit()
        _, orders, accounts = community(seed=7)
        orders = [o.__class__(**{**o.__dict__, "valid_from": first + 1, "valid_to": first + 1}) for o in orders]
        tariffs = Tariffs(200_000, 50_000)
        samples = []
        for _ in range(RUNS):
            elapsed, entries, transactions = build_once(sessions, first + 1, orders, accounts, tariffs)
            samples.append(elapsed)
        engine.dispose()
    median = statistics.median(samples)
    print(
        f"close + leaves + root + solver + chunks, {entries} households: median {median:.3f} s over {RUNS} runs "
        f"(min {min(samples):.3f}, max {max(samples):.3f}); target {TARGET_S:.0f} s -> ratio {median / TARGET_S:.2f}; "
        f"{transactions} transaction(s)"
    )
    write_results(
        "ingest",
        {"settlement_build_1000_households_s": round(median, 3)},
        {
            "settlement_build": {
                "runs": [round(s, 3) for s in samples],
                "households": entries,
                "resting_orders": len(orders),
                "target_s": TARGET_S,
                "ratio_to_target": round(median / TARGET_S, 3),
                "database": "sqlite",
                "transactions": transactions,
            }
        },
        merge=True,
    )


if __name__ == "__main__":
    main()
