"""End to end pieces of the bridge tests: a community on Anvil, Mosquitto with auth, `vatio oracle`, and
`vatio bridge` fed by a simulated source whose registers are a known function of the wall clock.

The fault tests' helpers (tests/backend/faults/fault_helpers.py) start Anvil with a 4 s interval,
the oracle process and the database; here the broker runs with the repo's auth config and every
client logs in: the oracle as ``oracle``, the bridge as its meter's checksummed address.

The source's registers at whole second t are ``consumed(t) = C0 + 3 (t - t0)`` and
``produced(t) = P0 + (t - t0)`` Wh (10.8 kW in, 3.6 kW out). Each feeder hands the bridge the
value of second t just after t begins, so the bridge (which stamps a sample with its own clock when
it arrives) signs exact points of those lines, and the register delta over an interval is
``consumed(end) - consumed(start)``, independent of the oracle's arithmetic.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from bridge_helpers import fixture_json, p1_telegram
from sml_builder import meter_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from fault_helpers import (
    Community,
    Database,
    OracleProcess,
    PrivateBroker,
    build_community,
    wait_until,
)

from backend.broker import broker_address, start_mosquitto
from backend.broker_auth import ORACLE_USER, BrokerAuth
from backend.db.migrate import upgrade
from backend.db.session import make_engine
from backend.paths import REPO_ROOT
from backend.processes import kill_process_group, stop_process_group

CONSUMED_WH_PER_S = 3
PRODUCED_WH_PER_S = 1
SHELLY_PREFIX = "shellypro3em-0cb815fcaff4"
HA_TOKEN = "test-long-lived-token"


@dataclass(frozen=True)
class SourceRegisters:
    """The meter's registers as a function of the whole wall-clock second."""

    t0: int
    consumed0: int = 7_531_000
    produced0: int = 3_580_000

    def consumed(self, t: int) -> int:
        return self.consumed0 + CONSUMED_WH_PER_S * (t - self.t0)

    def produced(self, t: int) -> int:
        return self.produced0 + PRODUCED_WH_PER_S * (t - self.t0)

    def power_w(self) -> int:
        return (CONSUMED_WH_PER_S - PRODUCED_WH_PER_S) * 3600


class Feeder:
    """Calls ``feed(t)`` just after each whole second t begins, in a thread, until stopped."""

    def __init__(self, feed) -> None:
        self.feed = feed
        self.fed: list[int] = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="source-feeder", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(1.0 - time.time() % 1.0 + 0.01)
            if self._stop.is_set():
                return
            if not self.paused.is_set():
                second = int(time.time())
                self.feed(second)
                self.fed.append(second)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class HomeAssistantReplay(http.server.ThreadingHTTPServer):
    """Home Assistant's REST API, answering GET /api/states/<entity> with the recorded answers' shape
    (tests/fixtures/meters/homeassistant_states.json) and the registers of the current second."""

    def __init__(self, registers: SourceRegisters) -> None:
        recorded = fixture_json("homeassistant_states.json")
        self.templates = {entity: answers[0] for entity, answers in recorded.items() if entity.startswith("sensor.")}
        self.registers = registers
        super().__init__(("127.0.0.1", 0), _HomeAssistantHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, name="ha-replay", daemon=True).start()

    def answer(self, entity: str) -> dict | None:
        template = self.templates.get(entity)
        if template is None:
            return None
        # Never answer in the last 50 ms of a second: the bridge stamps the answer with the second it arrives in.
        if time.time() % 1.0 > 0.95:
            time.sleep(1.0 - time.time() % 1.0 + 0.005)
        second = int(time.time())
        value_wh = {
            "sensor.grid_import": self.registers.consumed(second),
            "sensor.grid_export": self.registers.produced(second),
        }.get(entity)
        answer = json.loads(json.dumps(template))
        if value_wh is not None:
            answer["state"] = f"{value_wh / 1000:.3f}"
            answer["attributes"]["unit_of_measurement"] = "kWh"
        stamp = datetime.fromtimestamp(second, UTC).isoformat()
        answer["last_updated"] = answer["last_changed"] = stamp
        return answer


class _HomeAssistantHandler(http.server.BaseHTTPRequestHandler):
    server: HomeAssistantReplay

    def do_GET(self) -> None:
        entity = self.path.removeprefix("/api/states/")
        answer = self.server.answer(entity) if self.path.startswith("/api/states/") else None
        status = 401 if self.headers.get("Authorization") != f"Bearer {HA_TOKEN}" else (200 if answer else 404)
        body = json.dumps(answer if status == 200 else {"message": "no"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class BridgeProcess:
    """`vatio bridge` for one community meter, fed by one source; each start logs to its own file."""

    def __init__(
        self,
        community: Community,
        broker: PrivateBroker,
        auth: BrokerAuth,
        tmp_path: Path,
        source_args: list[str],
        meter_index: int = 0,
        every_s: float = 1.0,
    ) -> None:
        self.meter = community.meters[meter_index].meter
        self.command = [
            sys.executable,
            "-m",
            "backend.cli",
            "bridge",
            *source_args,
            "--deployment",
            str(community.deployment_path),
            "--community",
            community.name,
            "--private-key",
            community.meters[meter_index].meter_key,
            "--insecure-key",
            "--broker",
            broker.url,
            "--broker-password-file",
            str(auth.user_password_file(self.meter)),
            "--every",
            str(every_s),
            "--state-dir",
            str(tmp_path / "bridge-state"),
            "--max-clock-drift-s",
            "1e9",
        ]
        self.state_dir = tmp_path / "bridge-state"
        self.tmp_path = tmp_path
        self.process: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def start(self) -> None:
        log_path = self.tmp_path / f"bridge-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )

    def kill(self) -> None:
        kill_process_group(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process_group(self.process, timeout=15)

    def status(self) -> dict:
        path = self.state_dir / "status.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def tail(self, lines: int = 30) -> str:
        text = "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())
        return "--- bridge log tail ---\n" + "\n".join(text.splitlines()[-lines:])


class Stack:
    """Anvil + community (one meter), Mosquitto with auth, a migrated SQLite database and the oracle."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.community = build_community(tmp_path, households=1, traders=0)
        self.meter = self.community.meters[0].meter
        self.auth = BrokerAuth(tmp_path / "broker-auth", self.community.name)
        self.auth.ensure([self.meter])
        self.broker = PrivateBroker(tmp_path / "mosquitto", auth=self.auth)
        url = f"sqlite:///{tmp_path / 'oracle.db'}"
        upgrade(url)
        self.database = Database(url, make_engine(url))
        self.oracle = OracleProcess(
            self.community,
            self.broker,
            self.database,
            archive_dir=tmp_path / "archive",
            log_dir=tmp_path,
            environment={
                "VATIO_MQTT_USERNAME": ORACLE_USER,
                "VATIO_MQTT_PASSWORD_FILE": str(self.auth.user_password_file(ORACLE_USER)),
            },
        )
        self.oracle.start()
        self.extras: list = []

    def details(self) -> str:
        bridges = [extra for extra in self.extras if isinstance(extra, BridgeProcess)]
        return self.oracle.tail() + "\n" + "\n".join(bridge.tail() for bridge in bridges)

    def close(self) -> None:
        for extra in reversed(self.extras):
            extra.stop()
        self.oracle.stop()
        self.broker.stop()
        self.database.engine.dispose()
        self.community.close()


def source_for(kind: str, stack: Stack, registers: SourceRegisters) -> tuple[list[str], Feeder]:
    """The bridge's source options and a (not yet started) feeder that produces `registers` each second."""
    if kind in ("p1", "sml"):
        master, slave = os.openpty()
        stack.extras.append(Closer(lambda: (os.close(master), os.close(slave))))
        if kind == "p1":
            tariff2_in, tariff2_out = 3_210_456, 1_234_567

            def feed(t: int) -> None:
                os.write(
                    master,
                    p1_telegram(
                        registers.consumed(t) - tariff2_in,
                        tariff2_in,
                        tariff2_out,
                        registers.produced(t) - tariff2_out,
                        import_w=registers.power_w(),
                    ),
                )

            return ["--p1", os.ttyname(slave)], Feeder(feed)

        def feed_sml(t: int) -> None:
            os.write(
                master,
                meter_frame(
                    registers.consumed(t) * 10, registers.produced(t) * 10, registers.power_w(), counter=t & 0xFFFFFF
                ),
            )

        return ["--sml", os.ttyname(slave)], Feeder(feed_sml)
    if kind == "shelly":
        household = start_mosquitto(stack.tmp_path / "household-mosquitto")  # the household's own, anonymous
        stack.extras.append(Closer(household.stop))
        host, port = broker_address(household.url)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect(host, port)
        client.loop_start()
        stack.extras.append(Closer(lambda: (client.disconnect(), client.loop_stop())))

        def feed_shelly(t: int) -> None:
            params = {
                "ts": t + 0.01,
                "em:0": {"id": 0, "total_act_power": float(registers.power_w())},
                "emdata:0": {
                    "id": 0,
                    "total_act": float(registers.consumed(t)),
                    "total_act_ret": float(registers.produced(t)),
                },
            }
            message = {
                "src": SHELLY_PREFIX,
                "dst": f"{SHELLY_PREFIX}/events",
                "method": "NotifyStatus",
                "params": params,
            }
            client.publish(f"{SHELLY_PREFIX}/events/rpc", json.dumps(message), qos=0)

        return ["--shelly-broker", household.url, "--shelly-prefix", SHELLY_PREFIX], Feeder(feed_shelly)
    if kind == "homeassistant":
        server = HomeAssistantReplay(registers)
        stack.extras.append(Closer(server.shutdown))
        token_file = stack.tmp_path / "ha-token"
        token_file.write_text(HA_TOKEN + "\n")
        # Home Assistant is polled by the bridge itself; nothing to feed.
        return [
            "--ha-url",
            server.url,
            "--ha-token-file",
            str(token_file),
            "--ha-import",
            "sensor.grid_import",
            "--ha-export",
            "sensor.grid_export",
        ], Feeder(lambda t: None)
    raise ValueError(kind)


class Closer:
    """Something the stack stops at the end: a pty pair, a household broker, a subscriber."""

    def __init__(self, close) -> None:
        self.close = close

    def stop(self) -> None:
        self.close()


def covered_settled_intervals(stack: Stack, first_reading_ts: int, how_many: int, timeout_s: float) -> list:
    """Wait until `how_many` intervals wholly after the bridge's first reading are settled; return their entries."""
    interval_s = stack.community.interval_s
    first_full = first_reading_ts // interval_s + 1

    def settled() -> list:
        done = set(stack.database.settled_ids())
        entries = [
            entry
            for entry in stack.database.entries()
            if entry.interval_id >= first_full and entry.interval_id in done and entry.meter == stack.meter
        ]
        return entries if len(entries) >= how_many else []

    return wait_until(settled, timeout_s, f"{how_many} settled intervals of the bridge's meter", stack.details)


def first_stored_ts(stack: Stack, timeout_s: float = 30) -> int:
    return wait_until(
        lambda: stack.database.newest_reading_ts(), timeout_s, "the oracle to store a bridge reading", stack.details
    )
