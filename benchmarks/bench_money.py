"""Statements and their audit at 1,000 households x one month, and settlement gas with band bounds.

Run: `.venv/bin/python benchmarks/bench_money.py` (PostgreSQL on $VATIO_TEST_POSTGRES_URL, Anvil).
To iterate: `--households 100 --no-gas --keep-database` seeds once and prints the database's URL;
`--database URL` reuses it (seeded with the same households) without seeding again. Only runs of
1,000 households on a fresh database write money.json (`--no-gas` keeps the gas figures already there).

1. statements_1000_households_month_s: a throwaway PostgreSQL database holds what the indexer stores
   for October 2026 (Europe/Madrid, with its 25-hour DST day: 2,980 intervals) of 1,000 households on
   the Spanish example tariff: every HouseholdSettled, the auto Filled events (40 % prosumers sell to
   the others), every IntervalSettled, the registrations and the tariff versions. Timed: reading the
   month's events (`events_from_db`) and writing every member's CSV and PDF (`write_statements`, PDFs on
   2 processes). Target <= 60 s.
2. statement_audit_1000_households_month_s: `audit_statements` on those 1,000 files: every line
   re-derived from the events and compared. The events come from the same database here, decoded as
   the node's logs would be (`sources.normalize`); fetching 4M logs over eth_getLogs is not in the
   figure. Target <= 120 s.
3. settlement_gas_per_household_interval_100: bench_gas's settlement of 100 households, on a community
   whose Spanish schedule is in force (three bands, the calendar set): without fills (the 13,702 figure:
   no band is read) and with the auto fills (one priceBounds call), each against the flat tariff.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from common import throwaway_database, write_results  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.chain.tariffs import TARIFFS_DIR, find_schedule  # noqa: E402
from backend.db.session import make_engine, session_factory  # noqa: E402
from backend.statements.audit import audit_statements  # noqa: E402
from backend.statements.compose import month_intervals  # noqa: E402
from backend.statements.files import statement_dir  # noqa: E402
from backend.statements.generate import write_statements  # noqa: E402
from backend.statements.sources import events_from_db  # noqa: E402
from backend.tariffs.onchain import band_bounds  # noqa: E402
from backend.tariffs.schema import load_schedule  # noqa: E402

HOUSEHOLDS = int(os.environ.get("VATIO_BENCH_MONEY_HOUSEHOLDS", "1000"))
FULL = 1000
MONTH = "2026-10"
SECONDS = 900
SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"
WORKERS = 2
GAS_BEFORE = 13_702  # benchmarks/results/gas.json before tariff bands


@contextlib.contextmanager
def seeded_database(database: str | None, keep: bool, households: list[str], window: range, schedule, details):
    """A database holding the month's events: `database` as given (already seeded), else a fresh one."""
    if database is not None:
        details["seed_s"] = None
        yield database
        return
    with throwaway_database("money", keep) as url:
        started = time.perf_counter()
        details["events"] = seed(url, households, window, schedule)
        details["seed_s"] = round(time.perf_counter() - started, 1)
        print(f"seeded {details['events']:,} events in {details['seed_s']} s")
        yield url


def seed(url: str, households: list[str], window: range, schedule) -> int:
    """COPY the indexer's rows for the month; returns the number of events."""
    rng = np.random.default_rng(7)
    steps = len(window)
    hour = ((np.arange(steps) * SECONDS) // 3600) % 24
    sun = np.clip(np.sin((hour - 7) / 12 * np.pi), 0, None)
    count = len(households)
    prosumer = rng.random(count) < 0.4
    consumed = rng.integers(40, 400, size=(count, steps))
    produced = (prosumer[:, None] * sun[None, :] * rng.integers(300, 900, size=(count, 1))).astype(np.int64)
    surplus = np.clip(produced - consumed, 0, None)
    deficit = np.clip(consumed - produced, 0, None)
    price = 90_000
    tx = [f"0x{(0xABC << 200) + i:064x}" for i in range(steps)]
    block = [10 + i for i in range(steps)]
    pg = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rows = 0
    with psycopg.connect(pg) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY chain_events (block_number, block_hash, tx_hash, log_index, contract, event, args) FROM STDIN"
        ) as copy:
            buffer = io.StringIO()
            market, registry = "0x" + "11" * 20, "0x" + "22" * 20
            bh = "0x" + "00" * 32

            def put(block_number, tx_hash, log_index, contract, event, args_json):
                buffer.write(f"{block_number}\t{bh}\t{tx_hash}\t{log_index}\t{contract}\t{event}\t{args_json}\n")

            put(
                1,
                "0x" + "01" * 32,
                0,
                registry,
                "TariffVersionAdded",
                '{"version": "0", "scheduleHash": "0x' + "00" * 32 + '", "effectiveFrom": "0", "bands": []}',
            )
            put(
                2,
                "0x" + "02" * 32,
                0,
                registry,
                "TariffVersionAdded",
                '{"version": "1", "scheduleHash": "0x'
                + schedule.source_hash.hex()
                + '", "effectiveFrom": "'
                + str(window.start - 96)
                + '", "bands": []}',
            )
            for index, household in enumerate(households):
                put(
                    3,
                    "0x" + f"{index + 3:064x}",
                    0,
                    registry,
                    "HouseholdRegistered",
                    f'{{"household": "{household}", "meter": "{household}", "capacityW": "5750"}}',
                )
            rows += 2 + count
            copy.write(buffer.getvalue())
            for step, interval_id in enumerate(window):
                buffer = io.StringIO()
                log = 0
                total_surplus, total_deficit = int(surplus[:, step].sum()), int(deficit[:, step].sum())
                traded = min(total_surplus, total_deficit) * 9 // 10
                for h, household in enumerate(households):
                    p, c = int(produced[h, step]), int(consumed[h, step])
                    put(
                        block[step],
                        tx[step],
                        log,
                        market,
                        "HouseholdSettled",
                        f'{{"intervalId": "{interval_id}", "household": "{household}", "producedWh": "{p}", '
                        f'"consumedWh": "{c}", "creditedWh": "0", "burnedWh": "0", "gridImportWh": "0"}}',
                    )
                    log += 1
                    share = 0
                    if traded and surplus[h, step]:
                        share, side = int(surplus[h, step]) * traded // total_surplus, 1
                    elif traded and deficit[h, step]:
                        share, side = int(deficit[h, step]) * traded // total_deficit, 0
                    if share:
                        put(
                            block[step],
                            tx[step],
                            log,
                            market,
                            "Filled",
                            f'{{"intervalId": "{interval_id}", "orderId": "0", "household": "{household}", '
                            f'"side": "{side}", "amountWh": "{share}", "value": "{share * price // 1000}"}}',
                        )
                        log += 1
                        rows += 1
                put(
                    block[step],
                    tx[step],
                    log,
                    market,
                    "IntervalSettled",
                    f'{{"intervalId": "{interval_id}", "readingsRoot": "0x{"00" * 32}", "clearingPrice": "{price}"}}',
                )
                rows += count + 1
                copy.write(buffer.getvalue())
        connection.commit()
        cursor.execute("ANALYZE chain_events")
    return rows


def statements_and_audit(count: int = HOUSEHOLDS, database: str | None = None, keep: bool = False) -> tuple[dict, dict]:
    schedule = load_schedule(SPAIN)
    window = month_intervals(MONTH, schedule.zone, SECONDS)
    households = [f"0x{(0xFEED << 140) + i:040x}" for i in range(count)]
    figures, details = {}, {"households": count, "month": MONTH, "intervals": len(window)}
    with (
        seeded_database(database, keep, households, window, schedule, details) as url,
        tempfile.TemporaryDirectory() as out,
    ):
        engine = make_engine(url)
        schedules: dict = {}

        def schedule_for(schedule_hash):
            if schedule_hash not in schedules:
                schedules[schedule_hash] = find_schedule(schedule_hash)
            return schedules[schedule_hash]

        started = time.perf_counter()
        with session_factory(engine)() as session:
            events = events_from_db(session, SECONDS, window)
        read_s = time.perf_counter() - started
        written = write_statements(events, MONTH, schedule_for, schedule.zone, Path(out), workers=WORKERS)
        total_s = time.perf_counter() - started
        figures["statements_1000_households_month_s"] = round(total_s, 1)
        details["statements_read_events_s"] = round(read_s, 1)
        details["statements_written"] = len(written)
        details["pdf_workers"] = WORKERS
        sample = written[0]
        details["sample_statement"] = {
            "household": sample.household,
            "total_eur": str(sample.total),
            "without_community_eur": str(sample.without),
            "saving_eur": str(sample.saving),
        }
        print(
            f"statements: {len(written)} in {total_s:.1f} s ({read_s:.1f} s reading events); sample "
            f"{details['sample_statement']}"
        )

        started = time.perf_counter()
        with session_factory(engine)() as session:
            events = events_from_db(session, SECONDS, window)
        checked, problems = audit_statements(statement_dir(Path(out), MONTH), MONTH, events, schedule_for)
        audit_s = time.perf_counter() - started
        assert checked == count and problems == [], problems[:5]
        figures["statement_audit_1000_households_month_s"] = round(audit_s, 1)
        details["load_average_1m_after_statements_and_audit"] = round(os.getloadavg()[0], 2)
        details["cpus"] = os.cpu_count()
        print(f"audit: {checked} statements re-derived in {audit_s:.1f} s, {len(problems)} differences")
        engine.dispose()
    return figures, details


def settlement_gas() -> tuple[dict, dict]:
    import bench_gas

    from backend.chain.deploy import CommunitySettings, deploy_community
    from backend.chain.market_state import read_accounts, read_tariffs, read_token_balances
    from backend.market.solver import clear_interval

    class Banded(bench_gas.Bench):
        def __init__(self, tariff):
            self.tariff = tariff
            original = deploy_community

            def deploy(web3, admin, settings):
                return original(
                    web3, admin, CommunitySettings(interval_seconds=bench_gas.INTERVAL, tariff_schedule=tariff)
                )

            bench_gas.deploy_community = deploy
            try:
                super().__init__()
            finally:
                bench_gas.deploy_community = original

        def set_auto_orders(self, households):
            """Limits inside every Spanish band (60,000-95,000), the same on both runs."""
            for index, wallet in enumerate(households):
                self.send(self.market.functions.setAutoSell(60_000 + 1_000 * (index % 20)), wallet)
                self.send(self.market.functions.setAutoBuy(95_000 - 1_000 * (index % 20)), wallet)
                self.send(self.market.functions.deposit(100 * 10**6), wallet)

        def clear(self, interval, entries, households, orders=()):
            accounts = read_accounts(self.market, households)
            balances = read_token_balances(self.token, households)
            return clear_interval(
                interval, entries, list(orders), accounts, read_tariffs(self.registry, interval_id=interval), balances
            )

    results = {}
    for label, tariff in (("flat", None), ("bands", SPAIN)):
        bench = Banded(tariff)
        try:
            if tariff is not None:  # move the clock into the schedule's version
                for _ in range(3):
                    bench.next_interval()
            bench.add_households(100)
            households = bench.households
            bench.settle_without_trading(households, seed=1)
            bench.settle_without_trading(households, seed=2)
            quiet, _ = bench.settle_without_trading(households, seed=3)
            bench.set_auto_orders(households)
            bench.settle_with_trading(households, seed=4)
            traded, _, fills, _ = bench.settle_with_trading(households, seed=3)
            results[label] = {"without_fills": quiet / 100, "with_fills": traded / 100, "fills": fills}
            print(
                f"{label}: {quiet / 100:,.0f} gas/household-interval without fills, {traded / 100:,.0f} with "
                f"{fills} fills"
            )
        finally:
            bench.node.stop()
    figures = {
        "settlement_gas_per_household_interval_100": round(results["bands"]["without_fills"]),
        "settlement_gas_per_household_interval_100_with_fills": round(results["bands"]["with_fills"]),
    }
    details = {
        "gas": {label: {k: round(v) for k, v in r.items()} for label, r in results.items()},
        "gas_before_tariff_bands": GAS_BEFORE,
        "spanish_band_bounds": band_bounds(load_schedule(SPAIN)),
    }
    return figures, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=HOUSEHOLDS)
    parser.add_argument("--no-gas", action="store_true", help="skip the settlement gas part (Anvil)")
    parser.add_argument("--database", help="a database URL already seeded by --keep-database (same --households)")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the seeded database")
    args = parser.parse_args()
    if args.households < 1:
        parser.error("--households must be at least 1")
    figures, details = {}, {}
    if not args.no_gas:
        gas_figures, gas_details = settlement_gas()
        figures.update(gas_figures)
        details.update(gas_details)
    money_figures, money_details = statements_and_audit(args.households, args.database, args.keep_database)
    figures.update(money_figures)
    details.update(money_details)
    print(
        f"targets: statements <= 60 s -> {figures['statements_1000_households_month_s']} s; audit <= 120 s -> "
        f"{figures['statement_audit_1000_households_month_s']} s"
        + (
            ""
            if args.no_gas
            else f"; gas vs {GAS_BEFORE:,} -> {figures['settlement_gas_per_household_interval_100']:,}"
        )
    )
    if args.households == FULL and args.database is None:
        write_results("money", figures, details, merge=args.no_gas)  # --no-gas keeps the last gas figures
    else:
        print("not written to money.json: fewer households or a reused database")


if __name__ == "__main__":
    main()
