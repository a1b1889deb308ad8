"""The settlement outbox on a real chain and real databases: happy path, crashes, a node that is down, reverts.

Every scenario counts the oracle account's transactions through its nonce:
an interval settles exactly once, and nothing is sent for one already settled.
"""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from test_settlement_plan import World, market_scenario, store, world  # noqa: F401 - fixtures shared with the planner tests
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from backend.chain.anvil import rpc_call, start_anvil
from backend.chain.deploy import Deployer
from backend.market.chunking import ENTRY_GAS, FILL_GAS
from backend.oracle.outbox import ErrorDecoder, OutboxSender, RevertReason
from backend.oracle.settlement import call_arguments, plan_settlement

pytestmark = pytest.mark.slow  # sends settlements to a real Anvil

GWEI = 10**9
DEAD_URL = "http://127.0.0.1:9"


class SimulatedCrash(Exception):
    """The process dies here."""


class CrashBeforeBroadcast(OutboxSender):
    """Dies after the write-ahead commit, before the node hears of the transaction."""

    def _broadcast(self, raw_transaction: bytes) -> None:
        raise SimulatedCrash


def make_sender(world: World, sessions, web3: Web3 | None = None, kind=OutboxSender, **options) -> OutboxSender:
    sender = kind(web3 or world.web3, world.deployment, world.oracle, sessions, priority_fee_wei=GWEI, **options)
    sender.settled_calls = []
    sender.on_settled = lambda *args: sender.settled_calls.append(args)
    return sender


def planned(world: World, store, sessions, gas_budget: int | None = None):
    interval_id, scene = market_scenario(world)
    root = store.closed_interval(interval_id, scene["metered"])
    with sessions() as session:
        options = {} if gas_budget is None else {"gas_budget": gas_budget}
        plan = plan_settlement(session, world.web3, world.deployment, interval_id, **options)
    return interval_id, scene, root, plan


def filled_wh(world: World, order_id: int) -> int:
    return world.market.functions.getOrder(order_id).call()[6]


def assert_settled_once(world: World, store, interval_id: int, tx_hash: str):
    [event] = world.market.events.IntervalSettled.get_logs(
        from_block=world.deployment.deploy_block, argument_filters={"intervalId": interval_id}
    )
    assert Web3.to_hex(event["transactionHash"]) == tx_hash
    interval = store.interval(interval_id)
    assert (interval.status, interval.settled_tx, interval.settled_block) == ("settled", tx_hash, event["blockNumber"])
    assert interval.clearing_price == event["args"]["clearingPrice"]
    assert bytes(event["args"]["readingsRoot"]) == interval.readings_root
    assert {row.status for row in store.rows(interval_id)} == {"confirmed"}
    return event


def test_a_planned_interval_settles_after_its_confirmations(world, store, sessions):
    interval_id, scene, root, plan = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions, confirmations=2)

    assert sender.step()  # sent (and mined: automine)
    [row] = store.rows(interval_id)
    assert (row.status, row.nonce) == ("sent", nonce)
    assert row.payload["tx"]["from"] == world.oracle.address and int(row.payload["tx"]["gas"]) > 0
    assert not sender.step()  # one confirmation of two
    assert store.interval(interval_id).status == "settling"
    world.mine()
    assert sender.step()
    assert not sender.step()  # nothing left

    event = assert_settled_once(world, store, interval_id, row.tx_hash)
    assert bytes(event["args"]["readingsRoot"]) == root
    assert event["args"]["clearingPrice"] == plan.clearing_price > 0
    assert sender.settled_calls == [(interval_id, row.tx_hash, event["blockNumber"])]
    assert world.oracle_nonce() == nonce + 1
    fills = {f.order_id: f.amount_wh for f in plan.clearing.fills}
    assert filled_wh(world, scene["ask"]) == fills[scene["ask"]]
    assert filled_wh(world, scene["bid"]) == fills[scene["bid"]]


@pytest.fixture(scope="module")
def london_world():
    """The London build on `anvil --hardfork london`: Energy Web Chain's EVM level."""
    node = start_anvil(hardfork="london")
    try:
        yield World(node.url, evm_version="london")
    finally:
        node.stop()


def test_the_london_build_deploys_and_settles_an_interval_on_a_london_node(london_world, store, sessions):
    world = london_world
    latest = world.web3.eth.get_block("latest")
    assert "baseFeePerGas" in latest and "withdrawalsRoot" not in latest  # London, not Shanghai or later
    assert world.deployment.settings["evmVersion"] == "london"
    interval_id, _, root, plan = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions)

    assert sender.step() and sender.step()  # sent and mined, then confirmed
    [row] = store.rows(interval_id)
    event = assert_settled_once(world, store, interval_id, row.tx_hash)
    assert bytes(event["args"]["readingsRoot"]) == root and event["args"]["clearingPrice"] == plan.clearing_price
    assert world.oracle_nonce() == nonce + 1


def test_the_default_build_does_not_run_on_a_london_node(london_world):
    """Why EWC needs the London build: the default (cancun) build's PUSH0 is an invalid opcode there."""
    world = london_world
    deployer = Deployer(world.web3, world.admin_account)
    with pytest.raises(Web3RPCError, match="NotActivated"):  # the gas estimate meets PUSH0
        deployer.deploy("EnergyToken", world.admin_account.address)
    assert Deployer(world.web3, world.admin_account, "london").deploy("EnergyToken", world.admin_account.address)


def test_an_interval_settled_on_chain_already_is_marked_settled_without_a_transaction(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    [row] = store.rows(interval_id)
    function, args = call_arguments(row.payload)
    by_hand = world.admin.call(getattr(world.market.functions, function)(*args))
    nonce = world.oracle_nonce()

    sender = make_sender(world, sessions)
    assert sender.step()
    assert not sender.step()
    assert world.oracle_nonce() == nonce  # nothing sent
    hand_tx = Web3.to_hex(by_hand["transactionHash"])
    assert_settled_once(world, store, interval_id, hand_tx)
    [row] = store.rows(interval_id)
    assert row.tx_hash == hand_tx and row.payload["observedOnChain"]["from"] == world.admin_account.address
    assert sender.settled_calls == [(interval_id, hand_tx, by_hand["blockNumber"])]


def test_losing_the_race_to_another_settlement_is_not_a_failure(world, store, sessions):
    """Our transaction is in the pool when another oracle's lands first: ours reverts, the interval is settled."""
    interval_id, _, _, _ = planned(world, store, sessions)
    [row] = store.rows(interval_id)
    function, args = call_arguments(row.payload)
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions)
    world.automine(False)
    try:
        assert sender.step()
        admin = world.admin_account
        fields = getattr(world.market.functions, function)(*args).build_transaction(
            {
                "from": admin.address,
                "nonce": world.web3.eth.get_transaction_count(admin.address, "pending"),
                "gas": 3_000_000,
                "maxPriorityFeePerGas": 100 * GWEI,
                "maxFeePerGas": 200 * GWEI,
            }
        )
        theirs = Web3.to_hex(world.web3.eth.send_raw_transaction(admin.sign_transaction(fields).raw_transaction))
        world.admin.nonce += 1
        world.mine()
    finally:
        world.automine(True)
    ours = store.rows(interval_id)[0].tx_hash
    assert world.web3.eth.get_transaction_receipt(ours)["status"] == 0

    assert sender.step()
    assert world.oracle_nonce() == nonce + 1  # the one that lost, and no other
    assert_settled_once(world, store, interval_id, theirs)
    assert store.rows(interval_id)[0].payload["droppedTx"]["hash"] == ours


def test_a_crash_between_the_write_ahead_and_the_broadcast_settles_exactly_once(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    with pytest.raises(SimulatedCrash):
        make_sender(world, sessions, kind=CrashBeforeBroadcast).step()
    [row] = store.rows(interval_id)
    assert (row.status, row.nonce) == ("sent", nonce)
    with pytest.raises(TransactionNotFound):
        world.web3.eth.get_transaction(row.tx_hash)  # the node never heard of it

    restarted = make_sender(world, sessions)
    assert restarted.run_until_idle() >= 2  # re-broadcast, then confirmed
    assert world.oracle_nonce() == nonce + 1
    assert_settled_once(world, store, interval_id, row.tx_hash)  # the same transaction, re-signed


def test_a_sent_transaction_whose_nonce_was_used_elsewhere_is_sent_again(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    with pytest.raises(SimulatedCrash):
        make_sender(world, sessions, kind=CrashBeforeBroadcast).step()
    lost = store.rows(interval_id)[0].tx_hash
    # Someone else uses the oracle key meanwhile: the stored transaction can never be mined.
    Deployer(world.web3, world.oracle).call(world.euro.functions.approve(world.oracle.address, 1))

    restarted = make_sender(world, sessions)
    restarted.run_until_idle()
    [row] = store.rows(interval_id)
    assert row.tx_hash != lost and row.nonce == nonce + 1
    assert world.oracle_nonce() == nonce + 2
    assert_settled_once(world, store, interval_id, row.tx_hash)


def test_a_crash_after_the_broadcast_is_confirmed_without_sending_again(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    world.automine(False)
    try:
        assert make_sender(world, sessions).step()  # broadcast, then the process is gone
        [row] = store.rows(interval_id)
        assert world.web3.eth.get_transaction(row.tx_hash)["blockNumber"] is None  # in the pool
        restarted = make_sender(world, sessions)
        assert not restarted.step()  # known to the node, not mined: wait
        world.mine()
    finally:
        world.automine(True)
    assert restarted.step()
    assert world.oracle_nonce() == nonce + 1
    assert_settled_once(world, store, interval_id, row.tx_hash)


def test_a_node_that_is_down_delays_settlement_and_corrupts_nothing(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    web3 = Web3(Web3.HTTPProvider(world.url, request_kwargs={"timeout": 2}))
    sender = make_sender(world, sessions, web3=web3)

    web3.provider.endpoint_uri = DEAD_URL  # the node is down while the interval is due
    assert not sender.step() and not sender.step()
    [row] = store.rows(interval_id)
    assert (row.status, row.nonce, row.tx_hash) == ("pending", None, None)

    web3.provider.endpoint_uri = world.url
    world.automine(False)
    try:
        assert sender.step()  # sent; the node holds it unmined
        web3.provider.endpoint_uri = DEAD_URL  # and goes down again before it is mined
        assert not sender.step()
        [row] = store.rows(interval_id)
        assert row.status == "sent"
        web3.provider.endpoint_uri = world.url
        assert not sender.step()  # still unmined: stays sent
        world.mine()
    finally:
        world.automine(True)
    assert sender.step()
    assert world.oracle_nonce() == nonce + 1
    assert_settled_once(world, store, interval_id, row.tx_hash)


def test_a_bid_cancelled_under_a_sent_settlement_fails_it_then_a_new_plan_settles(world, store, sessions):
    interval_id, scene, _, plan = planned(world, store, sessions)
    assert scene["bid"] in {f.order_id for f in plan.clearing.fills}
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions)
    world.automine(False)
    try:
        assert sender.step()  # our settlement waits in the pool ...
        # ... and the bid's owner cancels with a higher tip, so the cancel is mined first.
        world.send_unmined(scene["buyer"], world.market.functions.cancelOrder(scene["bid"]), tip_wei=100 * GWEI)
        world.mine()
    finally:
        world.automine(True)

    assert sender.step()
    [failed] = store.rows(interval_id)
    assert failed.status == "failed"
    assert failed.last_error.startswith(f"MarketOrderNotOpen(orderId={scene['bid']})")
    assert "reverted in block" in failed.last_error  # found by the receipt, not by the gas estimate
    assert sender.step()  # planned again on the chain's new state
    [again] = store.rows(interval_id)
    assert (again.status, again.attempts) == ("pending", 2)
    assert again.payload["history"][0]["error"] == failed.last_error
    assert all(int(f["orderId"]) != scene["bid"] for f in again.payload["args"]["fills"])

    sender.run_until_idle()
    assert world.oracle_nonce() == nonce + 2  # the reverted one and the good one
    event = assert_settled_once(world, store, interval_id, store.rows(interval_id)[0].tx_hash)
    assert event["args"]["clearingPrice"] == int(again.payload["args"]["clearingPrice"])
    assert filled_wh(world, scene["bid"]) == 0


def test_a_plan_that_went_stale_before_sending_is_planned_again_without_spending_gas(world, store, sessions):
    interval_id, scene, _, plan = planned(world, store, sessions)
    world.cancel(scene["buyer"], scene["bid"])  # after planning, before anything was sent
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions)
    assert sender.step()
    [row] = store.rows(interval_id)
    assert (row.status, row.attempts, row.payload["history"]) == ("pending", 1, [])
    assert row.payload["plannedAt"]["block"] > plan.block_number
    assert all(int(f["orderId"]) != scene["bid"] for f in row.payload["args"]["fills"])
    assert world.oracle_nonce() == nonce

    sender.run_until_idle()
    assert world.oracle_nonce() == nonce + 1
    assert_settled_once(world, store, interval_id, store.rows(interval_id)[0].tx_hash)
    assert filled_wh(world, scene["bid"]) == 0


def test_failures_are_bounded_and_caught_before_spending_gas(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    oracle_role = world.registry.functions.ORACLE_ROLE().call()
    world.admin.call(world.registry.functions.revokeRole(oracle_role, world.oracle.address))
    try:
        nonce = world.oracle_nonce()
        impatient = make_sender(world, sessions, max_attempts=2)
        assert impatient.step()  # attempt 1 fails at the gas estimate
        [row] = store.rows(interval_id)
        assert row.status == "failed"
        assert row.last_error == f"gas estimate reverted: MarketNotOracle(caller={world.oracle.address})"
        assert impatient.step()  # planned again: attempt 2
        assert impatient.step()  # fails the same way
        assert not impatient.step()  # no attempts left: it stays failed, the sender moves on
        [row] = store.rows(interval_id)
        assert (row.status, row.attempts, len(row.payload["history"])) == ("failed", 2, 1)
        assert store.interval(interval_id).status == "settling"
        assert world.oracle_nonce() == nonce  # not one transaction sent
    finally:
        world.admin.call(world.registry.functions.grantRole(oracle_role, world.oracle.address))

    patient = make_sender(world, sessions, max_attempts=3)  # an operator fixed the role, allows one more
    patient.run_until_idle()
    assert world.oracle_nonce() == nonce + 1
    assert_settled_once(world, store, interval_id, store.rows(interval_id)[0].tx_hash)


def test_a_chunked_plan_settles_through_its_chunks_and_a_close(world, store, sessions):
    budget = ENTRY_GAS + 2 * FILL_GAS  # about one household per transaction
    interval_id, scene, root, plan = planned(world, store, sessions, gas_budget=budget)
    rows = store.rows(interval_id)
    assert [r.kind for r in rows] == ["settle_chunk"] * (len(rows) - 1) + ["close_interval"] and len(rows) >= 3
    nonce = world.oracle_nonce()
    sender = make_sender(world, sessions, gas_budget=budget)

    sender.run_until_idle()
    rows = store.rows(interval_id)
    assert [r.nonce for r in rows] == list(range(nonce, nonce + len(rows)))
    event = assert_settled_once(world, store, interval_id, rows[-1].tx_hash)
    assert event["args"]["chunks"] == len(rows) - 1
    assert event["args"]["clearingPrice"] == plan.clearing_price and bytes(event["args"]["readingsRoot"]) == root
    assert world.oracle_nonce() == nonce + len(rows)
    fills = {f.order_id: f.amount_wh for f in plan.clearing.fills}
    assert filled_wh(world, scene["bid"]) == fills[scene["bid"]]


# --- revert data from anyone -----------------------------------------------------------


def test_revert_data_is_decoded_by_name_and_garbage_never_raises(world):
    decoder = ErrorDecoder(c["abi"] for c in world.deployment.contracts.values())
    selector = function_signature_to_4byte_selector("MarketOrderNotOpen(uint256)")
    assert str(decoder.decode(selector + encode(["uint256"], [7]))) == "MarketOrderNotOpen(orderId=7)"
    message = bytes.fromhex("08c379a0") + encode(["string"], ["no"])
    assert decoder.decode("0x" + message.hex()) == RevertReason("Error", (("message", "no"),))
    assert decoder.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])).name == "Panic"
    for garbage in (
        None,
        "",
        "0x",
        "0xzz",
        b"\x01\x02",
        selector + b"\x00" * 5,
        b"\xde\xad\xbe\xef" + b"\x00" * 64,
        "0x08c379a0ffff",
    ):
        assert decoder.decode(garbage).name in ("EmptyRevert", "Unparseable", "UnknownError", "Undecodable")


def test_nonsense_options_are_refused(world, sessions):
    for options in ({"confirmations": 0}, {"gas_headroom": 0.5}, {"max_attempts": 0}):
        with pytest.raises(ValueError):
            OutboxSender(world.web3, world.deployment, world.oracle, sessions, **options)


# --- fees: a stuck transaction replaced, the fee cap --------------------------------------


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_stuck_transaction_is_replaced_with_the_same_nonce_and_the_interval_settles_once(world, store, sessions):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    clock = Clock()
    sender = make_sender(world, sessions, stuck_after_s=60, clock=clock, max_fee_per_gas_wei=10_000 * GWEI)
    world.automine(False)
    try:
        assert sender.step()  # sent, in the pool
        [row] = store.rows(interval_id)
        first_hash, first_max_fee = row.tx_hash, int(row.payload["tx"]["maxFeePerGas"])
        # The base fee jumps above what the transaction offers: blocks come, it is not included.
        rpc_call(world.url, "anvil_setNextBlockBaseFeePerGas", [hex(first_max_fee * 4)])
        world.mine()
        assert world.web3.eth.get_block("latest")["baseFeePerGas"] > first_max_fee
        assert world.oracle_nonce() == nonce
        sender.step()  # not stuck for long yet: at most broadcast again (Anvil drops an underpriced transaction)
        assert store.rows(interval_id)[0].tx_hash == first_hash
        clock.now += 61
        assert sender.step()  # replaced
        [row] = store.rows(interval_id)
        assert row.status == "sent" and row.nonce == nonce and row.tx_hash != first_hash
        assert int(row.payload["tx"]["maxFeePerGas"]) > world.web3.eth.get_block("latest")["baseFeePerGas"]
        assert row.payload["replaced"] == [
            {"hash": first_hash, "maxFeePerGas": str(first_max_fee), "maxPriorityFeePerGas": str(GWEI)}
        ]
        world.mine()
    finally:
        world.automine(True)
    assert sender.step() and not sender.step()
    assert_settled_once(world, store, interval_id, row.tx_hash)
    assert world.oracle_nonce() == nonce + 1
    with pytest.raises(TransactionNotFound):
        world.web3.eth.get_transaction_receipt(first_hash)


def test_the_fee_cap_stops_the_sender_without_guessing(world, store, sessions, caplog):
    interval_id, _, _, _ = planned(world, store, sessions)
    nonce = world.oracle_nonce()
    base_fee = world.web3.eth.get_block("latest")["baseFeePerGas"]
    cap = 2 * base_fee  # below 2 x base fee + tip: the first send is already over it
    sender = make_sender(world, sessions, max_fee_per_gas_wei=cap)
    assert not sender.step()
    [row] = store.rows(interval_id)
    assert row.status == "pending" and row.tx_hash is None
    assert row.last_error.startswith("fee cap reached") and f"the cap is {cap}" in row.last_error
    assert any(r.levelname == "ERROR" and "ALERT" in r.getMessage() for r in caplog.records)
    assert (
        world.oracle_nonce() == nonce and world.web3.eth.get_transaction_count(world.oracle.address, "pending") == nonce
    )

    # Raising the cap lets it go on; a replacement over the cap stops the same way, leaving the first in the pool.
    clock = Clock()
    sender = make_sender(world, sessions, max_fee_per_gas_wei=cap + 2 * GWEI, stuck_after_s=1, clock=clock)
    world.automine(False)
    try:
        assert sender.step()
        [row] = store.rows(interval_id)
        sent_hash = row.tx_hash
        clock.now += 5
        assert not sender.step()
        [row] = store.rows(interval_id)
        assert row.tx_hash == sent_hash and row.last_error.startswith("fee cap reached")
        world.mine()
    finally:
        world.automine(True)
    assert sender.step()
    assert_settled_once(world, store, interval_id, sent_hash)
