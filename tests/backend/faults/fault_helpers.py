"""Helpers of the fault tests: a community on its own chain, a private broker, the oracle process, the meters,
and the invariants every fault test checks.

* zero readings lost: every (meter, seq) the broker acknowledged to the meters
  is stored exactly once, with the content it was signed with;
* zero intervals settled twice: one IntervalSettled event per interval id, and
  one confirmed set of outbox transactions per interval, the very transactions
  the chain shows.

The fixtures that start and stop these live in conftest.py. Every wait is a
poll with a deadline; a timeout says what it waited for and shows the tail of
the oracle's log.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from eth_account import Account
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from web3 import Web3

from backend.broker import MosquittoBroker, start_mosquitto
from backend.chain.anvil import AnvilNode, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployment, deploy_community
from backend.db.models import Interval, IntervalEntry, Reading, SettlementOutbox
from backend.db.session import session_factory
from backend.meters.registration import register_meters
from backend.meters.simulator import SimulatedMeter, make_meters, payload, topic
from backend.paths import REPO_ROOT
from backend.processes import free_port, kill_process_group, stop_process_group
from backend.protocol.energy import Registers, RegisterSample, register_at
from backend.protocol.readings import MeterDomain, SignedReading
from backend.simulation.trading import enable_auto_trading

# Anvil's second default account (mnemonic "test ... junk"): the oracle's own key,
# so its nonces never race the admin's setup transactions.
ORACLE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
INTERVAL_S = 4  # divides 86400 as the registry demands; an interval settles a few seconds after it ends
GRACE_S = 2
BLOCK_TIME_S = 1  # after setup the chain mines a block a second, as a real chain does
PRODUCER_WH_PER_S = (1.6, 0.4)  # (produced, consumed) per second: about 5.8 kW and 1.4 kW
CONSUMER_WH_PER_S = (0.0, 1.2)


def wait_until(
    condition: Callable[[], object],
    timeout_s: float,
    what: str,
    details: Callable[[], str] = lambda: "",
    poll_s: float = 0.2,
):
    """Poll `condition` until it returns something truthy and return that; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            extra = details()
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}" + (f"\n{extra}" if extra else ""))
        time.sleep(poll_s)


def interval_of(ts: float, interval_s: int) -> int:
    return int(ts) // interval_s


# --- the chain ---------------------------------------------------------------------------------


@dataclass
class Community:
    """One community on its own Anvil: contracts, meters, and its deployment file."""

    node: AnvilNode
    port: int
    chain_id: int
    state_file: Path | None
    block_time_s: int | None
    web3: Web3
    deployment: Deployment
    deployment_path: Path  # outside the repo's deployments/: the oracle and the auditor get it with --deployment
    meters: list[SimulatedMeter]
    interval_s: int
    name: str  # the MQTT community prefix

    @property
    def domain(self) -> MeterDomain:
        return MeterDomain(self.chain_id, self.deployment.address("CommunityRegistry"))

    @property
    def market(self):
        return self.deployment.contract(self.web3, "EnergyMarket")

    def stop_node(self) -> None:
        """Stop Anvil; with a state file it writes the chain there on the way out."""
        self.node.stop()

    def start_node(self) -> None:
        """Start Anvil again on the same port, from the state file, mining as before."""
        extra = ["--block-time", str(self.block_time_s)] if self.block_time_s else None
        self.node = start_anvil(port=self.port, state_file=self.state_file, chain_id=self.chain_id, extra_args=extra)

    def settled_events(self) -> list:
        """Every IntervalSettled event of the market since deployment."""
        return self.market.events.IntervalSettled.get_logs(from_block=self.deployment.deploy_block)

    def household_settled_events(self) -> list:
        return self.market.events.HouseholdSettled.get_logs(from_block=self.deployment.deploy_block)

    def close(self) -> None:
        self.node.stop()


def build_community(
    state_dir: Path,
    households: int = 4,
    traders: int = 2,
    interval_s: int = INTERVAL_S,
    seed: int = 1,
    persistent: bool = False,
    block_time_s: int | None = BLOCK_TIME_S,
) -> Community:
    """A fresh Anvil with a community: contracts, registered and funded households, auto orders for `traders`.

    The deployment file goes to `state_dir` (the oracle and the auditor get
    it with --deployment), never to the repo's deployments/. The oracle has
    its own key (Anvil's second account), so its nonces never meet the
    admin's. Setup runs on automine (fast); then the node mines a block every
    `block_time_s`, like a real chain (None: it stays on automine, where the
    chain's clock moves only when a transaction is mined). With `persistent`,
    Anvil keeps its chain in a state file, so that it can be stopped and
    started again.
    """
    port = free_port()
    state_file = state_dir / "anvil-state.json" if persistent else None
    node = start_anvil(port=port, state_file=state_file)
    try:
        web3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 10}))
        deployment = deploy_community(
            web3,
            Account.from_key(ANVIL_DEPLOYER_KEY),
            CommunitySettings(interval_seconds=interval_s, oracle=Account.from_key(ORACLE_KEY).address),
        )
        deployment_path = deployment.save(state_dir / "deployment")
        meters = make_meters(households, seed)
        register_meters(web3, deployment, meters, progress=lambda message: None)
        if traders:
            enable_auto_trading(
                web3, deployment, [m.household_key for m in meters[:traders]], seed=seed, progress=lambda message: None
            )
        if block_time_s:
            web3.provider.make_request("evm_setIntervalMining", [block_time_s])
    except BaseException:
        node.stop()
        raise
    return Community(
        node,
        port,
        deployment.chain_id,
        state_file,
        block_time_s,
        web3,
        deployment,
        deployment_path,
        meters,
        interval_s,
        name=f"faults-{secrets.token_hex(4)}",
    )


# --- the broker and the database ---------------------------------------------------------------


class PrivateBroker:
    """Mosquitto with the repo's config on a free port, restartable on the same port and persistence folder."""

    def __init__(self, state_dir: Path, auth=None):
        """`auth` (backend.broker_auth.BrokerAuth): with the password file and per-meter ACL; None: anonymous."""
        self.state_dir = state_dir
        self.auth = auth
        self.running: MosquittoBroker | None = start_mosquitto(state_dir, auth=auth)
        self.port = int(self.running.url.rsplit(":", 1)[1])
        self.url = self.running.url

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its persistence file (the oracle's session and queue) and exits."""
        if self.running is not None:
            self.running.stop()
            self.running = None

    def start(self) -> None:
        self.running = start_mosquitto(self.state_dir, port=self.port, auth=self.auth)


@dataclass
class Database:
    """The database the oracle writes, read by the test through its own engine."""

    url: str
    engine: Engine

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    def stored_readings(self) -> dict[tuple[str, int], list[tuple[int, int, int]]]:
        """(meter, seq) -> every stored (ts, produced, consumed) for it (a list, so a second row would show)."""
        stored: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        with self.sessions() as session:
            rows = session.execute(
                select(Reading.meter, Reading.seq, Reading.ts, Reading.produced_wh, Reading.consumed_wh)
            )
            for meter, seq, ts, produced, consumed in rows:
                stored.setdefault((meter, seq), []).append((ts, produced, consumed))
        return stored

    def newest_reading_ts(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.max(Reading.ts))) or 0

    def reading_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(Reading))

    def intervals(self) -> dict[int, Interval]:
        with self.sessions() as session:
            return {row.interval_id: row for row in session.scalars(select(Interval))}

    def with_status(self, *statuses: str) -> list[int]:
        return sorted(i for i, row in self.intervals().items() if row.status in statuses)

    def settled_ids(self) -> list[int]:
        return self.with_status("settled")

    def outbox(self) -> list[SettlementOutbox]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(SettlementOutbox).order_by(SettlementOutbox.interval_id, SettlementOutbox.chunk_index)
                )
            )

    def entries(self) -> list[IntervalEntry]:
        with self.sessions() as session:
            return list(session.scalars(select(IntervalEntry).order_by(IntervalEntry.interval_id)))

    def entry(self, interval_id: int, meter: str) -> IntervalEntry | None:
        with self.sessions() as session:
            return session.scalar(
                select(IntervalEntry).where(IntervalEntry.interval_id == interval_id, IntervalEntry.meter == meter)
            )


# --- the oracle process ------------------------------------------------------------------------


class OracleLogWarning(UserWarning):
    """A traceback in the oracle's log that the test did not fail on (the oracle retried and went on)."""


class OracleProcess:
    """`vatio oracle` in a subprocess, each start logging to its own file.

    `archive_dir` None leaves the archive to the oracle's settings (under
    $VATIO_VAR_DIR); `cwd` is the directory it starts in, and `environment`
    adds VATIO_* variables to the test's own.
    """

    def __init__(
        self,
        community: Community,
        broker: PrivateBroker,
        database: Database,
        archive_dir: Path | None,
        log_dir: Path,
        grace_s: int = GRACE_S,
        cwd: Path = REPO_ROOT,
        environment: dict[str, str] | None = None,
    ):
        self.community = community
        self.broker = broker
        self.database = database
        self.archive_dir = archive_dir
        self.log_dir = log_dir
        self.grace_s = grace_s
        self.cwd = cwd
        self.environment = environment or {}
        self.client_id = f"oracle-{community.name}"  # the broker keeps the persistent session under it
        self.process: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "backend.cli",
            "oracle",
            "--community",
            self.community.name,
            "--broker",
            self.broker.url,
            "--rpc-url",
            self.community.node.url,
            "--database-url",
            self.database.url,
            *(["--archive-dir", str(self.archive_dir)] if self.archive_dir is not None else []),
            "--grace",
            str(self.grace_s),
            "--client-id",
            self.client_id,
            "--deployment",
            str(self.community.deployment_path),
        ]

    def start(self) -> None:
        """Start it and return once it is connected (it prints how many meters it knows)."""
        assert not self.alive(), "the oracle is already running"
        log_path = self.log_dir / f"oracle-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        environment = {**os.environ, "VATIO_ORACLE_KEY": ORACLE_KEY, "PYTHONUNBUFFERED": "1", **self.environment}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        wait_until(
            lambda: "meters known" in self.log_text(log_path) or not self.alive(), 60, "the oracle to start", self.tail
        )
        if not self.alive():
            pytest.fail(f"the oracle exited with code {self.process.returncode}\n{self.tail()}")

    def kill(self) -> None:
        """kill -9: no chance to finish a batch, an ack, a commit or a transaction."""
        kill_process_group(self.process)

    def stop(self) -> None:
        """SIGTERM: the oracle's clean shutdown (the settler finishes its pass)."""
        if self.alive():
            stop_process_group(self.process, timeout=45)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @staticmethod
    def log_text(path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(self.log_text(path) for path in self.logs)

    def tail(self, lines: int = 40) -> str:
        text = self.log_text(self.logs[-1]) if self.logs else ""
        return "--- oracle log tail ---\n" + "\n".join(text.splitlines()[-lines:])

    def tracebacks(self) -> list[str]:
        """One line per logged traceback: the log message it came with, and the exception it ended in."""
        found = []
        for path in self.logs:
            lines = self.log_text(path).splitlines()
            for number, line in enumerate(lines):
                if not (line.startswith("Traceback") and number and _LOG_LINE.match(lines[number - 1])):
                    continue  # not the start of a logged traceback (a chained one continues it)
                logged = lines[number - 1].split(" ", 2)[-1]  # without the timestamp
                raised = ""
                for later in lines[number + 1 :]:
                    if _LOG_LINE.match(later):
                        break
                    if _EXCEPTION_LINE.match(later):
                        raised = later  # the last one of a chain is what the caller saw
                found.append(f"{logged.strip()} -> {raised.strip()[:300]}")
        return found


TOOK_THE_LEAD = "took the lead"


class RoleOracle(OracleProcess):
    """`vatio oracle --role <role>`, with its own MQTT client id (each ingest worker keeps its own session).

    Shared by the failover test and benchmarks/bench_failover.py.
    """

    def __init__(self, *args, role: str, name: str, share_group: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role
        self.share_group = share_group
        self.client_id = f"oracle-{self.community.name}-{name}"
        self.name = name

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--role",
            self.role,
            *(["--share-group", self.share_group] if self.share_group else []),
        ]

    def leads(self) -> bool:
        """True once this run (its latest start) took the lead; a restarted former leader starts as a standby."""
        return bool(self.logs) and TOOK_THE_LEAD in self.log_text(self.logs[-1])

    def tail(self, lines: int = 40) -> str:
        return super().tail(lines).replace("--- oracle log tail ---", f"--- {self.name} log tail ---")


_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_EXCEPTION_LINE = re.compile(r"([a-z_]\w*\.)+[A-Z]\w*: |[A-Z]\w*(Error|Exception)\w*: ")


# --- the meters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedReading:
    ts: int
    produced_wh: int
    consumed_wh: int


class ReconnectingPublisher:
    """A meter-side paho client that rides out a broker restart.

    paho's network thread (loop_start) reconnects by itself and sends again
    every QoS 1 message the broker has not acknowledged; a message handed to
    paho while the connection is down is queued (paho answers
    MQTT_ERR_NO_CONN for it), not lost. A message counts as delivered when
    its PUBACK arrives (`acked_mids`).
    """

    def __init__(self, broker_url: str):
        host, port = broker_url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.max_inflight_messages_set(50)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 2)
        self.acked_mids: set[int] = set()
        self.connected = threading.Event()
        self.client.on_connect = lambda *args: self.connected.set()
        self.client.on_disconnect = lambda *args: self.connected.clear()
        self.client.on_publish = lambda client, userdata, mid, reason, properties: self.acked_mids.add(mid)
        self.client.connect(host, int(port), keepalive=5)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise ConnectionError(f"no broker at {broker_url}")

    def publish(self, topic_name: str, body: bytes) -> int:
        """Hand one QoS 1 message to paho; returns its mid."""
        info = self.client.publish(topic_name, body, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"publish to {topic_name} failed: {mqtt.error_string(info.rc)}")
        return info.mid

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MeterFleet:
    """The community's meters, publishing one signed reading each per wall-clock second (ts = now).

    Even meters produce more than they use, odd ones only consume, so auto
    orders trade. `hold(meter)` buffers a meter's readings (signed with their
    own ts, as a meter with a broken uplink does) until `release(meter)`
    publishes them late. `pause_from(ts)` publishes no step at or after `ts`
    until `resume()`: the test then decides when the oracle's watermark
    moves. `flat` stops the registers (so the last closed interval holds
    every Wh).
    """

    def __init__(self, community: Community, client: ReconnectingPublisher):
        self.community = community
        self.client = client
        self.domain = community.domain
        # Account.from_key is slow: derive each address once.
        self.address = {m.index: Account.from_key(m.meter_key).address for m in community.meters}
        self.published: dict[tuple[str, int], PublishedReading] = {}
        self.signed: dict[tuple[str, int], SignedReading] = {}
        self.mids: dict[tuple[str, int], list[int]] = {}
        self.last_ts: dict[str, int] = {}
        self.held: dict[str, list[SignedReading]] = {}
        self.flat = False
        self.paused_from: int | None = None
        self.errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def meter(self, index: int) -> str:
        return self.address[index]

    def step(self, now: int) -> None:
        """Advance every meter to ts `now` and publish (or buffer) its reading."""
        with self._lock:
            if self.paused_from is not None and now >= self.paused_from:
                return
            for meter in self.community.meters:
                address = self.address[meter.index]
                last = self.last_ts.get(address)
                if last is not None and now <= last:
                    continue
                elapsed = now - last if last is not None else 1
                rate = (0.0, 0.0) if self.flat else (PRODUCER_WH_PER_S if meter.index % 2 == 0 else CONSUMER_WH_PER_S)
                signed = meter.advance(rate[0] * elapsed, rate[1] * elapsed, now, elapsed, self.domain)
                self.last_ts[address] = now
                if address in self.held:
                    self.held[address].append(signed)
                else:
                    self._send(signed)

    def _send(self, signed: SignedReading) -> None:
        reading = signed.reading
        key = (reading.meter, reading.seq)
        self.published[key] = PublishedReading(reading.ts, reading.produced_wh, reading.consumed_wh)
        self.signed[key] = signed
        mid = self.client.publish(topic(self.community.name, reading.meter), payload(signed))
        self.mids.setdefault(key, []).append(mid)

    def resend(self, key: tuple[str, int]) -> None:
        """The same signed bytes again, as a QoS 1 redelivery brings them."""
        with self._lock:
            self._send(self.signed[key])

    def hold(self, index: int) -> PublishedReading:
        """Buffer the meter's readings from now on; returns its last published one."""
        with self._lock:
            self.held.setdefault(self.address[index], [])
            return self.readings_of(index)[-1]

    def release(self, index: int) -> list[SignedReading]:
        """Publish a held meter's buffered readings now, in order; it publishes live again afterwards."""
        with self._lock:
            buffered = self.held.pop(self.address[index])
            for signed in buffered:
                self._send(signed)
        return buffered

    def pause_from(self, ts: int) -> None:
        with self._lock:
            self.paused_from = ts

    def resume(self) -> None:
        with self._lock:
            self.paused_from = None

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step(int(time.time()))
                self._stop.wait(1.0 - time.time() % 1.0 + 0.01)  # just after the next second begins
        except BaseException as error:  # noqa: BLE001 - raised again by stop()
            self.errors.append(error)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="meter-fleet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing (the client stays connected until `close`); raise what the thread met."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.errors:
            raise AssertionError(f"the meter fleet failed: {self.errors[0]!r}") from self.errors[0]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()

    def acknowledged(self) -> dict[tuple[str, int], PublishedReading]:
        """The readings the broker confirmed (a PUBACK for any of their sends)."""
        acked = self.client.acked_mids
        with self._lock:
            return {key: self.published[key] for key, mids in self.mids.items() if any(m in acked for m in mids)}

    def wait_all_acknowledged(self, timeout_s: float = 30) -> None:
        wait_until(
            lambda: len(self.acknowledged()) == len(self.published),
            timeout_s,
            "the broker to acknowledge every published reading",
            lambda: f"{len(self.published) - len(self.acknowledged())} of {len(self.published)} unacknowledged",
        )

    def readings_of(self, index: int) -> list[PublishedReading]:
        """A meter's readings as signed (published or still held), by seq."""
        address = self.address[index]
        with self._lock:
            published = [(seq, r) for (meter, seq), r in self.published.items() if meter == address]
            held = [
                (s.reading.seq, PublishedReading(s.reading.ts, s.reading.produced_wh, s.reading.consumed_wh))
                for s in self.held.get(address, [])
            ]
        return [reading for _, reading in sorted(published + held, key=lambda item: item[0])]

    def registers_at(self, index: int, ts: int) -> Registers:
        """The closing rule's value at `ts` over every reading the meter signed."""
        samples = [RegisterSample(r.ts, r.produced_wh, r.consumed_wh) for r in self.readings_of(index)]
        return register_at(samples, ts)


def start_publishing(fleet: MeterFleet, database: Database, oracle: OracleProcess) -> None:
    """Start the fleet once the oracle's persistent session exists.

    Until the oracle's first subscription the broker keeps nothing for it, so
    the first step (seq 1 of every meter) is sent again, byte for byte, until
    the oracle stored it: a redelivered reading is acknowledged as a
    duplicate, never stored twice.
    """
    fleet.step(int(time.time()))
    first = list(fleet.signed)

    def stored_first() -> bool:
        if set(first) <= database.stored_readings().keys():
            return True
        for key in first:
            fleet.resend(key)
        return False

    wait_until(stored_first, 60, "the oracle to store the meters' first readings", oracle.tail, poll_s=0.5)
    fleet.start()


# --- the invariants ----------------------------------------------------------------------------


def assert_no_reading_lost(fleet: MeterFleet, database: Database, oracle: OracleProcess, timeout_s: float = 30) -> int:
    """Every acknowledged reading is stored exactly once, as signed, and nothing unpublished is; returns how many."""
    fleet.wait_all_acknowledged()
    expected = fleet.acknowledged()
    wait_until(
        lambda: database.stored_readings().keys() >= expected.keys(),
        timeout_s,
        f"all {len(expected)} acknowledged readings to be stored",
        lambda: f"missing {sorted(expected.keys() - database.stored_readings().keys())[:10]}\n" + oracle.tail(),
    )
    stored = database.stored_readings()
    twice = {key: rows for key, rows in stored.items() if len(rows) != 1}
    assert not twice, f"readings stored more than once: {twice}"
    different = {
        key: (stored[key][0], (r.ts, r.produced_wh, r.consumed_wh))
        for key, r in expected.items()
        if stored[key][0] != (r.ts, r.produced_wh, r.consumed_wh)
    }
    assert not different, f"stored content differs from what was signed: {different}"
    unexpected = stored.keys() - fleet.published.keys()
    assert not unexpected, f"stored readings nobody published: {sorted(unexpected)[:10]}"
    return len(expected)


def wait_until_drained(
    community: Community, database: Database, oracle: OracleProcess, grace_s: int = GRACE_S, timeout_s: float = 45
) -> int:
    """Once the meters stopped and their readings are stored: wait until the oracle settled every interval the
    newest reading makes due, with nothing left in flight. Returns the last such interval.

    The chain and the database then stand still, so comparing them is no race
    (a transaction mined a moment before the oracle records its receipt would
    otherwise look like an outbox that missed a settlement).
    """
    last_due = (database.newest_reading_ts() - grace_s) // community.interval_s - 1

    def drained() -> bool:
        busy = [row for row in database.outbox() if row.status in ("pending", "sent")]
        return not busy and last_due in database.settled_ids() and not database.with_status("closed", "settling")

    wait_until(drained, timeout_s, f"the oracle to settle every due interval through {last_due}", oracle.tail)
    return last_due


def assert_settled_once(community: Community, database: Database) -> list[int]:
    """One IntervalSettled per interval on-chain; the outbox holds exactly the chain's transactions, confirmed.

    Returns the ids of the intervals settled on-chain.
    """
    events = community.settled_events()
    counts = Counter(event["args"]["intervalId"] for event in events)
    twice = {interval_id: n for interval_id, n in counts.items() if n > 1}
    assert not twice, f"intervals settled more than once on-chain: {twice}"
    chain_tx = {event["args"]["intervalId"]: Web3.to_hex(event["transactionHash"]) for event in events}
    intervals = database.intervals()
    outbox = database.outbox()
    rows_by_interval: dict[int, list[SettlementOutbox]] = {}
    for row in outbox:
        rows_by_interval.setdefault(row.interval_id, []).append(row)
    for interval_id, tx_hash in chain_tx.items():
        rows = rows_by_interval.get(interval_id, [])
        assert rows, f"interval {interval_id} settled on-chain by {tx_hash} but has no outbox rows"
        assert [r.chunk_index for r in rows] == list(range(len(rows))), (
            f"interval {interval_id}: outbox chunks {[(r.chunk_index, r.kind) for r in rows]}"
        )
        assert all(r.status == "confirmed" for r in rows), (
            f"interval {interval_id}: outbox rows {[(r.chunk_index, r.status, r.last_error) for r in rows]}"
        )
        assert rows[-1].tx_hash == tx_hash, f"interval {interval_id}: outbox {rows[-1].tx_hash}, chain {tx_hash}"
        interval = intervals[interval_id]
        assert (interval.status, interval.settled_tx) == ("settled", tx_hash), (
            f"interval {interval_id}: {interval.status} by {interval.settled_tx}, chain {tx_hash}"
        )
    sent_twice = {h: n for h, n in Counter(row.tx_hash for row in outbox if row.tx_hash).items() if n > 1}
    assert not sent_twice, f"one transaction in two outbox rows: {sent_twice}"
    db_only = {i for i, row in intervals.items() if row.status == "settled"} - chain_tx.keys()
    assert not db_only, f"settled in the database but not on-chain: {sorted(db_only)}"
    return sorted(chain_tx)


def assert_archived(oracle: OracleProcess, interval_ids: list[int]) -> None:
    """Every settled interval has its archive document."""
    folder = oracle.archive_dir / str(oracle.community.chain_id)
    missing = [i for i in interval_ids if not (folder / f"{i}.json").exists()]
    assert not missing, f"settled intervals without an archive document in {folder}: {missing}"


def assert_contiguous(interval_ids: list[int], what: str) -> None:
    """Every meter publishes every second, so every interval from the first to the last has entries."""
    gaps = sorted(set(range(interval_ids[0], interval_ids[-1] + 1)) - set(interval_ids))
    assert not gaps, f"{what}: intervals missing between {interval_ids[0]} and {interval_ids[-1]}: {gaps}"
