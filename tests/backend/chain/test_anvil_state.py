"""The demo's Anvil state file stays small: it holds the newest state, the blocks and their
transactions, not one full state per block (which made it 330 MB after 20 demo minutes)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from backend.chain.anvil import (
    HISTORY_WINDOW_BLOCKS,
    SAVE_BUDGET_BYTES_PER_S,
    STATE_INTERVAL_S,
    StateSaver,
    keep_clock_moving,
    rpc_call,
    save_interval_s,
    start_anvil,
)

pytestmark = pytest.mark.slow  # a real Anvil, a few hundred blocks

# Runtime code that stores the caller in slot NUMBER: every call grows the contract's storage,
# as the market's orders and settlements grow the demo's state.
RUNTIME = "334355" + "00"  # CALLER NUMBER SSTORE STOP
INIT = "6005600c60003960056000f3" + RUNTIME
CALLS = 300


def receipt(url: str, tx_hash: str, timeout_s: float = 10.0) -> dict:
    """The transaction's receipt, once Anvil has indexed the block (not always at the send's return)."""
    deadline = time.monotonic() + timeout_s
    while (found := rpc_call(url, "eth_getTransactionReceipt", [tx_hash])) is None:
        assert time.monotonic() < deadline, f"no receipt for {tx_hash}"
        time.sleep(0.05)
    return found


def test_state_file_holds_one_state_and_stays_small(tmp_path):
    state_file = tmp_path / "chain" / "anvil-state.json"
    node = start_anvil(state_file=state_file, state_interval_s=1)
    try:
        url = node.url
        sender = rpc_call(url, "eth_accounts")[0]
        created = rpc_call(url, "eth_sendTransaction", [{"from": sender, "data": "0x" + INIT}])
        contract = receipt(url, created)["contractAddress"]
        for i in range(CALLS):
            rpc_call(url, "eth_sendTransaction", [{"from": sender, "to": contract, "gas": "0x20000"}])
            rpc_call(url, "eth_sendTransaction", [{"from": sender, "to": "0x%040x" % (i + 1000), "value": "0x1"}])
        last = None
        for _ in range(CALLS):
            last = rpc_call(url, "eth_sendTransaction", [{"from": sender, "to": contract, "gas": "0x20000"}])
        head = int(receipt(url, last)["blockNumber"], 16)  # one transaction a block: every one is in by now
        # recent states answer (the last call stored its caller at slot `head`); the window's oldest are gone
        # (the audit replays those from events)
        assert rpc_call(url, "eth_getStorageAt", [contract, hex(head), hex(head)]) != "0x" + "00" * 32
        with pytest.raises(RuntimeError):
            rpc_call(url, "eth_getStorageAt", [contract, hex(5), hex(5)])
        assert len(rpc_call(url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])) == 0  # logs stay
    finally:
        node.stop()
    assert head > 2 * HISTORY_WINDOW_BLOCKS
    size = state_file.stat().st_size
    state = json.loads(state_file.read_text())
    assert not state.get("historical_states"), "the file must not carry one state per block"
    assert len(state["blocks"]) == head + 1
    # With --preserve-historical-states the same chain wrote about 60 MB; now about 4 kB per block.
    assert size < 8_000 * head, f"{size} bytes for {head} blocks"

    # a restart resumes from the file: balances and storage as they were
    node = start_anvil(state_file=state_file)
    try:
        assert int(rpc_call(node.url, "eth_blockNumber"), 16) == head
        assert rpc_call(node.url, "eth_getStorageAt", [contract, hex(head), "latest"]) != "0x" + "00" * 32
    finally:
        node.stop()


def test_save_interval_grows_with_the_file_so_writes_per_minute_stay_within_the_budget():
    sizes = [0, 1_000_000, 3_000_000, 30_000_000, 300_000_000, 3_000_000_000]
    intervals = [save_interval_s(size) for size in sizes]
    assert min(intervals) == STATE_INTERVAL_S and intervals == sorted(intervals)
    per_minute = [size * 60 / interval for size, interval in zip(sizes, intervals, strict=True)]
    assert max(per_minute) <= SAVE_BUDGET_BYTES_PER_S * 60
    assert per_minute[-1] == per_minute[-2]  # a bigger file is written as many bytes a minute, less often
    with pytest.raises(ValueError):
        save_interval_s(1, budget_bytes_per_s=0)


def test_the_saver_writes_what_a_restarted_node_resumes_from(tmp_path):
    state_file = tmp_path / "chain" / "anvil-state.json"
    node = start_anvil(state_file=state_file, state_interval_s=None)
    saver = StateSaver(node.url, state_file)
    try:
        for _ in range(5):
            rpc_call(node.url, "evm_mine")
        assert not state_file.exists()  # no --state-interval: the node writes only on exit
        size = saver.save()
        assert state_file.stat().st_size == size and not list(state_file.parent.glob("*.partial"))
        assert json.loads(state_file.read_text())["best_block_number"] == 5
    finally:
        node.process.kill()  # a hard stop: the node's own exit dump never comes
        node.process.wait()
    node = start_anvil(state_file=state_file, state_interval_s=None)
    try:
        assert int(rpc_call(node.url, "eth_blockNumber"), 16) == 5
    finally:
        node.stop()


def test_the_heartbeat_marks_each_boundary_however_slow_it_beats(tmp_path):
    node = start_anvil()
    stop = threading.Event()
    try:
        start = int(rpc_call(node.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        keep_clock_moving(node.url, stop, idle_s=3600, boundary_s=2)
        deadline = time.monotonic() + 20
        while int(rpc_call(node.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16) // 2 <= start // 2:
            assert time.monotonic() < deadline, "no block after the boundary"
            time.sleep(0.2)
    finally:
        stop.set()
        node.stop()
