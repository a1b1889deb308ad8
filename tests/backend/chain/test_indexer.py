"""The chain indexer follows a real community on Anvil into SQLite and PostgreSQL.

The truth every test compares with is the chain itself: the receipts of the
transactions sent, and eth_getLogs over the community's contracts, decoded
independently with web3's contract events.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, func, select
from web3 import Web3

from backend.chain.anvil import free_port, rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, Deployment, deploy_community
from backend.chain.indexer import (
    Block,
    ChainMismatch,
    Indexer,
    NodeUnavailable,
    event_record,
    events,
    json_value,
)
from backend.db.models import ChainEvent, IndexerCursor
from backend.db.session import session_factory

pytestmark = pytest.mark.slow  # a real Anvil, reorgs and two indexer processes

CONTRACTS = ("CommunityRegistry", "EnergyToken", "Euro", "EnergyMarket")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
INTERVAL_S = 900


@dataclass
class Community:
    web3: Web3
    deployment: Deployment
    url: str

    def contract(self, name: str):
        return self.deployment.contract(self.web3, name)

    def send(self, key: str, function) -> dict:
        """Send a transaction; a fresh Deployer each time, since a revert rewinds nonces."""
        return Deployer(self.web3, Account.from_key(key)).call(function)

    def admin(self, function) -> dict:
        return self.send(ANVIL_DEPLOYER_KEY, function)

    def new_household(self, capacity_w: int = 7_000) -> tuple[LocalAccount, str, dict]:
        """Register a funded household with a fresh meter; return (account, meter, receipt)."""
        household, meter = Account.create(), Account.create().address
        receipt = self.admin(
            self.contract("CommunityRegistry").functions.registerHousehold(household.address, meter, capacity_w)
        )
        self.web3.provider.make_request("anvil_setBalance", [household.address, hex(10**19)])
        return household, meter, receipt

    def chain_logs(self) -> set[tuple[str, int]]:
        """(tx hash, log index) of every log of the community's contracts on the chain now."""
        logs = self.web3.eth.get_logs(
            {
                "fromBlock": self.deployment.deploy_block,
                "toBlock": "latest",
                "address": [self.deployment.address(name) for name in CONTRACTS],
            }
        )
        return {(Web3.to_hex(entry["transactionHash"]), entry["logIndex"]) for entry in logs}


@pytest.fixture(scope="module")
def community():
    node = start_anvil()
    web3 = Web3(Web3.HTTPProvider(node.url))
    deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings())
    yield Community(web3, deployment, node.url)
    node.stop()


@pytest.fixture
def sessions(migrated_engine):
    """A session factory on an empty chain_events / indexer_cursors pair of tables."""
    factory = session_factory(migrated_engine)

    def empty() -> None:
        with factory() as session:
            session.execute(delete(ChainEvent))
            session.execute(delete(IndexerCursor))
            session.commit()

    empty()
    yield factory
    empty()


def stored(sessions) -> list[tuple]:
    with sessions() as session:
        return [
            (row.block_number, row.block_hash, row.tx_hash, row.log_index, row.contract, row.event, row.args)
            for row in session.scalars(select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index))
        ]


def stored_keys(sessions) -> set[tuple[str, int]]:
    return {(tx_hash, log_index) for _, _, tx_hash, log_index, *_ in stored(sessions)}


def receipt_logs_match(community: Community, sessions, receipt: dict) -> list[ChainEvent]:
    """Assert each log of a receipt is stored once, decoded as web3's own contract events decode it."""
    by_address = {community.deployment.address(name): community.contract(name) for name in CONTRACTS}
    with sessions() as session:
        rows = list(
            session.scalars(
                select(ChainEvent)
                .where(ChainEvent.tx_hash == Web3.to_hex(receipt["transactionHash"]))
                .order_by(ChainEvent.log_index)
            )
        )
    assert [row.log_index for row in rows] == [entry["logIndex"] for entry in receipt["logs"]]
    for row, entry in zip(rows, receipt["logs"], strict=True):
        contract = by_address[entry["address"]]
        expected = next(
            event.process_log(entry) for event in contract.events if event.topic == Web3.to_hex(entry["topics"][0])
        )
        assert (row.contract, row.event, row.block_number) == (
            entry["address"],
            expected["event"],
            entry["blockNumber"],
        )
        assert row.block_hash == Web3.to_hex(entry["blockHash"])
        assert row.args == json_value(dict(expected["args"]))
    return rows


def mine(community: Community, blocks: int = 1, seconds: int = 0) -> None:
    if seconds:
        rpc_call(community.url, "evm_increaseTime", [seconds])
    for _ in range(blocks):
        rpc_call(community.url, "evm_mine")


# --- what is indexed, and how ---


def test_poll_indexes_registrations_orders_tokens_and_settlement_with_decoded_args(community, sessions):
    market, euro = community.contract("EnergyMarket"), community.contract("Euro")
    seller, seller_meter, registered = community.new_household(7_000)
    buyer, _, _ = community.new_household(5_000)
    faucet = community.admin(euro.functions.faucet(buyer.address))
    approve = community.send(buyer.key, euro.functions.approve(market.address, 10**9))
    auto_sell = community.send(seller.key, market.functions.setAutoSell(100_000))
    interval_id = market.functions.currentInterval().call() + 1  # a future window: no boundary race
    bid = community.send(buyer.key, market.functions.placeOrder(0, 150_000, 50, interval_id, interval_id))
    order_id = market.functions.nextOrderId().call() - 1
    mine(community, seconds=2 * INTERVAL_S)  # the interval ends
    root = Web3.keccak(text=f"readings root {interval_id}")
    settle = community.admin(
        market.functions.settleInterval(
            interval_id, root, [(seller.address, 100, 0)], [(0, 0, 50), (order_id, 0, 50)], 120_000
        )
    )
    cancel = community.send(buyer.key, market.functions.cancelOrder(order_id))

    pushed = []

    def on_events(records):
        with sessions() as session:  # listeners run after the commit: the rows are visible
            assert session.scalar(select(func.count()).select_from(ChainEvent)) >= len(records)
        pushed.extend(records)

    indexer = Indexer(community.web3, community.deployment, sessions, on_events=on_events)
    added = indexer.poll()

    assert stored_keys(sessions) == community.chain_logs()  # nothing missed, nothing extra
    assert added == len(pushed) == len(community.chain_logs())
    head = community.web3.eth.get_block("latest")
    assert indexer.cursor() == Block(head["number"], Web3.to_hex(head["hash"]))
    for receipt in (registered, faucet, approve, auto_sell, bid, settle, cancel):
        receipt_logs_match(community, sessions, receipt)

    with sessions() as session:
        (registration,) = events(session, "HouseholdRegistered", household=seller.address.lower())
        assert registration.args == {"household": seller.address, "meter": seller_meter, "capacityW": "7000"}
        (placed,) = events(session, "OrderPlaced", orderId=order_id)
        assert placed.args == {
            "orderId": str(order_id),
            "owner": buyer.address,
            "side": "0",
            "limitPrice": "150000",
            "amountWh": "50",
            "validFrom": str(interval_id),
            "validTo": str(interval_id),
            "escrow": "7500",
        }
        fills = events(session, "Filled", intervalId=interval_id)
        assert [
            (f.args["orderId"], f.args["household"], f.args["side"], f.args["amountWh"], f.args["value"]) for f in fills
        ] == [("0", seller.address, "1", "50", "6000"), (str(order_id), buyer.address, "0", "50", "6000")]
        (settled,) = events(session, "HouseholdSettled", intervalId=interval_id, household=seller.address)
        assert settled.args == {
            "intervalId": str(interval_id),
            "household": seller.address,
            "producedWh": "100",
            "consumedWh": "0",
            "creditedWh": "50",
            "burnedWh": "0",
            "gridImportWh": "0",
        }
        (interval,) = events(session, "IntervalSettled", intervalId=interval_id)
        assert interval.args["readingsRoot"] == Web3.to_hex(root)
        assert (interval.args["clearingPrice"], interval.args["tradedWh"], interval.args["chunks"]) == (
            "120000",
            "50",
            "1",
        )
        (closed,) = events(session, "OrderClosed", orderId=order_id)
        assert closed.args["refundedEuro"] == "1500"
        token_mints = events(
            session, "Transfer", contract=community.deployment.address("EnergyToken"), to=buyer.address
        )
        assert [(t.args["from"], t.args["value"]) for t in token_mints] == [(ZERO_ADDRESS, "50")]
        euro_to_buyer = events(session, "Transfer", contract=community.deployment.address("Euro"), to=buyer.address)
        assert [t.args["value"] for t in euro_to_buyer] == ["1000000000", "1500"]  # faucet, refund
        assert events(session, "OrderPlaced", orderId=order_id, from_block=cancel["blockNumber"]) == []
        assert events(session, "OrderPlaced", orderId=order_id + 1) == []
        assert event_record(placed, "EnergyMarket")["args"]["escrow"] == "7500"

    names = {record["event"] for record in pushed}
    assert {
        "RoleGranted",
        "MechanismSet",
        "TariffsSet",
        "HouseholdRegistered",
        "Approval",
        "AutoOrderSet",
        "OrderPlaced",
        "Filled",
        "HouseholdSettled",
        "IntervalSettled",
        "OrderClosed",
    } <= names
    assert {record["contractName"] for record in pushed} == set(CONTRACTS)
    assert indexer.poll() == 0  # caught up


def test_confirmations_hold_back_the_newest_blocks(community, sessions):
    _, _, receipt = community.new_household()
    indexer = Indexer(community.web3, community.deployment, sessions, confirmations=2)
    indexer.poll()
    assert indexer.cursor().number == community.web3.eth.block_number - 2
    assert (Web3.to_hex(receipt["transactionHash"]), 0) not in stored_keys(sessions)
    mine(community, blocks=2)
    indexer.poll()
    receipt_logs_match(community, sessions, receipt)
    assert stored_keys(sessions) == community.chain_logs()


# --- restarts and paging ---


def test_new_indexer_resumes_from_the_cursor_without_duplicates_or_gaps(community, sessions):
    first = Indexer(community.web3, community.deployment, sessions)
    first.poll()
    before = stored(sessions)
    cursor = first.cursor()

    receipts = [community.new_household()[2] for _ in range(3)]  # while no indexer runs
    restarted = Indexer(community.web3, community.deployment, sessions)
    assert restarted.cursor() == cursor
    assert restarted.poll() == 3
    after = stored(sessions)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 3 == len(set((row[2], row[3]) for row in after))
    assert stored_keys(sessions) == community.chain_logs()
    for receipt in receipts:
        receipt_logs_match(community, sessions, receipt)


@pytest.mark.parametrize("page_blocks", [1, 2])
def test_small_pages_store_exactly_what_one_big_page_stores(community, sessions, page_blocks):
    for _ in range(4):
        community.new_household()
        mine(community, blocks=2)  # empty blocks between events
    one_page = Indexer(community.web3, community.deployment, sessions)
    one_page.poll()
    expected, expected_cursor = stored(sessions), one_page.cursor()
    with sessions() as session:
        session.execute(delete(ChainEvent))
        session.execute(delete(IndexerCursor))
        session.commit()

    pages = []
    paged = Indexer(
        community.web3,
        community.deployment,
        sessions,
        max_blocks_per_poll=page_blocks,
        on_events=lambda records: pages.append({r["blockNumber"] for r in records}),
    )
    assert paged.poll() == len(expected)
    assert stored(sessions) == expected
    assert paged.cursor() == expected_cursor
    assert all(max(blocks) - min(blocks) < page_blocks for blocks in pages)


# --- reorgs ---


def test_reorg_after_revert_replaces_stale_events_with_the_new_branch(community, sessions):
    indexer = Indexer(community.web3, community.deployment, sessions)
    indexer.poll()
    fork = community.web3.eth.block_number
    snapshot = rpc_call(community.url, "evm_snapshot")
    stale = [community.new_household()[2] for _ in range(3)]
    indexer.poll()
    stale_keys = {(Web3.to_hex(r["transactionHash"]), 0) for r in stale}
    assert stale_keys <= stored_keys(sessions)

    assert rpc_call(community.url, "evm_revert", [snapshot])
    fresh = [community.new_household(capacity_w=3_000)[2] for _ in range(4)]  # other txs, longer branch
    assert community.web3.eth.block_number > stale[-1]["blockNumber"]
    assert community.web3.eth.get_block(stale[0]["blockNumber"])["hash"] != stale[0]["blockHash"]

    indexer.poll()
    keys = stored_keys(sessions)
    assert not stale_keys & keys
    assert keys == community.chain_logs()
    for receipt in fresh:
        receipt_logs_match(community, sessions, receipt)
    head = community.web3.eth.get_block("latest")
    assert indexer.cursor() == Block(head["number"], Web3.to_hex(head["hash"]))
    with sessions() as session:
        assert (
            session.scalar(select(func.max(ChainEvent.block_number)).where(ChainEvent.block_number <= fork)) is not None
        )  # the shared history stayed


def test_reorg_to_a_shorter_chain_rewinds_before_new_blocks_arrive(community, sessions):
    indexer = Indexer(community.web3, community.deployment, sessions)
    snapshot = rpc_call(community.url, "evm_snapshot")
    stale = community.new_household()[2]
    mine(community, blocks=3)
    indexer.poll()
    rpc_call(community.url, "evm_revert", [snapshot])  # the cursor's block no longer exists

    indexer.poll()
    assert stored_keys(sessions) == community.chain_logs()
    assert (Web3.to_hex(stale["transactionHash"]), 0) not in stored_keys(sessions)
    assert indexer.cursor().number <= community.web3.eth.block_number
    fresh = community.new_household()[2]
    indexer.poll()
    receipt_logs_match(community, sessions, fresh)
    assert stored_keys(sessions) == community.chain_logs()


def test_anvil_reorg_that_moves_a_transaction_to_another_block_keeps_one_current_copy(community, sessions):
    indexer = Indexer(community.web3, community.deployment, sessions)
    registry = community.contract("CommunityRegistry")
    household, meter = Account.create().address, Account.create().address
    admin = Account.from_key(ANVIL_DEPLOYER_KEY)
    signed = admin.sign_transaction(
        registry.functions.registerHousehold(household, meter, 4_000).build_transaction(
            {"from": admin.address, "nonce": community.web3.eth.get_transaction_count(admin.address)}
        )
    )
    raw = Web3.to_hex(signed.raw_transaction)
    old = community.web3.eth.wait_for_transaction_receipt(community.web3.eth.send_raw_transaction(raw))
    mine(community, blocks=2)
    indexer.poll()

    # The last 3 blocks are replaced; the same transaction lands one block later.
    rpc_call(community.url, "anvil_reorg", [3, [[raw, 1]]])
    new = community.web3.eth.get_transaction_receipt(old["transactionHash"])
    assert (new["blockNumber"], new["logs"][0]["logIndex"]) == (old["blockNumber"] + 1, old["logs"][0]["logIndex"])

    indexer.poll()
    assert stored_keys(sessions) == community.chain_logs()
    receipt_logs_match(community, sessions, new)
    with sessions() as session:
        (registration,) = events(session, "HouseholdRegistered", household=household)
    assert (registration.block_number, registration.args["meter"]) == (new["blockNumber"], meter)


# --- an unreachable or wrong node ---


def test_dead_node_raises_and_touches_nothing(community, sessions):
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}"))
    indexer = Indexer(dead, community.deployment, sessions)
    with pytest.raises(NodeUnavailable, match="JSON-RPC node unavailable"):
        indexer.poll()
    assert indexer.cursor() is None and stored(sessions) == []

    Indexer(community.web3, community.deployment, sessions).poll()
    before, cursor = stored(sessions), indexer.cursor()
    with pytest.raises(NodeUnavailable):
        indexer.poll()  # a working cursor and events stay as they were
    assert stored(sessions) == before and indexer.cursor() == cursor


def test_node_restart_from_its_state_file_resumes_where_it_stopped(sessions, tmp_path):
    port, state = free_port(), tmp_path / "anvil-state.json"
    node = start_anvil(port=port, state_file=state)
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings())
        community = Community(web3, deployment, node.url)
        indexer = Indexer(web3, deployment, sessions)
        indexer.poll()
        before, cursor = stored(sessions), indexer.cursor()
        node.stop()
        with pytest.raises(NodeUnavailable):
            indexer.poll()
        assert stored(sessions) == before and indexer.cursor() == cursor

        node = start_anvil(port=port, state_file=state)
        receipt = community.new_household()[2]
        assert indexer.poll() == 1
        receipt_logs_match(community, sessions, receipt)
        assert stored_keys(sessions) == community.chain_logs()
    finally:
        node.stop()


def test_run_logs_an_unreachable_node_and_stops_when_asked(community, sessions, caplog):
    dead = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}"))
    stop = threading.Event()
    worker = threading.Thread(target=Indexer(dead, community.deployment, sessions).run, args=(stop, 0.05))
    with caplog.at_level(logging.WARNING, logger="backend.chain.indexer"):
        worker.start()
        time.sleep(0.3)
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert "JSON-RPC node unavailable" in caplog.text and stored(sessions) == []

    stop = threading.Event()
    live = Indexer(community.web3, community.deployment, sessions)
    worker = threading.Thread(target=live.run, args=(stop, 0.05))
    worker.start()
    try:
        receipt = community.new_household()[2]
        deadline = time.monotonic() + 10
        while (Web3.to_hex(receipt["transactionHash"]), 0) not in stored_keys(sessions):
            assert time.monotonic() < deadline, "run() did not index a new event"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()


def test_a_node_of_another_chain_is_refused(community, sessions):
    other_chain = replace(community.deployment, chain_id=1)
    with pytest.raises(ChainMismatch, match="chain 31337.*chain 1"):
        Indexer(community.web3, other_chain, sessions).poll()
    assert stored(sessions) == []


# --- hostile or broken input ---


def test_event_missing_from_the_abi_is_skipped_and_the_rest_indexed(community, sessions, caplog):
    registry_contract = community.contract("CommunityRegistry")
    community.admin(registry_contract.functions.setTariffs(200_000, 50_000))
    contracts = dict(community.deployment.contracts)
    registry = dict(contracts["CommunityRegistry"])
    registry["abi"] = [item for item in registry["abi"] if item.get("name") != "TariffsSet"]
    contracts["CommunityRegistry"] = registry
    partial = replace(community.deployment, contracts=contracts)

    with caplog.at_level(logging.WARNING, logger="backend.chain.indexer"):
        Indexer(community.web3, partial, sessions).poll()
    assert "no event in the deployment's ABI" in caplog.text
    tariff_logs = community.web3.eth.get_logs(
        {
            "fromBlock": community.deployment.deploy_block,
            "toBlock": "latest",
            "address": registry_contract.address,
            "topics": [Web3.keccak(text="TariffsSet(uint256,uint256)")],
        }
    )
    assert len(tariff_logs) >= 2  # the constructor's and ours
    assert community.chain_logs() - stored_keys(sessions) == {
        (Web3.to_hex(entry["transactionHash"]), entry["logIndex"]) for entry in tariff_logs
    }
    assert Indexer(community.web3, partial, sessions).cursor().number == community.web3.eth.block_number


def test_log_that_does_not_fit_its_abi_is_skipped_with_a_warning(community, sessions, caplog):
    receipt = community.new_household()[2]
    contracts = dict(community.deployment.contracts)
    registry = dict(contracts["CommunityRegistry"])
    registry["abi"] = [
        dict(item, inputs=[dict(i, indexed=True) for i in item["inputs"]])
        if item.get("name") == "HouseholdRegistered"
        else item
        for item in registry["abi"]
    ]
    contracts["CommunityRegistry"] = registry  # capacityW now "indexed": one topic too many expected

    with caplog.at_level(logging.WARNING, logger="backend.chain.indexer"):
        Indexer(community.web3, replace(community.deployment, contracts=contracts), sessions).poll()
    assert "cannot decode HouseholdRegistered" in caplog.text
    with sessions() as session:
        assert events(session, "HouseholdRegistered") == []
    assert (Web3.to_hex(receipt["transactionHash"]), 0) not in stored_keys(sessions)
    assert len(stored_keys(sessions)) > 0


def test_a_real_stablecoin_is_followed_only_where_it_moves_through_the_market(community, sessions):
    market, euro = community.contract("EnergyMarket"), community.contract("Euro")
    buyer, _, _ = community.new_household()
    community.admin(euro.functions.faucet(buyer.address))  # not the market's business
    community.send(buyer.key, euro.functions.approve(market.address, 10**9))
    interval_id = market.functions.currentInterval().call() + 1
    community.send(buyer.key, market.functions.placeOrder(0, 150_000, 10, interval_id, interval_id))
    community.send(buyer.key, market.functions.cancelOrder(market.functions.nextOrderId().call() - 1))
    contracts = dict(community.deployment.contracts)
    contracts["Euro"] = dict(contracts["Euro"], testToken=False)

    Indexer(community.web3, replace(community.deployment, contracts=contracts), sessions).poll()
    market_topic = "0x" + "00" * 12 + market.address[2:].lower()
    transfer = Web3.keccak(text="Transfer(address,address,uint256)")
    through_market = {
        (Web3.to_hex(entry["transactionHash"]), entry["logIndex"])
        for topics in ([transfer, market_topic], [transfer, None, market_topic])
        for entry in community.web3.eth.get_logs(
            {
                "fromBlock": community.deployment.deploy_block,
                "toBlock": "latest",
                "address": euro.address,
                "topics": topics,
            }
        )
    }
    with sessions() as session:
        stored_euro = session.scalars(select(ChainEvent).where(ChainEvent.contract == euro.address)).all()
    assert {(row.tx_hash, row.log_index) for row in stored_euro} == through_market
    assert {row.event for row in stored_euro} == {"Transfer"} and len(through_market) >= 2
    assert all(market.address in (row.args["from"], row.args["to"]) for row in stored_euro)
    own = [community.deployment.address(name) for name in ("CommunityRegistry", "EnergyToken", "EnergyMarket")]
    own_logs = {
        (Web3.to_hex(entry["transactionHash"]), entry["logIndex"])
        for entry in community.web3.eth.get_logs(
            {"fromBlock": community.deployment.deploy_block, "toBlock": "latest", "address": own}
        )
    }
    assert stored_keys(sessions) == own_logs | through_market


def test_strings_with_invalid_utf8_and_nul_are_stored_with_replacement_characters(community, sessions):
    registry = community.contract("CommunityRegistry")
    calldata = Web3.keccak(text="setMechanism(string,string)")[:4] + abi_encode(
        ["bytes", "bytes"], [b"pay\xff\xfeas\x00clear", b"1"]
    )  # what no Python str could encode
    admin = Account.from_key(ANVIL_DEPLOYER_KEY).address  # Anvil's accounts are unlocked
    receipt = community.web3.eth.wait_for_transaction_receipt(
        community.web3.eth.send_transaction({"from": admin, "to": registry.address, "data": calldata})
    )
    assert receipt["status"] == 1

    Indexer(community.web3, community.deployment, sessions).poll()
    with sessions() as session:
        (mechanism,) = events(session, "MechanismSet", from_block=receipt["blockNumber"])
    assert mechanism.args == {"name": "pay\ufffd\ufffdas\ufffdclear", "version": "1"}
    assert stored_keys(sessions) == community.chain_logs()


def test_listener_errors_do_not_stop_indexing(community, sessions, caplog):
    def broken(records):
        raise RuntimeError("socket closed")

    with caplog.at_level(logging.ERROR, logger="backend.chain.indexer"):
        added = Indexer(community.web3, community.deployment, sessions, max_blocks_per_poll=50, on_events=broken).poll()
    assert added == len(community.chain_logs()) and stored_keys(sessions) == community.chain_logs()
    assert "on_events failed" in caplog.text


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"confirmations": -1}, "confirmations"),
        ({"max_blocks_per_poll": 0}, "max_blocks_per_poll"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
    ],
)
def test_bad_settings_fail_at_construction(community, sessions, arguments, message):
    with pytest.raises(ValueError, match=message):
        Indexer(community.web3, community.deployment, sessions, **arguments)


def test_events_refuses_filters_it_cannot_compare(sessions):
    with sessions() as session, pytest.raises(TypeError, match="amountWh"):
        events(session, "Filled", amountWh=1.5)


def test_two_processes_running_the_same_indexer_store_each_event_once(community, sessions):
    for _ in range(3):
        community.new_household()
    indexers = [Indexer(community.web3, community.deployment, sessions, max_blocks_per_poll=1) for _ in range(3)]
    added, errors = [], []

    def poll(indexer: Indexer) -> None:
        try:
            added.append(indexer.poll())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=poll, args=(indexer,)) for indexer in indexers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert stored_keys(sessions) == community.chain_logs()
    assert sum(added) == len(community.chain_logs())  # each event counted by the one that stored it


def test_a_page_read_from_a_cursor_that_moved_meanwhile_is_dropped(community, sessions):
    winner = Indexer(community.web3, community.deployment, sessions)
    winner.poll()
    read_by_the_slow_one = winner.cursor()
    mine(community, blocks=2)  # empty blocks: without the check, the slow page would move the cursor back
    winner.poll()
    assert winner.cursor().number == read_by_the_slow_one.number + 2

    slow = Indexer(community.web3, community.deployment, sessions, max_blocks_per_poll=1)
    assert slow._index_page_after(read_by_the_slow_one) is None
    assert slow.cursor() == winner.cursor()
    assert stored_keys(sessions) == community.chain_logs()
