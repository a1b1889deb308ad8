"""EnergyMarket.settleInterval / settleChunk / closeInterval: every path and
every revert, plus the solver's answers accepted by the contract."""

import ape
import pytest
from conftest import ASK, BID, EURO, FEED_IN_PRICE, RETAIL_PRICE, advance_intervals, sort_households
from eth_utils import keccak
from settlement_helpers import chain_orders, settle_args, solve

from backend.market.chunking import split_settlement

ROOT = b"\x11" * 32


def entry(household, produced, consumed):
    return (household.address if hasattr(household, "address") else household, produced, consumed)


@pytest.fixture
def ended(chain, interval):
    """An interval that has ended, so it may be settled."""
    advance_intervals(chain, 1)
    return interval


def test_only_oracle_settles(market, households, outsider, admin, ended):
    for caller in (outsider, admin, households[0]):
        with ape.reverts(market.MarketNotOracle, caller=caller):
            market.settleInterval(ended, ROOT, [], [], 0, sender=caller)
        with ape.reverts(market.MarketNotOracle):
            market.settleChunk(ended, ROOT, [], [], 0, sender=caller)
        with ape.reverts(market.MarketNotOracle):
            market.closeInterval(ended, sender=caller)


def test_current_and_future_intervals_cannot_be_settled(market, oracle, interval):
    for target in (interval, interval + 1):
        with ape.reverts(market.MarketIntervalNotEnded, intervalId=target, currentInterval=interval):
            market.settleInterval(target, ROOT, [], [], 0, sender=oracle)
        with ape.reverts(market.MarketIntervalNotEnded):
            market.settleChunk(target, ROOT, [], [], 0, sender=oracle)


def test_surplus_is_minted_and_deficit_burned_from_credit(market, token, oracle, households, chain, ended):
    producer, consumer = sort_households(households[:2])
    receipt = market.settleInterval(
        ended, ROOT, [entry(producer, 3_000, 1_000), entry(consumer, 200, 500)], [], 0, sender=oracle
    )
    assert token.balanceOf(producer) == 2_000 and token.balanceOf(consumer) == 0
    settled = receipt.events.filter(market.HouseholdSettled)
    assert [(e.household, e.creditedWh, e.burnedWh, e.gridImportWh) for e in settled] == [
        (producer.address, 2_000, 0, 0),
        (consumer.address, 0, 0, 300),
    ]
    closing = receipt.events.filter(market.IntervalSettled)[0]
    assert (closing.surplusWh, closing.coveredWh, closing.tradedWh, closing.gridImportWh) == (2_000, 0, 0, 300)
    assert market.isSettled(ended) and market.getInterval(ended).readingsRoot == ROOT

    # Next interval the producer is short: its own credit covers 1,500 of 1,800 Wh.
    advance_intervals(chain, 1)
    receipt = market.settleInterval(ended + 1, ROOT, [entry(producer, 0, 1_800)], [], 0, sender=oracle)
    settled = receipt.events.filter(market.HouseholdSettled)[0]
    assert (settled.burnedWh, settled.gridImportWh) == (1_800, 0)
    assert token.balanceOf(producer) == 200
    assert token.totalSupply() == 200


def test_interval_is_settled_once(market, oracle, households, ended):
    market.settleInterval(ended, ROOT, [entry(households[0], 10, 0)], [], 0, sender=oracle)
    with ape.reverts(market.MarketIntervalAlreadySettled, intervalId=ended):
        market.settleInterval(ended, ROOT, [entry(households[0], 10, 0)], [], 0, sender=oracle)
    with ape.reverts(market.MarketIntervalAlreadySettled):
        market.settleChunk(ended, ROOT, [], [], 0, sender=oracle)
    with ape.reverts(market.MarketIntervalAlreadySettled):
        market.closeInterval(ended, sender=oracle)


def test_entries_must_be_sorted_and_unique(market, oracle, households, ended):
    low, high = sort_households(households[:2])
    with ape.reverts(market.MarketEntriesNotSorted, index=1, household=low):
        market.settleInterval(ended, ROOT, [entry(high, 1, 0), entry(low, 1, 0)], [], 0, sender=oracle)
    with ape.reverts(market.MarketEntriesNotSorted, index=1, household=low):
        market.settleInterval(ended, ROOT, [entry(low, 1, 0), entry(low, 1, 0)], [], 0, sender=oracle)
    assert not market.isSettled(ended)


def _auto_pair(market, households):
    """A seller with auto-sell at 0.08 and a buyer with auto-buy at 0.15 and 100 EUR deposited."""
    seller, buyer = households[0], households[1]
    market.setAutoSell(80_000, sender=seller)
    market.setAutoBuy(150_000, sender=buyer)
    market.deposit(100 * EURO, sender=buyer)
    ordered = sort_households([seller, buyer])
    return seller, buyer, ordered.index(seller), ordered.index(buyer), ordered


def test_auto_orders_trade_metered_surplus(market, token, oracle, households, ended):
    seller, buyer, s, b, ordered = _auto_pair(market, households)
    metered = {seller: (1_500, 500), buyer: (0, 700)}
    entries = [entry(h, *metered[h]) for h in ordered]
    fills = [(0, s, 700), (0, b, 700)]
    receipt = market.settleInterval(ended, ROOT, entries, fills, 100_000, sender=oracle)
    # 700 Wh at 0.10 EUR/kWh = 70,000 units from the buyer's account to the seller's
    assert market.getAccount(seller).balance == 70_000
    assert market.getAccount(buyer).balance == 100 * EURO - 70_000
    assert token.balanceOf(seller) == 300  # 1,000 surplus - 700 sold stays as credit
    assert token.balanceOf(buyer) == 0
    closing = receipt.events.filter(market.IntervalSettled)[0]
    assert (closing.surplusWh, closing.coveredWh, closing.tradedWh, closing.gridImportWh) == (1_000, 700, 700, 0)
    assert token.totalSupply() == closing.surplusWh - closing.coveredWh


@pytest.mark.parametrize(
    "fills, price, error, fields",
    [
        ([(0, "s", 700), (0, "b", 700)], 100_500, "MarketClearingPriceNotOnTick", {"clearingPrice": 100_500}),
        ([(0, "s", 700), (0, "b", 700)], RETAIL_PRICE + 1_000, "MarketPriceOutOfBand", {"retailPrice": RETAIL_PRICE}),
        ([(0, "s", 700), (0, "b", 700)], FEED_IN_PRICE - 1_000, "MarketPriceOutOfBand", {"feedInPrice": FEED_IN_PRICE}),
        ([(0, "s", 0), (0, "b", 700)], 100_000, "MarketZeroFill", {"fillIndex": 0}),
        ([(0, 5, 700), (0, "b", 700)], 100_000, "MarketAutoEntryOutOfRange", {"autoEntry": 5}),
        ([(0, "s", 1_001), (0, "b", 1_001)], 100_000, "MarketAutoFillExceedsMetered", {"amountWh": 1_001}),
        ([(0, "s", 700), (0, "b", 700), (0, "b", 1)], 100_000, "MarketAutoFillExceedsMetered", {}),
        ([(0, "s", 700), (0, "b", 700)], 70_000, "MarketPriceBeyondLimit", {"limitPrice": 80_000}),
        ([(0, "s", 700), (0, "b", 700)], 160_000, "MarketPriceBeyondLimit", {"limitPrice": 150_000}),
        ([(0, "s", 700), (0, "b", 600)], 100_000, "MarketValueNotConserved", {"soldWh": 700, "boughtWh": 600}),
    ],
)
def test_bad_auto_fills_revert(market, oracle, households, ended, fills, price, error, fields):
    seller, buyer, s, b, ordered = _auto_pair(market, households)
    metered = {seller: (1_500, 500), buyer: (0, 700)}
    entries = [entry(h, *metered[h]) for h in ordered]
    resolved = [(o, {"s": s, "b": b}.get(e, e), a) for o, e, a in fills]
    with ape.reverts(getattr(market, error), **fields):
        market.settleInterval(ended, ROOT, entries, resolved, price, sender=oracle)
    assert not market.isSettled(ended)


def test_auto_order_off_and_budget_short(market, oracle, households, ended):
    seller, buyer, s, b, ordered = _auto_pair(market, households)
    metered = {seller: (1_500, 500), buyer: (0, 700)}
    entries = [entry(h, *metered[h]) for h in ordered]
    market.setAutoSell(0, sender=seller)
    with ape.reverts(market.MarketAutoOrderOff, household=seller, side=ASK):
        market.settleInterval(ended, ROOT, entries, [(0, s, 700), (0, b, 700)], 100_000, sender=oracle)
    market.setAutoSell(80_000, sender=seller)
    market.withdraw(100 * EURO - 69_999, sender=buyer)  # 69,999 left; 700 Wh cost 70,000
    with ape.reverts(market.MarketInsufficientBalance, household=buyer, requested=70_000, available=69_999):
        market.settleInterval(ended, ROOT, entries, [(0, s, 700), (0, b, 700)], 100_000, sender=oracle)


def test_resting_orders_fill_within_their_limits(market, token, euro, admin, oracle, households, chain, interval):
    seller, buyer = households[2], households[3]
    token.grantRole(token.SETTLEMENT_ROLE(), admin, sender=admin)
    token.mint(seller, 5_000, sender=admin)
    market.placeOrder(ASK, 90_000, 4_000, interval, interval + 2, sender=seller)  # order 1
    market.placeOrder(BID, 120_000, 3_000, interval, interval, sender=buyer)  # order 2, escrows 360,000
    advance_intervals(chain, 1)
    supply = token.totalSupply()
    receipt = market.settleInterval(interval, ROOT, [], [(2, 0, 3_000), (1, 0, 3_000)], 100_000, sender=oracle)
    assert token.balanceOf(buyer) == 3_000 and token.balanceOf(market) == 1_000
    assert token.totalSupply() == supply  # 3,000 burned from escrow, 3,000 minted to the buyer
    assert market.getAccount(seller).balance == 300_000
    bid = market.getOrder(2)
    assert (bid.filledWh, bid.escrow, bid.open) == (3_000, 60_000, True)  # unused escrow stays with the order
    assert euro.balanceOf(market) == 60_000 + 300_000
    fills = receipt.events.filter(market.Filled)
    assert [(f.orderId, f.side, f.amountWh, f.value) for f in fills] == [
        (2, BID, 3_000, 300_000),
        (1, ASK, 3_000, 300_000),
    ]

    # order 2 is exhausted, and its window is over
    advance_intervals(chain, 1)
    with ape.reverts(market.MarketFillExceedsOrder, orderId=1, amountWh=1_001, remainingWh=1_000):
        market.settleInterval(interval + 1, ROOT, [], [(1, 0, 1_001)], 100_000, sender=oracle)
    with ape.reverts(market.MarketOrderNotValidInInterval, orderId=2, intervalId=interval + 1):
        market.settleInterval(interval + 1, ROOT, [], [(2, 0, 1), (1, 0, 1)], 100_000, sender=oracle)
    with ape.reverts(market.MarketPriceBeyondLimit, orderId=1, limitPrice=90_000, clearingPrice=80_000):
        market.settleInterval(interval + 1, ROOT, [], [(1, 0, 1)], 80_000, sender=oracle)
    market.cancelOrder(1, sender=seller)
    with ape.reverts(market.MarketOrderNotOpen, orderId=1):
        market.settleInterval(interval + 1, ROOT, [], [(1, 0, 1)], 100_000, sender=oracle)
    with ape.reverts(market.MarketOrderNotOpen, orderId=77):
        market.settleInterval(interval + 1, ROOT, [], [(77, 0, 1)], 100_000, sender=oracle)


def test_bid_above_its_limit_reverts(market, oracle, households, chain, interval):
    market.placeOrder(BID, 120_000, 3_000, interval, interval, sender=households[3])
    market.setAutoSell(60_000, sender=households[0])
    advance_intervals(chain, 1)
    with ape.reverts(market.MarketPriceBeyondLimit, orderId=1, limitPrice=120_000, clearingPrice=130_000):
        market.settleInterval(
            interval, ROOT, [entry(households[0], 5_000, 0)], [(1, 0, 3_000), (0, 0, 3_000)], 130_000, sender=oracle
        )


def test_chunked_settlement(market, token, oracle, households, ended):
    seller, buyer, s, b, ordered = _auto_pair(market, households)
    first, second = ordered
    metered = {seller: (1_500, 500), buyer: (0, 700)}

    with ape.reverts(market.MarketIntervalNotOpen, intervalId=ended):
        market.closeInterval(ended, sender=oracle)
    # chunk 1: the first household and its own auto fill
    fill_1 = (0, 0, 700)
    market.settleChunk(ended, ROOT, [entry(first, *metered[first])], [fill_1], 100_000, sender=oracle)
    assert not market.isSettled(ended)
    with ape.reverts(market.MarketValueNotConserved, soldWh=700 if first == seller else 0):
        market.closeInterval(ended, sender=oracle)
    with ape.reverts(market.MarketChunkMismatch):
        market.settleChunk(ended, b"\x22" * 32, [entry(second, *metered[second])], [fill_1], 100_000, sender=oracle)
    with ape.reverts(market.MarketChunkMismatch):
        market.settleChunk(ended, ROOT, [entry(second, *metered[second])], [fill_1], 110_000, sender=oracle)
    with ape.reverts(market.MarketEntriesNotSorted, index=0, household=first):
        market.settleChunk(ended, ROOT, [entry(first, *metered[first])], [fill_1], 100_000, sender=oracle)
    market.settleChunk(ended, ROOT, [entry(second, *metered[second])], [fill_1], 100_000, sender=oracle)
    receipt = market.closeInterval(ended, sender=oracle)
    closing = receipt.events.filter(market.IntervalSettled)[0]
    assert (closing.tradedWh, closing.surplusWh, closing.coveredWh, closing.chunks) == (700, 1_000, 700, 2)
    assert market.getAccount(seller).balance == 70_000
    assert token.balanceOf(seller) == 300
    with ape.reverts(market.MarketIntervalAlreadySettled):
        market.closeInterval(ended, sender=oracle)


def _leaf(household, meter, interval_id, produced, consumed, readings_hash):
    from eth_abi import encode

    inner = keccak(
        encode(
            ["address", "address", "uint64", "uint64", "uint64", "bytes32"],
            [household, meter, interval_id, produced, consumed, readings_hash],
        )
    )
    return keccak(inner)


def test_verify_leaf_against_recorded_root(market, oracle, households, meters, ended):
    leaves = [
        _leaf(h.address, m.address, ended, 100 * i, 50, b"\x00" * 32)
        for i, (h, m) in enumerate(zip(households[:2], meters[:2], strict=True))
    ]
    a, b = sorted(leaves)
    root = keccak(a + b)  # OpenZeppelin's sorted-pair hashing
    assert not market.verifyLeaf(ended, leaves[0], [leaves[1]])  # no root yet
    market.settleInterval(ended, root, [], [], 0, sender=oracle)
    assert market.verifyLeaf(ended, leaves[0], [leaves[1]])
    assert market.verifyLeaf(ended, leaves[1], [leaves[0]])
    assert not market.verifyLeaf(ended, leaves[0], [leaves[0]])
    assert not market.verifyLeaf(ended, keccak(b"forged"), [leaves[1]])


# --- the solver and the contract together ----------------------------------


def _community(market, households, interval):
    """Auto orders for everyone, a resting bid and a resting ask: a small but full market."""
    for i, h in enumerate(households):
        market.setAutoSell(60_000 + 10_000 * i, sender=h)
        market.setAutoBuy(190_000 - 10_000 * i, sender=h)
        market.deposit(50 * EURO, sender=h)
    market.placeOrder(BID, 170_000, 2_500, interval, interval, sender=households[4])


@pytest.mark.parametrize("chunked", [False, True])
def test_solver_output_is_accepted_and_balances_match_bills(
    market, registry, token, euro, oracle, households, chain, interval, chunked
):
    _community(market, households, interval)
    advance_intervals(chain, 1)
    metered = {
        households[0]: (4_000, 1_000),
        households[1]: (2_500, 500),
        households[2]: (0, 1_200),
        households[3]: (300, 2_600),
        households[4]: (0, 900),
        households[5]: (1_000, 1_000),
    }
    clearing = solve(market, registry, token, households, interval, metered)
    assert clearing.fills and FEED_IN_PRICE <= clearing.clearing_price <= RETAIL_PRICE

    accounts_before = {h.address: market.getAccount(h).balance for h in households}
    wallets_before = {h.address: euro.balanceOf(h) for h in households}
    if chunked:
        orders = {o.order_id: o for o in chain_orders(market)}
        chunks = split_settlement(clearing, orders, gas_budget=40_000)
        assert len(chunks) > 1
        for chunk in chunks:
            market.settleChunk(
                interval,
                ROOT,
                [e.as_tuple() for e in chunk.entries],
                [f.as_tuple() for f in chunk.fills],
                clearing.clearing_price,
                sender=oracle,
            )
        receipt = market.closeInterval(interval, sender=oracle)
    else:
        receipt = market.settleInterval(*settle_args(clearing, ROOT), sender=oracle)

    closing = receipt.events.filter(market.IntervalSettled)[0]
    assert closing.clearingPrice == clearing.clearing_price
    assert closing.tradedWh == clearing.traded_wh
    owners = {o.order_id: o.owner for o in chain_orders(market)}
    for h in households:
        outcome = clearing.outcomes[h.address.lower()]
        account_change = market.getAccount(h).balance - accounts_before[h.address]
        wallet_change = euro.balanceOf(h) - wallets_before[h.address]
        # auto buys pay from the account; resting bids paid into escrow at placement
        resting_paid = sum(
            f.amount_wh * clearing.clearing_price // 1000
            for f in clearing.fills
            if f.order_id and owners[f.order_id] == h.address
        )
        assert account_change == outcome.received - (outcome.paid - resting_paid)
        assert wallet_change == 0
    history = {h.address.lower(): token.balanceOf(h) for h in households}
    for key, outcome in clearing.outcomes.items():
        if outcome.grid_import_wh:
            assert history[key] == 0  # held tokens went first
    settled = {e.household.lower(): e for e in receipt.events.filter(market.HouseholdSettled)}
    for key, outcome in clearing.outcomes.items():
        if key in settled:
            assert settled[key].gridImportWh == outcome.grid_import_wh
            assert settled[key].burnedWh == outcome.burned_wh
            assert settled[key].creditedWh == outcome.credited_wh


@pytest.mark.parametrize("count", [1, 5, 8])
def test_backend_merkle_proofs_verify_on_chain(market, oracle, households, meters, ended, count):
    """The oracle's tree (backend.protocol.merkle) is the one OpenZeppelin's MerkleProof checks."""
    from backend.protocol.merkle import Leaf, MerkleTree

    leaves = [
        Leaf(households[i % 6].address, meters[i % 6].address, ended, 100 * i, 7 * i, bytes([i]) * 32)
        for i in range(count)
    ]
    tree = MerkleTree([leaf.hash() for leaf in leaves])
    market.settleInterval(ended, tree.root, [], [], 0, sender=oracle)
    for leaf in leaves:
        assert market.verifyLeaf(ended, leaf.hash(), tree.proof(leaf.hash()))
    tampered = Leaf(**{**leaves[0].__dict__, "produced_wh": leaves[0].produced_wh + 1})
    assert not market.verifyLeaf(ended, tampered.hash(), tree.proof(leaves[0].hash()))
