"""One community at scale (issue 16): N households end to end on the production profile.

Run: `make bench` (`--quick`: 1,000 households) or `.venv/bin/python benchmarks/bench_scale.py
[--households N] [--no-write]`. Needs PostgreSQL on 127.0.0.1:5432 (trust; $VATIO_TEST_POSTGRES_URL
points elsewhere), Mosquitto and Anvil. Writes benchmarks/results/scale.json; docs/scale.md reads it.

What runs, from the fault tests' helpers (tests/backend/faults/fault_helpers.py): a community on its
own Anvil (N households and meters registered, a few with auto orders so that intervals trade), a
private Mosquitto with the repo's config, a throwaway PostgreSQL database, two `vatio oracle --role
ingest --share-group` workers and one `vatio oracle --role settle`. Registration sends every
`registerHousehold` without waiting for its receipt (the registry has no batch call), in JSON-RPC
batches, on automine; then Anvil mines a block a second.

The meters run in a process of their own and sign every reading (EIP-712, as real meters do):

1. Ingest rate, one worker then two, in the same run: the meters' readings for a few seconds of the
   recent past are signed beforehand, then published as fast as one paho client can, with one worker
   subscribed and then with both. The rate is readings stored (committed, acknowledged) per second of
   wall time from the first publish to the last row; the publisher's own time is kept beside it, as it
   bounds what two workers can show.
2. Live: every meter publishes a signed reading every 10 s (meter i in second i mod 10, N/10 per
   second) through the broker; the settler closes and settles each interval. For each measured
   interval, `close_to_settled` is from the interval's end plus the grace to the moment the oracle's
   database shows it settled (its last chunk confirmed), polled every 0.25 s.
3. Gas: the receipts' gas of the measured interval's chunks over its entries (households).
4. Database: table sizes (pg_total_relation_size, indexes included) before and after the live phase;
   bytes per reading row times 8,640 readings a day (one per 10 s), plus the per-interval tables'
   bytes per household-interval times 96 intervals a day (the default 900-s interval; this run uses
   short intervals so that it ends in minutes).
5. `vatio audit --from I --to I` of the last measured interval, as a subprocess, timed.

Everything (Anvil, broker, PostgreSQL, workers, settler, meters) shares this machine's cores: the
details record the load average; see docs/scale.md for what extrapolates.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "backend" / "faults"))

import requests  # noqa: E402
from common import throwaway_database, write_results  # noqa: E402
from eth_account import Account  # noqa: E402
from fault_helpers import (  # noqa: E402
    CONSUMER_WH_PER_S,
    ORACLE_KEY,
    PRODUCER_WH_PER_S,
    Community,
    Database,
    PrivateBroker,
    RoleOracle,
    wait_until,
)
from sqlalchemy import func, select, text  # noqa: E402
from web3 import Web3  # noqa: E402

from backend.chain.anvil import free_port, start_anvil  # noqa: E402
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community  # noqa: E402
from backend.db.models import IntervalEntry, SettlementOutbox  # noqa: E402
from backend.db.session import make_engine  # noqa: E402
from backend.meters.mqtt import MeterPublisher  # noqa: E402
from backend.meters.simulator import SimulatedMeter, make_meters, payload, topic  # noqa: E402
from backend.protocol.readings import MeterDomain  # noqa: E402
from backend.simulation.trading import enable_auto_trading  # noqa: E402

FULL_HOUSEHOLDS = 10_000
QUICK_HOUSEHOLDS = 1_000
TRADERS = 20  # households with auto orders: the intervals trade, so the gas includes fills
# Divides 86400 (the registry's rule); short, so that a run ends in minutes, and longer than one settlement
# of 10,000 households here (~70 s): with 60-s intervals the settler fell behind and each interval waited
# for the one before it.
INTERVAL_S = 120
GRACE_S = 20  # two reading periods: every meter has a reading after the interval's end
READING_PERIOD_S = 10
MEASURED_INTERVALS = 2
BURST_READINGS = 30_000  # per ingest measurement (one worker, then two); --quick: 10,000
CAPACITY_W = 15_000
SEED = 16
REGISTRATION_BATCH = 250  # raw transactions per JSON-RPC batch
PRODUCTION_INTERVAL_S = 900
READINGS_PER_DAY = 86_400 // READING_PERIOD_S
PER_INTERVAL_TABLES = ("intervals", "interval_entries", "settlement_outbox", "chain_events", "household_tokens")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the chain ------------------------------------------------------------------------------------


def register_unconfirmed(web3: Web3, registry, meters: list[SimulatedMeter], addresses: dict) -> float:
    """registerHousehold for every meter, signed here and sent in JSON-RPC batches without waiting for
    receipts (automine mines each on arrival); returns the seconds it took, the last receipt included."""
    admin = Account.from_key(ANVIL_DEPLOYER_KEY)
    nonce = web3.eth.get_transaction_count(admin.address)
    gas_price = web3.eth.gas_price * 2  # automine's blocks are small: the base fee only falls
    chain_id = web3.eth.chain_id
    selector = registry.functions.registerHousehold(admin.address, admin.address, CAPACITY_W)._encode_transaction_data()
    selector = selector[:10]  # 0x and the 4-byte selector; the arguments are three static words
    started = time.perf_counter()
    raw = []
    for offset, meter in enumerate(meters):
        household, meter_address = addresses[meter.index]
        data = (
            selector
            + household[2:].lower().rjust(64, "0")
            + meter_address[2:].lower().rjust(64, "0")
            + format(CAPACITY_W, "064x")
        )
        transaction = {
            "to": registry.address,
            "data": data,
            "gas": 300_000,
            "gasPrice": gas_price,
            "nonce": nonce + offset,
            "chainId": chain_id,
            "value": 0,
        }
        raw.append(Account.sign_transaction(transaction, admin.key).raw_transaction.to_0x_hex())
    # Automine with thousands of transactions in the pool stalls Anvil (each arrival mines a block and
    # re-sorts the pool): the pool fills with automine off, then each anvil_mine takes what fits a block.
    web3.provider.make_request("evm_setAutomine", [False])
    url = web3.provider.endpoint_uri
    for start in range(0, len(raw), REGISTRATION_BATCH):
        batch = [
            {"jsonrpc": "2.0", "id": n, "method": "eth_sendRawTransaction", "params": [tx]}
            for n, tx in enumerate(raw[start : start + REGISTRATION_BATCH])
        ]
        answers = requests.post(url, json=batch, timeout=120).json()
        failed = [a["error"] for a in answers if "error" in a]
        if failed:
            raise RuntimeError(f"registration refused by the node: {failed[:3]}")
    while web3.eth.get_transaction_count(admin.address) < nonce + len(raw):
        web3.provider.make_request("anvil_mine", [1])
    web3.provider.make_request("evm_setAutomine", [True])
    return time.perf_counter() - started


def build_scale_community(workdir: Path, households: int, traders: int) -> tuple[Community, dict]:
    """Like fault_helpers.build_community, with registration that does not wait for each receipt."""
    port = free_port()
    node = start_anvil(port=port, extra_args=["--gas-limit", "60000000"])
    try:
        web3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        deployment = deploy_community(
            web3,
            Account.from_key(ANVIL_DEPLOYER_KEY),
            CommunitySettings(interval_seconds=INTERVAL_S, oracle=Account.from_key(ORACLE_KEY).address),
        )
        deployment_path = deployment.save(workdir / "deployment")
        meters = make_meters(households, SEED)
        started = time.perf_counter()
        addresses = {
            m.index: (Account.from_key(m.household_key).address, Account.from_key(m.meter_key).address) for m in meters
        }
        keys_s = time.perf_counter() - started
        registry = deployment.contract(web3, "CommunityRegistry")
        registration_s = register_unconfirmed(web3, registry, meters, addresses)
        ends = (meters[0], meters[-1])
        missing = [m.index for m in ends if not registry.functions.isRegistered(addresses[m.index][0]).call()]
        if missing:
            raise RuntimeError(f"households {missing} are not registered")
        euro = deployment.contract(web3, "Euro")
        admin = Deployer(web3, Account.from_key(ANVIL_DEPLOYER_KEY))
        for meter in meters[:traders]:
            web3.provider.make_request("anvil_setBalance", [addresses[meter.index][0], hex(10**19)])
            admin.call(euro.functions.faucet(addresses[meter.index][0]))
        enable_auto_trading(web3, deployment, [m.household_key for m in meters[:traders]], seed=SEED, progress=log)
        web3.provider.make_request("evm_setIntervalMining", [1])
    except BaseException:
        node.stop()
        raise
    community = Community(
        node, port, deployment.chain_id, None, 1, web3, deployment, deployment_path, meters, INTERVAL_S, name="scale"
    )
    return community, {
        "addresses": addresses,
        "key_derivation_s": round(keys_s, 1),
        "registration_s": round(registration_s, 1),
    }


# --- the meters, in a process of their own ----------------------------------------------------------


@dataclass
class CachedMeter(SimulatedMeter):
    """A simulated meter whose address is derived once (SimulatedMeter derives it on every reading)."""

    address: str = ""

    @property
    def meter(self) -> str:
        return self.address


@dataclass
class FleetState:
    meters: list[CachedMeter]
    domain: MeterDomain
    community: str
    signed: list[tuple[str, bytes]] = field(default_factory=list)
    last_ts: dict[int, int] = field(default_factory=dict)

    def advance(self, meter: CachedMeter, ts: int) -> tuple[str, bytes]:
        elapsed = ts - self.last_ts.get(meter.index, ts - 1)
        rate = PRODUCER_WH_PER_S if meter.index % 2 == 0 else CONSUMER_WH_PER_S
        signed = meter.advance(rate[0] * elapsed, rate[1] * elapsed, ts, elapsed, self.domain)
        self.last_ts[meter.index] = ts
        return topic(self.community, meter.address), payload(signed)


def fleet_main(connection, broker_url: str, community: str, chain_id: int, registry: str, keys: list) -> None:
    """Commands from the parent: ("sign", rounds, first_ts), ("send", start, stop), ("live",), ("stop",)."""
    meters = [CachedMeter(index, household, meter, address=address) for index, household, meter, address in keys]
    state = FleetState(meters, MeterDomain(chain_id, registry), community)
    publisher = MeterPublisher(broker_url, client_id=f"scale-fleet-{os.getpid()}", max_inflight=100)
    try:
        while True:
            command = connection.recv()
            if command[0] == "sign":
                _, rounds, first_ts = command
                started = time.perf_counter()
                for round_number in range(rounds):
                    state.signed.extend(state.advance(m, first_ts + round_number) for m in meters)
                connection.send(("signed", len(state.signed), time.perf_counter() - started))
            elif command[0] == "send":
                _, start, stop = command
                started = time.perf_counter()
                for message_topic, body in state.signed[start:stop]:
                    publisher.publish(message_topic, body)
                connection.send(("sent", time.perf_counter() - started))
            elif command[0] == "live":
                connection.send(("live", *live(state, publisher, connection)))
            elif command[0] == "stop":
                break
    finally:
        publisher.close()


def live(state: FleetState, publisher: MeterPublisher, connection) -> tuple[int, int, float]:
    """Each second s, the meters with index = s mod 10 publish a reading stamped s, until ("stop",) arrives.

    Returns (published, seconds finished late, the largest lag in s) so that the parent knows whether
    the meters kept their pace."""
    published, late, worst = 0, 0, 0.0
    second = int(time.time()) + 1
    while True:
        wait = second - time.time()
        if wait > 0 and connection.poll(wait):
            connection.recv()
            return published, late, round(worst, 3)
        for meter in state.meters[second % READING_PERIOD_S :: READING_PERIOD_S]:
            publisher.publish(*state.advance(meter, second))
            published += 1
        lag = time.time() - (second + 1)
        if lag > 0:
            late += 1
            worst = max(worst, lag)
        second += 1


class Fleet:
    def __init__(self, community: Community, broker_url: str, addresses: dict):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        keys = [(m.index, m.household_key, m.meter_key, addresses[m.index][1]) for m in community.meters]
        registry = community.deployment.address("CommunityRegistry")
        self.process = context.Process(
            target=fleet_main, args=(child, broker_url, community.name, community.chain_id, registry, keys), daemon=True
        )
        self.process.start()

    def ask(self, *command, timeout_s: float = 600):
        self.connection.send(command)
        if not self.connection.poll(timeout_s):
            raise TimeoutError(f"the meter fleet did not answer {command[0]!r} in {timeout_s:.0f} s")
        return self.connection.recv()

    def close(self) -> None:
        if self.process.is_alive():
            self.connection.send(("stop",))
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


# --- measurements -----------------------------------------------------------------------------------


def ingest_rate(fleet: Fleet, database: Database, start: int, stop: int) -> dict:
    """Publish signed readings [start, stop) and time them until every one is stored."""
    before = database.reading_count()
    expected = before + stop - start
    started = time.perf_counter()
    fleet.connection.send(("send", start, stop))
    wait_until(lambda: database.reading_count() >= expected, 600, f"{stop - start} readings to be stored", poll_s=0.05)
    elapsed = time.perf_counter() - started
    _, publish_s = fleet.connection.recv()
    return {
        "readings": stop - start,
        "seconds": round(elapsed, 2),
        "publish_s": round(publish_s, 2),
        "per_s": round((stop - start) / elapsed),
    }


def table_bytes(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT relname, pg_total_relation_size(relid) FROM pg_catalog.pg_statio_user_tables")
        )
        return {name: int(size) for name, size in rows}


def settled_seen(database: Database, interval_ids: list[int], grace_s: int, timeout_s: float) -> dict[int, float]:
    """Poll until every interval is settled; the wall time each was first seen settled."""
    seen: dict[int, float] = {}
    deadline = time.time() + timeout_s
    while len(seen) < len(interval_ids):
        if time.time() > deadline:
            raise TimeoutError(f"intervals {sorted(set(interval_ids) - seen.keys())} not settled in {timeout_s:.0f} s")
        settled = set(database.settled_ids())
        now = time.time()
        for interval_id in interval_ids:
            if interval_id in settled and interval_id not in seen:
                seen[interval_id] = now
                due = (interval_id + 1) * INTERVAL_S + grace_s
                log(f"interval {interval_id} settled {now - due:.1f} s after its end + grace")
        time.sleep(0.25)
    return seen


def interval_gas(database: Database, interval_id: int) -> tuple[int, int, int]:
    """(gas of its confirmed transactions, chunks, entries)."""
    with database.sessions() as session:
        rows = list(session.scalars(select(SettlementOutbox).where(SettlementOutbox.interval_id == interval_id)))
        entries = session.scalar(
            select(func.count()).select_from(IntervalEntry).where(IntervalEntry.interval_id == interval_id)
        )
    gas = sum(int(row.payload["receipt"]["gasUsed"]) for row in rows)
    return gas, len(rows), entries


def household_intervals_between(database: Database, first: int, last: int) -> int:
    with database.sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(IntervalEntry)
            .where(IntervalEntry.interval_id >= first, IntervalEntry.interval_id <= last)
        )


def run_audit(community: Community, archive_dir: Path, interval_id: int) -> float:
    command = [
        sys.executable, "-m", "backend.cli", "audit",
        "--rpc-url", community.node.url,
        "--archive", str(archive_dir),
        "--deployment", str(community.deployment_path),
        "--from", str(interval_id), "--to", str(interval_id),
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"vatio audit of interval {interval_id} exited {result.returncode}:\n{output}")
    return elapsed


def run(households: int, burst: int, workdir: Path) -> tuple[dict, dict]:
    load_before = os.getloadavg()
    log(f"building a community of {households} households on Anvil")
    community, setup = build_scale_community(workdir, households, TRADERS)
    addresses = setup.pop("addresses")
    log(f"registered in {setup['registration_s']} s (keys derived in {setup['key_derivation_s']} s)")
    broker = PrivateBroker(workdir / "mosquitto")
    oracles: list[RoleOracle] = []
    fleet: Fleet | None = None
    archive_dir = workdir / "archive"
    try:
        with throwaway_database("scale") as url:
            database = Database(url, make_engine(url))

            def oracle(role: str, name: str, **options) -> RoleOracle:
                (workdir / name).mkdir()
                made = RoleOracle(community, broker, database, archive_dir=archive_dir, log_dir=workdir / name,
                                  grace_s=GRACE_S, role=role, name=name, **options)  # fmt: skip
                oracles.append(made)
                return made

            workers = [oracle("ingest", f"ingest-{n}", share_group="workers") for n in (1, 2)]
            settler = oracle("settle", "settler")
            workers[0].start()
            if f"{households} meters known" not in workers[0].all_logs():  # a reverted registration shows here
                raise RuntimeError(f"the worker does not know {households} meters\n{workers[0].tail()}")
            fleet = Fleet(community, broker.url, addresses)
            rounds = max(1, math.ceil(burst / households))
            first_ts = int(time.time()) - (2 * rounds + 1) - 2
            _, signed, sign_s = fleet.ask("sign", 1 + 2 * rounds, first_ts)
            log(f"{signed} readings signed in {sign_s:.1f} s ({sign_s / signed * 1e3:.2f} ms each)")
            # The first round primes the worker's session (what reaches the broker before its
            # subscription is not kept): sent again until stored, as fault_helpers.start_publishing does.
            for _attempt in range(10):
                fleet.ask("send", 0, households)
                deadline = time.time() + 15
                while database.reading_count() < households and time.time() < deadline:
                    time.sleep(0.2)
                if database.reading_count() >= households:
                    break
            else:
                raise RuntimeError(f"the first round never reached the worker\n{workers[0].tail()}")
            one = ingest_rate(fleet, database, households, households * (1 + rounds))
            log(f"one worker: {one['per_s']} readings/s ({one})")
            workers[1].start()
            time.sleep(2)  # its shared subscription in place
            two = ingest_rate(fleet, database, households * (1 + rounds), households * (1 + 2 * rounds))
            log(f"two workers: {two['per_s']} readings/s ({two})")

            settler.start()
            sizes_before = table_bytes(database)
            readings_before = database.reading_count()
            live_from = int(time.time()) + 1
            fleet.connection.send(("live",))
            first_measured = (live_from + READING_PERIOD_S) // INTERVAL_S + 1
            measured = list(range(first_measured, first_measured + MEASURED_INTERVALS))
            wait_s = (measured[-1] + 1) * INTERVAL_S + GRACE_S - time.time() + 600
            log(f"meters live from {live_from}; measuring intervals {measured} (settled within {wait_s:.0f} s)")
            seen = settled_seen(database, measured, GRACE_S, wait_s)
            sizes_after = table_bytes(database)
            readings_after = database.reading_count()
            _, published, late, worst = _stop_live(fleet)
            settled_ids = database.settled_ids()
            first_live_interval = min(i for i in settled_ids if i >= live_from // INTERVAL_S)
            household_intervals = household_intervals_between(database, first_live_interval, measured[-1])
            per_interval = []
            for interval_id in measured:
                gas, chunks, entries = interval_gas(database, interval_id)
                due = (interval_id + 1) * INTERVAL_S + GRACE_S
                per_interval.append({"interval": interval_id, "close_to_settled_s": round(seen[interval_id] - due, 2),
                                     "gas": gas, "chunks": chunks, "entries": entries,
                                     "gas_per_entry": round(gas / entries)})  # fmt: skip
            log(f"per interval: {per_interval}")
            # The database says settled a moment before the settler writes the archive document.
            document = archive_dir / str(community.chain_id) / f"{measured[-1]}.json"
            wait_until(document.exists, 120, f"the archive document {document.name}", settler.tail)
            audit_s = run_audit(community, archive_dir, measured[-1])
            log(f"vatio audit of interval {measured[-1]}: {audit_s:.2f} s")
            archive_bytes = document.stat().st_size
            database.engine.dispose()
            for process in oracles:
                process.stop()
    finally:
        if fleet is not None:
            fleet.close()
        for process in oracles:
            process.stop()
        broker.stop()
        community.close()

    grown = {name: sizes_after.get(name, 0) - sizes_before.get(name, 0) for name in sizes_after}
    reading_rows = readings_after - readings_before
    bytes_per_reading = grown.get("readings", 0) / reading_rows
    per_interval_bytes = sum(grown.get(name, 0) for name in PER_INTERVAL_TABLES)
    bytes_per_household_interval = per_interval_bytes / household_intervals
    intervals_per_day = 86_400 // PRODUCTION_INTERVAL_S
    bytes_per_household_day = bytes_per_reading * READINGS_PER_DAY + bytes_per_household_interval * intervals_per_day
    last = per_interval[-1]
    n = households
    close_s = max(p["close_to_settled_s"] for p in per_interval)
    gas_per_entry = round(statistics.median(p["gas_per_entry"] for p in per_interval))
    figures = {
        "households": n,
        "readings_per_s_two_workers": two["per_s"],
        "readings_per_s_one_worker": one["per_s"],
        "ratio_two_workers_to_one": round(two["per_s"] / one["per_s"], 3),
        f"close_to_settled_{n}_s": close_s,
        f"close_to_settled_{n}_ratio_to_target_60_s": round(close_s / 60, 3),
        f"settlement_gas_per_household_interval_{n}": gas_per_entry,
        "db_bytes_per_household_day": round(bytes_per_household_day),
        f"audit_interval_{n}_s": round(audit_s, 2),
        f"audit_interval_{n}_ratio_to_target_10_s": round(audit_s / 10, 3),
    }
    details = {
        "setup": setup,
        "traders": TRADERS,
        "interval_s": INTERVAL_S,
        "grace_s": GRACE_S,
        "reading_period_s": READING_PERIOD_S,
        "offered_readings_per_s_live": round(n / READING_PERIOD_S),
        "ingest_one_worker": one,
        "ingest_two_workers": two,
        "ingest_order": "one worker first, then the second joins (a stopped worker's session would keep its share)",
        "sign_ms_per_reading": round(sign_s / signed * 1e3, 3),
        "intervals": per_interval,
        "close_to_settled": "max over the measured intervals: end + grace to its settled row seen (0.25-s poll)",
        "live_published": published,
        "live_seconds_late": late,
        "live_worst_lag_s": worst,
        "db_growth_bytes": {name: size for name, size in grown.items() if size},
        "db_bytes_per_reading_row": round(bytes_per_reading, 1),
        "db_bytes_per_household_interval": round(bytes_per_household_interval, 1),
        "db_per_day_assumes": f"{READINGS_PER_DAY} readings and {intervals_per_day} intervals a household a day",
        "household_intervals_in_window": household_intervals,
        "archive_bytes_per_household_interval": round(archive_bytes / last["entries"], 1),
        "audited_interval": last["interval"],
        "block_time_s": 1,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    return figures, details


def _stop_live(fleet: Fleet) -> tuple:
    fleet.connection.send(("stop",))
    if not fleet.connection.poll(60):
        raise TimeoutError("the meter fleet did not stop")
    return fleet.connection.recv()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_HOUSEHOLDS} households, smaller ingest bursts")
    parser.add_argument("--households", type=int, help=f"default {FULL_HOUSEHOLDS} ({QUICK_HOUSEHOLDS} with --quick)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave scale.json alone")
    args = parser.parse_args()
    households = args.households or (QUICK_HOUSEHOLDS if args.quick else FULL_HOUSEHOLDS)
    if households < TRADERS * 2:
        parser.error(f"--households must be at least {TRADERS * 2}")
    burst = BURST_READINGS // 3 if args.quick else BURST_READINGS
    workdir = Path(tempfile.mkdtemp(prefix="vatio-bench-scale-"))
    try:
        figures, details = run(households, burst, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    details["quick"] = args.quick
    if args.no_write:
        import json

        print(json.dumps({**figures, "_details": details}, indent=2))
    else:
        # Merged: a --quick run (make bench) keeps the full run's N-named figures; the unnamed ones
        # (ingest rates, bytes a day) and "households" are the latest run's, its details under run_<N>.
        write_results("scale", figures, {f"run_{figures['households']}": details}, merge=True)


if __name__ == "__main__":
    main()
