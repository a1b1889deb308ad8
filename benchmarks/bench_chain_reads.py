"""Reading the settlement planner's inputs from the chain (issue 16): one call per value vs batched and cached.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_chain_reads.py`; `--quick`: 1,000 households
and 1,000 orders; `--no-write`). Needs Anvil. Writes benchmarks/results/chain_reads.json.

What the settler reads per interval, twice (when it plans, and again right before sending, to check
the plan is still current): every order ever placed, and each metered household's market account
and token balance, all at one block (backend.oracle.settlement.read_chain_state). Timed on one Anvil
in the same run, at the same block, medians of interleaved runs:

  * before: the code before batching, web3.py's contract calls, one request per value;
  * batched: read_chain_state with a fresh reader (JSON-RPC batches of 100 eth_calls, every order read);
  * batched_cached: the same with the settler's reader after one earlier read (MarketReader): orders it
    has read closed are not read again, only the open ones.

The chain: a community with 20 registered traders who placed `--orders` resting orders, of which
90 % were cancelled (closed), as a long history looks. The households read are the 20 traders and
fresh addresses up to `--households`: registering 10,000 households would take the most of the run,
and a never-registered address's account is read through the same calls and storage lookups (its
slots are zero). The reads are checked equal to the one-by-one reads before anything is timed.

node_ms_per_call_*: the node's own time per eth_call in batches, at "latest" and at the pinned
block. The history waits for every receipt before timing: in trial runs timed while Anvil was still
mining the sent transactions, each call cost it 2.5-3.5 ms instead of about 0.05 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import write_results  # noqa: E402
from eth_account import Account as EthAccount  # noqa: E402
from web3 import Web3  # noqa: E402

from backend.chain.anvil import rpc_call, start_anvil  # noqa: E402
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community  # noqa: E402
from backend.chain.market_state import MarketReader, read_tariffs  # noqa: E402
from backend.market.orderbook import PRICE_TICK, Account, RestingOrder, Side  # noqa: E402
from backend.oracle.settlement import read_chain_state  # noqa: E402

TRADERS = 20
CLOSED_SHARE = 0.9
TX_GAS = 400_000


def read_one_by_one(web3: Web3, deployment, households: list[str], block: int, interval_id: int) -> tuple:
    """The planner's reads as they were before batching (market_state.py up to issue 16)."""
    market = deployment.contract(web3, "EnergyMarket")
    token = deployment.contract(web3, "EnergyToken")
    number = web3.eth.get_block(block)["number"]
    orders = []
    for order_id in range(1, market.functions.nextOrderId().call(block_identifier=number)):
        owner, valid_from, valid_to, side, is_open, amount, filled, limit, escrow = market.functions.getOrder(
            order_id
        ).call(block_identifier=number)
        orders.append(
            RestingOrder(order_id, owner, Side(side), limit, amount, filled, escrow, valid_from, valid_to, is_open)
        )
    accounts = {h: Account(*market.functions.getAccount(h).call(block_identifier=number)) for h in households}
    balances = {h: token.functions.balanceOf(h).call(block_identifier=number) for h in households}
    tariffs = read_tariffs(deployment.contract(web3, "CommunityRegistry"), number, interval_id)
    return orders, accounts, balances, tariffs


def node_ms_per_call(web3: Web3, market, tag: str, calls: int = 500) -> float:
    """The node's time per eth_call (nextOrderId) in batches of 100, at `tag` ("latest" or a hex number)."""
    to, data = market.address, market.functions.nextOrderId()._encode_transaction_data()
    batch = [("eth_call", [{"to": to, "data": data}, tag])] * 100
    started = time.perf_counter()
    for _ in range(calls // 100):
        web3.provider.make_batch_request(batch)
    return (time.perf_counter() - started) * 1000 / calls


def build_history(web3: Web3, deployment, orders: int, progress=print) -> tuple[list[str], int]:
    """Registers the traders, places `orders` one-Wh bids round robin and cancels 90 % of them;
    returns the traders' addresses and the interval the orders are for."""
    chain_id = web3.eth.chain_id
    admin = Deployer(web3, EthAccount.from_key(ANVIL_DEPLOYER_KEY))
    registry = deployment.contract(web3, "CommunityRegistry")
    market = deployment.contract(web3, "EnergyMarket")
    euro = deployment.contract(web3, "Euro")
    traders = [EthAccount.create() for _ in range(TRADERS)]
    for trader in traders:
        admin.call(registry.functions.registerHousehold(trader.address, EthAccount.create().address, 10_000))
        rpc_call(web3.provider.endpoint_uri, "anvil_setBalance", [trader.address, hex(10**21)])
        admin.call(euro.functions.faucet(trader.address))
    nonces = {t.address: web3.eth.get_transaction_count(t.address) for t in traders}
    last_sent: dict[str, bytes] = {}

    def send(trader, function) -> None:
        """Sign and send without waiting for the receipt: Anvil mines each on arrival, in nonce order."""
        fields = {"from": trader.address, "nonce": nonces[trader.address], "gas": TX_GAS, "chainId": chain_id}
        fields |= {"maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9}
        signed = trader.sign_transaction(function.build_transaction(fields))
        last_sent[trader.address] = web3.eth.send_raw_transaction(signed.raw_transaction)
        nonces[trader.address] += 1

    for trader in traders:
        send(trader, euro.functions.approve(market.address, 2**255))
    interval_s = deployment.settings["intervalSeconds"]
    # The next interval: an order may start there, and the clock cannot pass it while placing.
    interval_id = web3.eth.get_block("latest")["timestamp"] // interval_s + 1
    feed_in, _ = registry.functions.priceBounds(interval_id).call()
    limit = -(-feed_in // PRICE_TICK) * PRICE_TICK
    valid_to = interval_id + 10_000  # open orders stay valid: nothing expires during the run
    started = time.monotonic()
    for index in range(orders):
        place = market.functions.placeOrder(int(Side.BID), limit, 1, interval_id, valid_to)
        send(traders[index % TRADERS], place)
        if (index + 1) % 2_000 == 0:
            progress(f"  {index + 1} orders placed ({time.monotonic() - started:.0f} s)")
    for order_id in range(1, orders + 1):
        if order_id % 10 < CLOSED_SHARE * 10:  # 9 of each 10 closed
            send(traders[(order_id - 1) % TRADERS], market.functions.cancelOrder(order_id))
    # Each trader's last transaction is mined (Anvil may still be mining when the sending ends).
    for tx_hash in last_sent.values():
        if web3.eth.wait_for_transaction_receipt(tx_hash, timeout=600)["status"] != 1:
            raise RuntimeError("an order transaction reverted")
    placed = market.functions.nextOrderId().call() - 1
    if placed != orders:
        raise RuntimeError(f"expected {orders} orders, found {placed}")
    cancelled = sum(1 for order_id in range(1, orders + 1) if order_id % 10 < CLOSED_SHARE * 10)
    closed = sum(1 for order_id in range(1, orders + 1) if not market.functions.getOrder(order_id).call()[4])
    if closed != cancelled:
        raise RuntimeError(f"{cancelled} cancels sent, {closed} orders closed")
    progress(f"  {orders} orders placed and {cancelled} cancelled ({time.monotonic() - started:.0f} s)")
    return [t.address for t in traders], interval_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 households and 1,000 orders")
    parser.add_argument("--households", type=int, default=None)
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    households_n = options.households or (1_000 if options.quick else 10_000)
    orders_n = options.orders or (1_000 if options.quick else 10_000)
    runs = options.runs or 3

    node = start_anvil()
    try:
        web3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        deployment = deploy_community(web3, EthAccount.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings())
        print(f"building a history of {orders_n} orders ...")
        traders, interval_id = build_history(web3, deployment, orders_n)
        households = traders + [EthAccount.create().address for _ in range(households_n - len(traders))]
        block = web3.eth.block_number

        def batched():
            return read_chain_state(web3, deployment, households, block, interval_id)

        warm = MarketReader(web3)

        def batched_cached():
            return read_chain_state(web3, deployment, households, block, interval_id, warm)

        reference = read_one_by_one(web3, deployment, households, block, interval_id)
        first = batched_cached()  # fills the cache: every order read once
        for state in (batched(), first, batched_cached()):
            if (state.orders, state.accounts, state.token_balances, state.tariffs) != reference:
                raise RuntimeError("the batched reads differ from the one-by-one reads")
        reads = warm.order_reads
        batched_cached()
        open_reads = warm.order_reads - reads

        samples = {"before": [], "batched": [], "batched_cached": []}
        functions = {
            "before": lambda: read_one_by_one(web3, deployment, households, block, interval_id),
            "batched": batched,
            "batched_cached": batched_cached,
        }
        market = deployment.contract(web3, "EnergyMarket")
        node_ms = {tag: round(node_ms_per_call(web3, market, tag), 3) for tag in ("latest", hex(block))}
        for run in range(runs):
            for name, function in functions.items():
                started = time.perf_counter()
                function()
                samples[name].append(time.perf_counter() - started)
            print(f"  run {run + 1}/{runs}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in samples.items()))
    finally:
        node.stop()

    median = {name: statistics.median(values) for name, values in samples.items()}
    tag = f"{households_n // 1000}k_households_{orders_n // 1000}k_orders"
    figures = {
        f"planner_inputs_one_by_one_{tag}_s": round(median["before"], 3),
        f"planner_inputs_batched_{tag}_s": round(median["batched"], 3),
        f"planner_inputs_batched_cached_{tag}_s": round(median["batched_cached"], 3),
        f"planner_inputs_speedup_batched_{tag}": round(median["before"] / median["batched"], 2),
        f"planner_inputs_speedup_batched_cached_{tag}": round(median["before"] / median["batched_cached"], 2),
    }
    details = {
        "planner_inputs": (
            f"read_chain_state at one block on Anvil: {households_n} households (accounts and token balances: "
            f"{TRADERS} registered traders, the rest never-registered addresses), {orders_n} orders ever placed, "
            f"{CLOSED_SHARE:.0%} of them closed; medians of {runs} interleaved runs; batches of 100 eth_calls. "
            f"cached: a MarketReader that read once before re-reads {open_reads} open orders of {orders_n}. "
            "The settler reads this twice per interval (plan, then the check before sending)."
        ),
        "node_ms_per_call_latest": node_ms["latest"],
        "node_ms_per_call_pinned_block": node_ms[hex(block)],
        "planner_inputs_samples_s": {name: [round(v, 3) for v in values] for name, values in samples.items()},
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    if not options.no_write:
        write_results("chain_reads", figures, details, merge=True)


if __name__ == "__main__":
    main()
