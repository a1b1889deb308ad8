"""Planning a closed interval's settlement into the outbox, on a real chain and real databases.

The chain world here (a community on Anvil, households with real keys and
real orders) is shared with test_outbox.py, which imports it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, select
from web3 import Web3
from web3.logs import DISCARD

from backend.chain.anvil import rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community
from backend.chain.market_state import read_accounts, read_orders, read_tariffs, read_token_balances
from backend.db.migrate import upgrade
from backend.db.models import Interval, IntervalEntry, Meter, SettlementOutbox
from backend.db.session import make_engine, session_factory
from backend.market.chunking import ENTRY_GAS, FILL_GAS
from backend.market.orderbook import Clearing, Fill, MeteredEntry, RestingOrder, Side
from backend.market.solver import clear_interval
from backend.oracle.settlement import (
    PlanError,
    ReplanRefused,
    build_transactions,
    call_arguments,
    plan_closed_intervals,
    plan_settlement,
    replan,
)
from backend.protocol.merkle import Leaf, MerkleTree

INTERVAL_S = 600  # not the default 900: these interval ids cannot meet other tests' in the shared databases
# Anvil's second default account: the oracle, so its nonce counts settlement transactions only.
ORACLE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
BID, ASK = 0, 1


# --- the chain world -------------------------------------------------------------------


@dataclass
class Household:
    account: LocalAccount
    meter: str
    sender: Deployer

    @property
    def address(self) -> str:
        return self.account.address


class World:
    """A deployed community on Anvil with helpers to act as its households and move its time."""

    def __init__(self, url: str, evm_version: str = "cancun"):
        self.url = url
        self.web3 = Web3(Web3.HTTPProvider(url))
        self.admin_account = Account.from_key(ANVIL_DEPLOYER_KEY)
        self.oracle = Account.from_key(ORACLE_KEY)
        self.deployment = deploy_community(
            self.web3,
            self.admin_account,
            CommunitySettings(interval_seconds=INTERVAL_S, oracle=self.oracle.address, evm_version=evm_version),
        )
        self.admin = Deployer(self.web3, self.admin_account)
        self.registry = self.deployment.contract(self.web3, "CommunityRegistry")
        self.market = self.deployment.contract(self.web3, "EnergyMarket")
        self.token = self.deployment.contract(self.web3, "EnergyToken")
        self.euro = self.deployment.contract(self.web3, "Euro")
        # Test setup only: the admin mints kWh tokens so that sellers have something to ask with.
        self.admin.call(
            self.token.functions.grantRole(self.token.functions.SETTLEMENT_ROLE().call(), self.admin_account.address)
        )
        # A second oracle, to settle "by hand" without touching the oracle account's nonce.
        self.admin.call(
            self.registry.functions.grantRole(self.registry.functions.ORACLE_ROLE().call(), self.admin_account.address)
        )

    def household(self, tokens_wh: int = 0, deposit: int = 0, auto_sell: int = 0, auto_buy: int = 0) -> Household:
        account, meter = Account.create(), Account.create().address
        self.admin.call(self.registry.functions.registerHousehold(account.address, meter, 10_000))
        rpc_call(self.url, "anvil_setBalance", [account.address, hex(10**19)])
        self.admin.call(self.euro.functions.faucet(account.address))
        if tokens_wh:
            self.admin.call(self.token.functions.mint(account.address, tokens_wh))
        household = Household(account, meter, Deployer(self.web3, account))
        if tokens_wh:
            household.sender.call(self.token.functions.approve(self.market.address, 2**255))
        if deposit:
            household.sender.call(self.euro.functions.approve(self.market.address, 2**255))
            household.sender.call(self.market.functions.deposit(deposit))
        if auto_sell:
            household.sender.call(self.market.functions.setAutoSell(auto_sell))
        if auto_buy:
            household.sender.call(self.market.functions.setAutoBuy(auto_buy))
        return household

    def place(self, household: Household, side: int, limit_price: int, amount_wh: int, interval_id: int) -> int:
        if side == BID:
            household.sender.call(self.euro.functions.approve(self.market.address, 2**255))
        receipt = household.sender.call(
            self.market.functions.placeOrder(side, limit_price, amount_wh, interval_id, interval_id)
        )
        return self.market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)[0]["args"]["orderId"]

    def cancel(self, household: Household, order_id: int) -> None:
        household.sender.call(self.market.functions.cancelOrder(order_id))

    def send_unmined(self, household: Household, function, tip_wei: int) -> str:
        """Sign and broadcast without waiting for a receipt (for when automine is off)."""
        fields = function.build_transaction(
            {
                "from": household.address,
                "nonce": self.web3.eth.get_transaction_count(household.address, "pending"),
                "gas": 300_000,
                "maxPriorityFeePerGas": tip_wei,
                "maxFeePerGas": 10 * self.web3.eth.fee_history(1, "latest")["baseFeePerGas"][-1] + tip_wei,
            }
        )
        household.sender.nonce += 1
        signed = household.account.sign_transaction(fields)
        return Web3.to_hex(self.web3.eth.send_raw_transaction(signed.raw_transaction))

    # --- time: every test gets an interval of its own --------------------------

    def now(self) -> int:
        return self.web3.eth.get_block("latest")["timestamp"]

    def _jump_to(self, timestamp: int) -> None:
        if timestamp > self.now():
            rpc_call(self.url, "evm_setNextBlockTimestamp", [timestamp])
            rpc_call(self.url, "evm_mine")

    def fresh_interval(self) -> int:
        """Move the chain to the start of a new interval, where orders for it can be placed; return its id."""
        interval_id = self.now() // INTERVAL_S + 1
        self._jump_to(interval_id * INTERVAL_S + 1)
        return interval_id

    def end(self, interval_id: int) -> None:
        """Move the chain past the interval, so it may be settled."""
        self._jump_to((interval_id + 1) * INTERVAL_S + 1)

    def automine(self, on: bool) -> None:
        rpc_call(self.url, "evm_setAutomine", [on])

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            rpc_call(self.url, "evm_mine")

    def oracle_nonce(self) -> int:
        return self.web3.eth.get_transaction_count(self.oracle.address, "latest")


@pytest.fixture(scope="module")
def world():
    node = start_anvil()
    try:
        yield World(node.url)
    finally:
        node.stop()


class Store:
    """Writes what closing writes (meters, a closed interval, its entries) and removes it after the test."""

    def __init__(self, sessions):
        self.sessions = sessions
        self.interval_ids: list[int] = []

    def closed_interval(self, interval_id: int, metered: list[tuple[Household, int, int]]) -> bytes:
        """Store a closed interval with one entry per (household, produced_wh, consumed_wh); return its root."""
        leaves = []
        with self.sessions() as session:
            for household, produced_wh, consumed_wh in metered:
                if session.get(Meter, household.meter) is None:
                    session.add(
                        Meter(
                            address=household.meter, household=household.address, capacity_w=10_000, registered_block=0
                        )
                    )
                leaf = Leaf(
                    household.address, household.meter, interval_id, produced_wh, consumed_wh, secrets.token_bytes(32)
                )
                leaves.append(leaf)
            root = MerkleTree([leaf.hash() for leaf in leaves]).root
            session.add(
                Interval(interval_id=interval_id, status="closed", readings_root=root, closed_at=int(time.time()))
            )
            session.flush()
            for leaf in leaves:
                session.add(
                    IntervalEntry(
                        interval_id=interval_id,
                        household=leaf.household,
                        meter=leaf.meter,
                        produced_wh=leaf.produced_wh,
                        consumed_wh=leaf.consumed_wh,
                        readings_hash=leaf.readings_hash,
                        leaf=leaf.hash(),
                    )
                )
            session.commit()
        self.interval_ids.append(interval_id)
        return root

    def interval(self, interval_id: int) -> Interval:
        with self.sessions() as session:
            return session.get(Interval, interval_id)

    def rows(self, interval_id: int) -> list[SettlementOutbox]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(SettlementOutbox)
                    .where(SettlementOutbox.interval_id == interval_id)
                    .order_by(SettlementOutbox.chunk_index)
                )
            )

    def cleanup(self) -> None:
        with self.sessions() as session:
            for table in (SettlementOutbox, IntervalEntry, Interval):
                session.execute(delete(table).where(table.interval_id.in_(self.interval_ids)))
            session.commit()


@pytest.fixture
def store(sessions):
    helper = Store(sessions)
    yield helper
    helper.cleanup()


def market_scenario(world: World) -> tuple[int, dict]:
    """An interval with a resting ask and bid, a metered producer (auto-sell) and consumer (auto-buy)."""
    interval_id = world.fresh_interval()
    seller = world.household(tokens_wh=1_000)
    buyer = world.household()
    producer = world.household(auto_sell=60_000)
    consumer = world.household(deposit=5 * 10**6, auto_buy=170_000)
    ask = world.place(seller, ASK, 80_000, 500, interval_id)
    bid = world.place(buyer, BID, 150_000, 300, interval_id)
    world.end(interval_id)
    metered = [(producer, 900, 200), (consumer, 0, 700)]
    return interval_id, {
        "seller": seller,
        "buyer": buyer,
        "producer": producer,
        "consumer": consumer,
        "ask": ask,
        "bid": bid,
        "metered": metered,
    }


def solve_like_an_auditor(world: World, interval_id: int, metered, block: int) -> Clearing:
    """The solver on the chain state at `block`, read independently of the planner."""
    entries = [MeteredEntry(h.address, p, c) for h, p, c in metered]
    households = [e.household for e in entries]
    return clear_interval(
        interval_id,
        entries,
        read_orders(world.market, block),
        read_accounts(world.market, households, block),
        read_tariffs(world.registry, block),
        read_token_balances(world.token, households, block),
    )


# --- pure: clearing -> calls ---------------------------------------------------------

A, B, C = (Web3.to_checksum_address(f"0x{n:040x}") for n in (0xA1, 0xB2, 0xC3))


def a_clearing() -> tuple[Clearing, dict[int, RestingOrder]]:
    entries = [MeteredEntry(A, 900, 100), MeteredEntry(B, 0, 500), MeteredEntry(C, 50, 0)]
    orders = {7: RestingOrder(7, C, Side.BID, 150_000, 200)}
    fills = [Fill(7, 0, 200), Fill(0, 0, 700), Fill(0, 1, 500)]
    return Clearing(interval_id=42, clearing_price=120_000, entries=entries, fills=fills), orders


def test_one_transaction_when_it_fits_with_exact_json_arguments():
    clearing, orders = a_clearing()
    root = bytes(range(32))
    [planned] = build_transactions(42, root, clearing, orders)
    assert (planned.chunk_index, planned.kind) == (0, "settle_interval")
    args = planned.payload["args"]
    assert args["intervalId"] == "42" and args["clearingPrice"] == "120000"
    assert args["readingsRoot"] == "0x" + root.hex()
    assert args["entries"][0] == {"household": A, "producedWh": "900", "consumedWh": "100"}
    assert args["fills"][0] == {"orderId": "7", "autoEntry": "0", "amountWh": "200"}
    function, call = call_arguments(planned.payload)
    assert function == "settleInterval"
    assert call == [42, root, [e.as_tuple() for e in clearing.entries], [f.as_tuple() for f in clearing.fills], 120_000]


def test_chunks_then_a_close_when_the_gas_budget_is_small():
    clearing, orders = a_clearing()
    planned = build_transactions(42, b"\x01" * 32, clearing, orders, gas_budget=ENTRY_GAS + FILL_GAS)
    assert [p.kind for p in planned] == ["settle_chunk"] * 3 + ["close_interval"]
    assert [p.chunk_index for p in planned] == [0, 1, 2, 3]
    assert planned[-1].payload == {"function": "closeInterval", "args": {"intervalId": "42"}}
    # Every household once, in order; auto fills renumbered within their own chunk.
    households = [e["household"] for p in planned[:-1] for e in p.payload["args"]["entries"]]
    assert households == [A, B, C]
    assert planned[1].payload["args"]["fills"] == [{"orderId": "0", "autoEntry": "0", "amountWh": "500"}]
    assert {p.payload["args"]["readingsRoot"] for p in planned[:-1]} == {"0x" + "01" * 32}


def test_a_malformed_root_or_payload_is_refused():
    clearing, orders = a_clearing()
    with pytest.raises(ValueError):
        build_transactions(42, b"\x01" * 31, clearing, orders)
    with pytest.raises(ValueError):
        call_arguments({"function": "transfer", "args": {}})


# --- planning on the chain and the databases -------------------------------------------


def test_plan_writes_the_solvers_answer_once(world, store, sessions):
    interval_id, scene = market_scenario(world)
    root = store.closed_interval(interval_id, scene["metered"])
    with sessions() as session:
        plan = plan_settlement(session, world.web3, world.deployment, interval_id)
    assert plan.created and plan.attempt == 1
    expected = solve_like_an_auditor(world, interval_id, scene["metered"], plan.block_number)
    assert plan.clearing_price == expected.clearing_price > 0
    traded = {f.order_id for f in expected.fills}
    assert {scene["ask"], scene["bid"]} <= traded  # both resting orders trade

    [row] = store.rows(interval_id)
    assert (row.kind, row.chunk_index, row.status, row.attempts) == ("settle_interval", 0, "pending", 1)
    assert row.nonce is None and row.tx_hash is None
    function, args = call_arguments(row.payload)
    assert args == [
        interval_id,
        root,
        [e.as_tuple() for e in expected.entries],
        [f.as_tuple() for f in expected.fills],
        expected.clearing_price,
    ]
    assert row.payload["plannedAt"]["block"] == plan.block_number
    interval = store.interval(interval_id)
    assert (interval.status, interval.clearing_price) == ("settling", expected.clearing_price)

    # Idempotent: planning again (say after a restart) writes nothing new.
    with sessions() as session:
        again = plan_settlement(session, world.web3, world.deployment, interval_id)
    assert not again.created and again.clearing_price == plan.clearing_price
    assert [r.id for r in store.rows(interval_id)] == [row.id]


def test_plan_reads_the_chain_at_the_block_it_is_given(world, store, sessions):
    interval_id = world.fresh_interval()
    seller, producer = world.household(tokens_wh=500), world.household(auto_sell=50_000)
    buyer = world.household()
    before_orders = world.web3.eth.block_number
    world.place(seller, ASK, 70_000, 400, interval_id)
    world.place(buyer, BID, 120_000, 400, interval_id)
    world.end(interval_id)
    store.closed_interval(interval_id, [(producer, 300, 0)])
    with sessions() as session:
        plan = plan_settlement(session, world.web3, world.deployment, interval_id, block=before_orders)
    # At that block no order existed: nothing trades, the producer's surplus is only credited.
    assert plan.block_number == before_orders
    assert plan.clearing_price == 0 and plan.clearing.fills == []


def test_plan_refuses_what_is_not_a_closed_interval_with_a_matching_root(world, store, sessions):
    interval_id = world.fresh_interval()
    producer = world.household()
    world.end(interval_id)
    with sessions() as session, pytest.raises(PlanError, match="not in the database"):
        plan_settlement(session, world.web3, world.deployment, interval_id)

    store.closed_interval(interval_id, [(producer, 100, 0)])
    with sessions() as session:  # a tampered entry no longer matches the root
        entry = session.scalars(select(IntervalEntry).where(IntervalEntry.interval_id == interval_id)).one()
        entry.produced_wh = 10_000
        entry.leaf = Leaf(entry.household, entry.meter, interval_id, 10_000, 0, entry.readings_hash).hash()
        session.commit()
    with sessions() as session, pytest.raises(PlanError, match="does not match"):
        plan_settlement(session, world.web3, world.deployment, interval_id)
    assert store.rows(interval_id) == [] and store.interval(interval_id).status == "closed"

    with sessions() as session:
        session.get(Interval, interval_id).status, session.get(Interval, interval_id).closed_at = "open", None
        session.commit()
    with sessions() as session, pytest.raises(PlanError, match="only a closed interval"):
        plan_settlement(session, world.web3, world.deployment, interval_id)


def test_a_node_that_is_down_leaves_the_database_as_it_was(world, store, sessions):
    interval_id = world.fresh_interval()
    producer = world.household()
    world.end(interval_id)
    store.closed_interval(interval_id, [(producer, 100, 0)])
    with sessions() as session, pytest.raises(OSError):
        plan_settlement(session, dead_node(), world.deployment, interval_id)
    assert store.rows(interval_id) == [] and store.interval(interval_id).status == "closed"


def test_planning_every_closed_interval_resumes_when_the_node_is_back(world, empty_database_url):
    """On a database of its own: the planner takes every closed interval it finds."""
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    own = Store(session_factory(engine))
    try:
        first = world.fresh_interval()
        producer, consumer = world.household(), world.household()
        second = world.fresh_interval()
        world.end(second)
        own.closed_interval(first, [(producer, 100, 0)])
        own.closed_interval(second, [(consumer, 0, 100)])
        own.closed_interval(second + 1000, [(world.household(), 1, 0)])  # the chain has not got there: still planned
        with own.sessions() as session:  # one that cannot be planned is skipped, not fatal
            session.add(Interval(interval_id=first - 1, status="closed", readings_root=b"\x01" * 32, closed_at=1))
            session.commit()
        own.interval_ids.append(first - 1)

        assert plan_closed_intervals(own.sessions, dead_node(), world.deployment) == []
        assert {own.interval(i).status for i in (first, second)} == {"closed"}
        plans = plan_closed_intervals(own.sessions, world.web3, world.deployment)
        assert [p.interval_id for p in plans] == [first, second, second + 1000]
        assert own.interval(first - 1).status == "closed"
        assert plan_closed_intervals(own.sessions, world.web3, world.deployment) == []  # nothing new
    finally:
        own.cleanup()
        engine.dispose()


def dead_node() -> Web3:
    return Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 1}))


def test_replan_starts_over_but_never_under_a_sent_or_confirmed_transaction(world, store, sessions):
    interval_id, scene = market_scenario(world)
    store.closed_interval(interval_id, scene["metered"])
    with sessions() as session:
        first = plan_settlement(session, world.web3, world.deployment, interval_id)
    world.cancel(scene["buyer"], scene["bid"])  # the chain changes under the plan

    with sessions() as session:
        second = replan(session, world.web3, world.deployment, interval_id)
    assert second.created and second.attempt == 2
    assert scene["bid"] not in {f.order_id for f in second.clearing.fills}
    assert scene["bid"] in {f.order_id for f in first.clearing.fills}
    [row] = store.rows(interval_id)
    assert row.attempts == 2 and row.status == "pending"

    for status in ("sent", "confirmed"):
        with sessions() as session:
            stored = session.get(SettlementOutbox, row.id)
            stored.status, stored.nonce, stored.tx_hash = status, 1, "0x" + "ab" * 32
            session.commit()
        with sessions() as session, pytest.raises(ReplanRefused, match="in flight|confirmed"):
            replan(session, world.web3, world.deployment, interval_id)
    assert [r.id for r in store.rows(interval_id)] == [row.id]
