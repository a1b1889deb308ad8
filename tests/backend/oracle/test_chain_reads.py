"""The settler's chain reads on a real Anvil: batched, pinned to one block, and the closed-order cache.

The reference here is web3.py's own contract calls, one request per value,
as the planner read the chain before the reads were batched.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from eth_account import Account as Account_
from test_outbox import make_sender
from test_settlement_plan import ASK, BID, World, store, world  # noqa: F401 - fixtures shared with the planner tests
from web3 import Web3

from backend.chain.anvil import rpc_call
from backend.chain.batch import BatchRefused, Call, CallFailed, call_all, call_many
from backend.chain.market_state import MarketReader, read_accounts, read_orders, read_token_balances
from backend.market.orderbook import Account, RestingOrder, Side
from backend.oracle.settlement import plan_settlement, read_chain_state

pytestmark = pytest.mark.slow  # real Anvil, real settlements


# --- the reference: one eth_call per value, through web3.py's contract calls ---------------


def orders_one_by_one(world: World, block: int) -> list[RestingOrder]:
    count = world.market.functions.nextOrderId().call(block_identifier=block)
    orders = []
    for order_id in range(1, count):
        owner, valid_from, valid_to, side, is_open, amount, filled, limit, escrow = world.market.functions.getOrder(
            order_id
        ).call(block_identifier=block)
        orders.append(
            RestingOrder(order_id, owner, Side(side), limit, amount, filled, escrow, valid_from, valid_to, is_open)
        )
    return orders


def inputs_one_by_one(world: World, households: list[str], block: int) -> tuple:
    accounts = {h: Account(*world.market.functions.getAccount(h).call(block_identifier=block)) for h in households}
    balances = {h: world.token.functions.balanceOf(h).call(block_identifier=block) for h in households}
    return orders_one_by_one(world, block), accounts, balances


def inputs_of(state) -> tuple:
    return state.orders, state.accounts, state.token_balances


def a_history(world: World) -> tuple[int, list[str], dict[str, int]]:
    """Households with deposits, auto prices and tokens; orders placed, some cancelled. Returns the block
    after it, the households, and the order ids by name; then changes the state once more after that block."""
    interval_id = world.fresh_interval()
    seller, buyer = world.household(tokens_wh=2_000), world.household(deposit=3 * 10**6, auto_buy=170_000)
    idle = world.household(auto_sell=60_000)
    ids = {
        "ask": world.place(seller, ASK, 80_000, 500, interval_id),
        "cancelled_ask": world.place(seller, ASK, 90_000, 400, interval_id),
        "bid": world.place(buyer, BID, 150_000, 300, interval_id),
        "cancelled_bid": world.place(buyer, BID, 140_000, 200, interval_id),
        "later_cancelled": world.place(buyer, BID, 130_000, 100, interval_id),
    }
    world.cancel(seller, ids["cancelled_ask"])
    world.cancel(buyer, ids["cancelled_bid"])
    block = world.web3.eth.block_number
    world.cancel(buyer, ids["later_cancelled"])  # after `block`: a read pinned there must not see it
    buyer.sender.call(world.market.functions.deposit(10**6))
    return block, [seller.address, buyer.address, idle.address], ids


# --- batched reads equal the one-by-one reads ---------------------------------------------------


def test_batched_reads_equal_one_by_one_reads_at_a_block(world):
    block, households, ids = a_history(world)
    for at in (block, world.web3.eth.block_number):
        orders, accounts, balances = inputs_one_by_one(world, households, at)
        assert read_orders(world.market, at) == orders
        assert read_accounts(world.market, households, at) == accounts
        assert read_token_balances(world.token, households, at) == balances
    # The pin matters: the state changed after `block`.
    assert read_orders(world.market, block) != read_orders(world.market, "latest")
    assert read_accounts(world.market, households, block) != read_accounts(world.market, households)
    # The planner's reads, with a remembering reader and several calls per batch split over requests.
    state = read_chain_state(world.web3, world.deployment, households, block, reader=MarketReader(world.web3, 3))
    assert (state.block_number, inputs_of(state)) == (block, inputs_one_by_one(world, households, block))
    assert not next(o for o in state.orders if o.order_id == ids["cancelled_ask"]).open


def test_a_call_the_node_cannot_answer_is_named(world):
    beyond = world.web3.eth.block_number + 1_000
    with pytest.raises(CallFailed, match=rf"nextOrderId\(\) at block {beyond}"):
        call_all(world.web3, [Call(world.market, "nextOrderId", (), beyond)] * 3)
    # The auditor's flavour: None where the node has no answer (it replays that state from events).
    assert call_many(world.web3, [Call(world.market, "nextOrderId", (), beyond)] * 2) == [None, None]


# --- the closed-order cache ----------------------------------------------------------------------


def test_the_closed_order_cache_never_changes_a_settlements_plan(world, store, sessions):
    """Intervals settled one after another by a remembering reader, with orders placed, filled (partly and
    fully) and closed between them: at every plan, the planner's inputs equal a fresh full read's, and the
    orders the reader had read closed were not read again."""
    reader = MarketReader(world.web3, calls_per_batch=4)
    sender = make_sender(world, sessions, reader=reader)
    seller = world.household(tokens_wh=5_000)
    buyer = world.household(deposit=5 * 10**6)
    producer, consumer = world.household(auto_sell=60_000), world.household(deposit=5 * 10**6, auto_buy=170_000)
    open_ids: list[int] = []
    for step in range(4):
        interval_id = world.fresh_interval()
        placed = [
            world.place(seller, ASK, 80_000, 300, interval_id),
            world.place(buyer, BID, 150_000, 200 + 100 * step, interval_id),
            world.place(buyer, BID, 140_000, 50, interval_id),
        ]
        world.cancel(buyer, placed[2])  # closed before it could trade
        for order_id in open_ids[:2]:  # expired orders of earlier intervals, reclaimed
            world.admin.call(world.market.functions.reclaimExpired(order_id))
        open_ids = open_ids[2:] + placed[:2]
        world.end(interval_id)
        metered = [(producer, 900, 100 * step), (consumer, 50 * step, 700)]
        store.closed_interval(interval_id, metered)
        households = [producer.address, consumer.address]

        closed_before = dict(reader.closed.orders)
        reads_before = reader.order_reads
        block = world.web3.eth.block_number
        cached = read_chain_state(world.web3, world.deployment, households, block, interval_id, reader)
        fresh = read_chain_state(world.web3, world.deployment, households, block, interval_id)
        assert inputs_of(cached) == inputs_of(fresh) == inputs_one_by_one(world, households, block)
        # Only the orders not known closed were read (the count above was the first read at this block).
        assert reader.order_reads - reads_before == len(cached.orders) - len(closed_before)
        assert reader.closed.orders == {o.order_id: o for o in cached.orders if not o.open}

        with sessions() as session:
            plan = plan_settlement(session, world.web3, world.deployment, interval_id, reader=reader)
        assert plan.created and plan.clearing.fills
        while sender.step():
            pass
        assert store.interval(interval_id).status == "settled"
    assert len(reader.closed.orders) >= 8  # cancelled and reclaimed along the way


def test_a_cached_read_from_a_later_block_is_not_used_for_an_earlier_one(world):
    block, households, ids = a_history(world)  # `later_cancelled` closes after `block`
    reader = MarketReader(world.web3)
    head = world.web3.eth.block_number
    assert reader.orders(world.market, head) == orders_one_by_one(world, head)
    assert ids["later_cancelled"] in reader.closed.orders and reader.closed.block == head
    assert reader.orders(world.market, block) == orders_one_by_one(world, block)  # open there
    assert reader.closed.block == head  # an older read does not move the cache back


def test_a_reorg_below_the_cached_block_makes_the_cache_read_everything_again(world):
    interval_id = world.fresh_interval()
    owner = world.household(deposit=10**6)
    order_id = world.place(owner, BID, 150_000, 100, interval_id)
    snapshot = rpc_call(world.url, "evm_snapshot", [])
    world.cancel(owner, order_id)
    world.mine(2)
    reader = MarketReader(world.web3)
    closed_at = world.web3.eth.block_number
    assert not next(o for o in reader.orders(world.market, closed_at) if o.order_id == order_id).open
    assert order_id in reader.closed.orders

    # Another history replaces the blocks from the cancel on: the order was never closed there, and the
    # new head is above the cached block, so only its hash shows that the cache is stale.
    assert rpc_call(world.url, "evm_revert", [snapshot])
    owner.sender.nonce = world.web3.eth.get_transaction_count(owner.address)
    owner.sender.call(world.market.functions.deposit(1))
    world.mine(4)
    head = world.web3.eth.block_number
    assert head > closed_at
    orders = reader.orders(world.market, head)
    assert orders == orders_one_by_one(world, head)
    assert next(o for o in orders if o.order_id == order_id).open
    assert order_id not in reader.closed.orders and reader.closed.block == head


# --- a node that refuses batches ------------------------------------------------------------------


class BatchRefusingProxy:
    """A JSON-RPC front for Anvil that forwards single requests and refuses batches, as some public
    nodes do: `refuse_above` calls (0: every batch), answered with one error object or an HTTP status."""

    def __init__(self, upstream: str, refuse_above: int = 0, http_status: int | None = None):
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if isinstance(body, list) and len(body) > refuse_above:
                    proxy.refused += 1
                    if http_status is not None:
                        return self.answer(b"batch too large", http_status)
                    error = {"code": -32600, "message": "batch requests are not supported"}
                    return self.answer(json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode())
                self.answer(requests.post(upstream, json=body, timeout=30).content)

            def answer(self, content: bytes, status: int = 200):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(world):
    made = []

    def make(**options) -> BatchRefusingProxy:
        made.append(BatchRefusingProxy(world.url, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.mark.parametrize("refusal", [{"refuse_above": 0}, {"refuse_above": 5, "http_status": 413}])
def test_the_settler_reads_through_a_node_that_refuses_batches(world, proxy, caplog, refusal):
    block, households, _ = a_history(world)
    households += [Account_.create().address for _ in range(20)]  # more calls than the node takes in a batch
    node = proxy(**refusal)
    web3 = Web3(Web3.HTTPProvider(node.url))
    reader = MarketReader(web3, calls_per_batch=64)
    with caplog.at_level(logging.WARNING, logger="backend.chain.batch"):
        state = read_chain_state(web3, world.deployment, households, block, reader=reader)
        again = read_chain_state(web3, world.deployment, households, block, reader=reader)
    assert inputs_of(state) == inputs_of(again) == inputs_one_by_one(world, households, block)
    # Halved down to what the node takes (64 -> 32 -> ... ), then kept: a handful of refusals, not one per batch.
    assert reader.batcher.calls_per_batch <= max(refusal["refuse_above"], 1)
    assert node.refused <= 7
    assert "sending batches of" in caplog.text


def test_the_auditor_is_told_clearly_when_the_node_refuses_batches(world, proxy):
    node = proxy(refuse_above=0)
    web3 = Web3(Web3.HTTPProvider(node.url))
    calls = [Call(world.market, "nextOrderId", (), world.web3.eth.block_number)] * 3
    with pytest.raises(BatchRefused, match="refused a batch of 3 eth_calls.*batch requests are not supported"):
        call_many(web3, calls)
    assert call_many(web3, calls, calls_per_batch=1) == call_many(world.web3, calls)  # one by one passes
