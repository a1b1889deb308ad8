"""The demo's Anvil state file stays small: it holds the newest state, the blocks and their
transactions, not one full state per block (which made it 330 MB after 20 demo minutes)."""

from __future__ import annotations

import json
import time

import pytest

from backend.chain.anvil import HISTORY_WINDOW_BLOCKS, rpc_call, start_anvil

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
