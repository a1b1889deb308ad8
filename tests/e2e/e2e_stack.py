"""The whole community for the browser tests: chain, contracts, broker, oracle, web server, meters.

- Anvil (a fresh node) with a community deployed at a SHORT interval, so a
  settlement happens within a test; households A and B are Anvil accounts 1
  and 2 (registered, with meters of their own), the admin is account 0, and
  the oracle signs with account 3, so the admin's browser transactions never
  race the oracle's settlement nonces.
- The system Mosquitto at 127.0.0.1:1883, under a community name of its own.
- `vatio oracle` as a subprocess (ingest, settle, archive, index), pushing
  live events through Redis on a channel of its own.
- `vatio serve` as a subprocess on a free port, on the same Redis channel.
- A meter feed: signed readings for A (a prosumer with surplus) and B (a
  consumer) every two seconds, published like real meters over MQTT.
- A block ticker: Anvil mines only when a transaction arrives, so an idle
  chain's clock stops, and the oracle rightly waits for a block past an
  interval's end before settling it (MarketIntervalNotEnded). A real chain makes
  blocks on its own; the ticker asks Anvil for one every second, keeping
  instant mining for the browser's transactions.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from e2e_wallet import anvil_account
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from backend.chain.anvil import AnvilNode, rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, Deployment, deploy_community
from backend.db.migrate import upgrade
from backend.meters.mqtt import MeterPublisher
from backend.meters.simulator import payload, topic
from backend.paths import REPO_ROOT
from backend.processes import free_port
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading

INTERVAL_S = 15
GRACE_S = 2
READING_EVERY_S = 2.0
BROKER_URL = "mqtt://127.0.0.1:1883"
REDIS_URL = "redis://127.0.0.1:6379/0"
CAPACITY_W = 25_000


@dataclass
class MeterProfile:
    """A meter's cumulative registers and the steady power it produces and consumes (Wh per second)."""

    household: str
    key: LocalAccount
    produced_wh_per_s: int
    consumed_wh_per_s: int
    seq: int = 0
    ts: int = 0
    produced_wh: int = 1_000
    consumed_wh: int = 1_000


class BlockTicker:
    """Mines an empty block every second, so the chain's time follows the clock while nobody transacts."""

    def __init__(self, rpc_url: str, every_s: float = 1.0):
        self.rpc_url = rpc_url
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-blocks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                rpc_call(self.rpc_url, "evm_mine")
            except (OSError, RuntimeError):
                pass  # the node is stopping

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class MeterFeed:
    """Publishes signed readings for every meter on a clock, and one more on demand."""

    def __init__(self, community: str, domain: MeterDomain, meters: list[MeterProfile]):
        self.community = community
        self.domain = domain
        self.meters = {meter.household: meter for meter in meters}
        self.publisher = MeterPublisher(BROKER_URL, client_id=f"e2e-meters-{community}")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-meters", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, household: str, power_w: int | None = None) -> int:
        """Publish the next reading of a household's meter now; return its seq."""
        with self._lock:
            meter = self.meters[household]
            ts = max(int(time.time()), meter.ts + 1)
            elapsed_s = ts - meter.ts if meter.seq else 0  # the registers grow with time, as a real meter's
            meter.seq += 1
            meter.ts = ts
            meter.produced_wh += meter.produced_wh_per_s * elapsed_s
            meter.consumed_wh += meter.consumed_wh_per_s * elapsed_s
            net_w = abs(meter.produced_wh_per_s - meter.consumed_wh_per_s) * 3600
            reading = MeterReading(
                meter.key.address,
                meter.seq,
                meter.ts,
                meter.produced_wh,
                meter.consumed_wh,
                net_w if power_w is None else power_w,
            )
            signed = sign_reading(reading, self.domain, meter.key.key)
            self.publisher.publish(topic(self.community, meter.key.address), payload(signed))
            return meter.seq

    def _run(self) -> None:
        while not self._stop.is_set():
            for household in list(self.meters):
                self.publish(household)
            self._stop.wait(READING_EVERY_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.publisher.close()


@dataclass
class Stack:
    web_url: str
    rpc_url: str
    web3: Web3
    deployment: Deployment
    archive_dir: Path
    admin: LocalAccount
    alice: LocalAccount  # household A: produces more than it uses
    bob: LocalAccount  # household B: a consumer
    meters: MeterFeed
    blocks: BlockTicker
    logs: Path
    database_url: str  # the oracle's and the web app's database (SQLite)
    processes: list[subprocess.Popen] = field(default_factory=list)
    web_command: list[str] = field(default_factory=list)
    web_env: dict[str, str] = field(default_factory=dict)

    def restart_web(self, down_s: float = 1.0) -> None:
        """Stop the web server and start it again on the same port (browsers see a dropped connection)."""
        web = self.processes[-1]
        _stop(web)
        time.sleep(down_s)
        restarted = _spawn(self.web_command, self.web_env, self.logs / "web.log")
        self.processes[-1] = restarted
        _wait_http(f"{self.web_url}/api/health", restarted, self.logs / "web.log")

    def archive_path(self, interval_id: int) -> Path:
        return self.archive_dir / str(self.deployment.chain_id) / f"{interval_id}.json"

    def contract(self, name: str):
        return self.deployment.contract(self.web3, name)


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_stack(workdir: Path) -> tuple[Stack, AnvilNode]:
    """Start everything; the caller stops it with stop_stack."""
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    node = start_anvil(log_path=logs / "anvil.log")
    processes: list[subprocess.Popen] = []
    meters: MeterFeed | None = None
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        admin = Account.from_key(ANVIL_DEPLOYER_KEY)
        oracle = anvil_account(3)
        alice, bob = anvil_account(1), anvil_account(2)
        deployment = deploy_community(
            web3, admin, CommunitySettings(interval_seconds=INTERVAL_S, oracle=oracle.address)
        )
        deployments_dir = workdir / "deployments"
        deployment_file = deployment.save(deployments_dir)
        registry = deployment.contract(web3, "CommunityRegistry")
        euro = deployment.contract(web3, "Euro")
        deployer = Deployer(web3, admin)
        alice_meter, bob_meter = Account.create(), Account.create()
        deployer.call(registry.functions.registerHousehold(alice.address, alice_meter.address, CAPACITY_W))
        deployer.call(registry.functions.registerHousehold(bob.address, bob_meter.address, CAPACITY_W))
        for household in (alice, bob):
            deployer.call(euro.functions.faucet(household.address))  # 1,000 test euros each

        database_url = f"sqlite:///{workdir / 'vatio.db'}"
        upgrade(database_url)
        archive_dir = workdir / "archive"
        community = f"e2e{secrets.token_hex(4)}"
        channel = f"vatio-e2e-{secrets.token_hex(4)}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "VATIO_REDIS_URL": REDIS_URL, "VATIO_SOCKETIO_CHANNEL": channel}

        oracle_settings = {
            "community": community,
            "mqtt_url": BROKER_URL,
            "rpc_url": node.url,
            "database_url": database_url,
            "deployment": str(deployment_file),
            "archive_dir": str(archive_dir),
            "grace_s": GRACE_S,
            "oracle_key": "0x" + oracle.key.hex().removeprefix("0x"),
            "redis_url": REDIS_URL,
        }
        processes.append(
            _spawn(
                [sys.executable, str(Path(__file__).with_name("run_oracle.py")), json.dumps(oracle_settings)],
                env,
                logs / "oracle.log",
            )
        )

        port = free_port()
        web_env = {
            **env,
            "VATIO_DATABASE_URL": database_url,
            "VATIO_RPC_URL": node.url,
            "VATIO_DEPLOYMENT": str(deployment_file),
            "VATIO_ARCHIVE_DIR": str(archive_dir),
            "VATIO_TARIFFS_DIR": str(workdir / "tariffs"),  # the admin's uploaded schedules
            "VATIO_SECRET_KEY": secrets.token_hex(32),
            "VATIO_RATE_LIMIT_SIGNIN": "1000 per minute",
            "VATIO_RATE_LIMIT_WRITE": "1000 per minute",
            "VATIO_LIVE_READINGS_PER_S": "5",
        }
        web_command = [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)]
        web = _spawn(web_command, web_env, logs / "web.log")
        processes.append(web)  # last: restart_web replaces it
        web_url = f"http://127.0.0.1:{port}"
        _wait_http(f"{web_url}/api/health", web, logs / "web.log")

        domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
        meters = MeterFeed(
            community,
            domain,
            [
                MeterProfile(alice.address, alice_meter, produced_wh_per_s=4, consumed_wh_per_s=1),  # 14.4 / 3.6 kW
                MeterProfile(bob.address, bob_meter, produced_wh_per_s=0, consumed_wh_per_s=3),  # 10.8 kW
            ],
        )
        meters.start()
        stack = Stack(
            web_url=web_url,
            rpc_url=node.url,
            web3=web3,
            deployment=deployment,
            archive_dir=archive_dir,
            admin=admin,
            alice=alice,
            bob=bob,
            meters=meters,
            blocks=BlockTicker(node.url),
            logs=logs,
            database_url=database_url,
            processes=processes,
            web_command=web_command,
            web_env=web_env,
        )
        return stack, node
    except BaseException:
        if meters is not None:
            meters.stop()
        for process in processes:
            _stop(process)
        node.stop()
        raise


def stop_stack(stack: Stack, node: AnvilNode) -> None:
    stack.meters.stop()
    stack.blocks.stop()
    for process in reversed(stack.processes):
        _stop(process)
    node.stop()
