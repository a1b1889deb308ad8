"""Starting a local Anvil node (npm package @foundry-rs/anvil) and waiting
until it answers, for `vatio chain`, the demo and the tests."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.paths import REPO_ROOT
from backend.processes import free_port, stop_process_group

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
# A node with a state file keeps the states of this many recent blocks in memory and none on disk,
# and writes the file every STATE_INTERVAL_S: the file holds the newest state, the blocks and their
# transactions, so it grows with the chain's length, not with its length times its state. Auditors
# re-run the solver at older blocks from the events (backend/audit/event_state.py).
HISTORY_WINDOW_BLOCKS = 256
STATE_INTERVAL_S = 60
# The file still grows with every block and transaction (the audit and a restarted indexer read their
# logs), so a fixed interval writes more each minute the longer a chain runs. StateSaver instead writes
# at most SAVE_BUDGET_BYTES_PER_S on average: the interval grows with the file (never under
# STATE_INTERVAL_S). A hard kill loses at most one interval; a clean stop writes everything.
SAVE_BUDGET_BYTES_PER_S = 50_000


def find_anvil() -> str:
    """The anvil binary npm installed in this repo, else one on PATH. The
    native binary comes first: npm's `.bin/anvil` is a Node wrapper, and
    stopping the wrapper would leave the real node running."""
    for candidate in (
        REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
        shutil.which("anvil"),
        REPO_ROOT / "node_modules" / ".bin" / "anvil",
    ):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise FileNotFoundError("anvil not found: run `make setup` (npm installs @foundry-rs/anvil)")


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.load(response)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def wait_for_rpc(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpc_call(url, "eth_chainId", timeout=1.0)
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"anvil exited with code {process.returncode} before answering at {url}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"no JSON-RPC answer at {url} after {timeout:.0f} s") from None
            time.sleep(0.1)


@dataclass
class AnvilNode:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        """Stops the node and anything it started (its own process group);
        Anvil writes its --state file on the way out."""
        stop_process_group(self.process)


def start_anvil(
    port: int | None = None,
    state_file: Path | None = None,
    chain_id: int = 31337,
    accounts: int = 10,
    extra_args: list[str] | None = None,
    log_path: Path | None = None,
    hardfork: str | None = None,
    state_interval_s: int | None = STATE_INTERVAL_S,
) -> AnvilNode:
    """Starts Anvil on 127.0.0.1 and returns once it answers JSON-RPC.

    With `state_file`, the chain is loaded from it at start and written back
    on exit (`--state`), and every `state_interval_s` while it runs (None: only on exit, for a
    StateSaver to write the file meanwhile), so balances survive a restart;
    only the newest HISTORY_WINDOW_BLOCKS states are kept (in memory). `hardfork` (e.g.
    "london", Energy Web Chain's level) sets the EVM rules; None: Anvil's newest.
    """
    port = port or free_port()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is already in use (another chain still running?)")
    command = [
        find_anvil(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--accounts",
        str(accounts),
        "--mnemonic",
        ANVIL_MNEMONIC,
    ]
    if hardfork is not None:
        command += ["--hardfork", hardfork]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        # No --preserve-historical-states: with it every dump rewrote one full state per kept block
        # (330 MB after 20 demo minutes, rewritten every 10 s).
        command += ["--state", str(state_file), "--prune-history", str(HISTORY_WINDOW_BLOCKS)]
        if state_interval_s is not None:
            command += ["--state-interval", str(state_interval_s)]
    command += extra_args or []
    with open(log_path or os.devnull, "ab") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(url, process=process)
    except Exception:
        process.kill()
        raise
    return AnvilNode(process=process, url=url)


def save_interval_s(size_bytes: int, budget_bytes_per_s: float = SAVE_BUDGET_BYTES_PER_S) -> float:
    """Seconds between two saves of a state file of `size_bytes`: writes stay within the budget on average."""
    if budget_bytes_per_s <= 0:
        raise ValueError("budget_bytes_per_s must be positive")
    return max(float(STATE_INTERVAL_S), size_bytes / budget_bytes_per_s)


class StateSaver:
    """Writes a running Anvil's state (`anvil_dumpState`: the same JSON as its --state file) to
    `state_file` every save_interval_s(its size), atomically (a new file renamed over the old one).

    Start Anvil with `state_interval_s=None`, and stop the saver before the node: Anvil writes the
    file itself on exit.
    """

    def __init__(self, url: str, state_file: Path, budget_bytes_per_s: float = SAVE_BUDGET_BYTES_PER_S):
        self.url = url
        self.state_file = state_file
        self.budget_bytes_per_s = budget_bytes_per_s
        self.saves = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def save(self) -> int:
        """Write the state now; returns its size in bytes."""
        dumped = rpc_call(self.url, "anvil_dumpState", timeout=60.0)
        document = gzip.decompress(bytes.fromhex(dumped.removeprefix("0x")))
        partial = self.state_file.with_name(self.state_file.name + ".partial")
        partial.write_bytes(document)
        os.replace(partial, self.state_file)
        self.saves += 1
        return len(document)

    def next_interval_s(self) -> float:
        try:
            size = self.state_file.stat().st_size
        except OSError:
            size = 0
        return save_interval_s(size, self.budget_bytes_per_s)

    def start(self) -> StateSaver:
        def run() -> None:
            while not self._stop.wait(self.next_interval_s()):
                try:
                    self.save()
                except (OSError, RuntimeError, ValueError):
                    pass  # the node is stopping: its exit writes the file

        self._thread = threading.Thread(target=run, name="anvil-state-saver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=90.0)


def keep_clock_moving(
    url: str, stop: threading.Event, idle_s: float = 5.0, boundary_s: float | None = None
) -> threading.Thread:
    """Mine an empty block whenever the newest one is `idle_s` old, until `stop`; with `boundary_s`,
    also as soon as the clock passes a multiple of it (an interval's end) that the chain has not.

    Anvil mines only when a transaction arrives, so an idle local chain's
    clock stands still, and an interval that ended in real time has not
    ended on-chain: the oracle would wait for a block that never comes. A
    real chain makes a block every few seconds; this gives a local one the
    same heartbeat without giving up instant mining of transactions. Each
    empty block adds about 3.4 kB to a saved state file: the demo beats
    slowly and marks each interval's end instead.
    """

    def beat() -> None:
        while not stop.wait(1.0):
            try:
                latest = rpc_call(url, "eth_getBlockByNumber", ["latest", False])
                newest, now = int(latest["timestamp"], 16), time.time()
                crossed = boundary_s is not None and now // boundary_s > newest // boundary_s
                if crossed or now - newest >= idle_s:
                    rpc_call(url, "evm_mine")
            except (OSError, RuntimeError, ValueError):
                pass  # the node is stopping or restarting: try again on the next beat

    thread = threading.Thread(target=beat, name="anvil-heartbeat", daemon=True)
    thread.start()
    return thread
