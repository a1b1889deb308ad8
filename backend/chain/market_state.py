"""Reading the market's on-chain state into the solver's types (web3.py).

The oracle clears each interval from this, and auditors re-run the solver on
it: nothing comes from the backend's database.

Orders, accounts and token balances are read in JSON-RPC batches of eth_call
pinned to one block number (batch.py): at 10,000 households and a long order
history, one request per value made the settler's reads grow past its time
budget. A settler process keeps a MarketReader between settlements: it
remembers the orders it has read closed, so that each settlement reads only
the orders that were still open (see ClosedOrders), and the batch size the
node takes.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from backend.chain.batch import DEFAULT_CALLS_PER_BATCH, Batcher, Call
from backend.market.orderbook import Account, RestingOrder, Side, Tariffs


class ClosedOrders:
    """Orders one process has read closed, with the block they were read at (number and hash).

    Closing is final on-chain: EnergyMarket sets `open = false` only in
    _closeAndRefund (cancel, reclaim), which reverts on a closed order;
    `open = true` only in placeOrder, on a new id; and a fill reverts on a
    closed order. So an order read closed at block A is, field for field, the
    same at any later block B of the same chain, and need not be read again.

    Two things would make that false, and both are checked:
      * a read for a block below A (a re-plan pinned to an older block): the
        cache is not used for it (nor updated);
      * a reorg that replaced block A: after reading at B, the hash of block
        A is asked again; if it changed, everything is forgotten and the
        orders are read again in full. Block B's own hash is asked before and
        after the reads, and the cache moves to B only if it held.
    It lives in memory: a fresh process starts empty and reads everything once.
    """

    def __init__(self) -> None:
        self.market: str | None = None
        self.orders: dict[int, RestingOrder] = {}
        self.block: int | None = None
        self.block_hash: bytes | None = None

    def usable_at(self, market: str, block: int) -> dict[int, RestingOrder]:
        """The remembered closed orders a read at `block` may take (before checking A's hash)."""
        if self.market is None:
            self.market = market
        elif self.market != market:
            raise ValueError(f"this cache holds the orders of market {self.market}, not of {market}")
        if self.block is None or self.block > block:
            return {}
        return self.orders

    def forget(self) -> None:
        self.orders, self.block, self.block_hash = {}, None, None

    def remember(self, orders: list[RestingOrder], block: int, block_hash: bytes) -> None:
        self.orders = {order.order_id: order for order in orders if not order.open}
        self.block, self.block_hash = block, block_hash


class MarketReader:
    """Batched reads of the market at one block; with `remember_closed`, orders read closed are kept
    (ClosedOrders) for the next reads of this reader. One reader per settler process, one thread at a time."""

    def __init__(
        self, web3: Web3, calls_per_batch: int = DEFAULT_CALLS_PER_BATCH, remember_closed: bool = True
    ) -> None:
        self.web3 = web3
        self.batcher = Batcher(web3, calls_per_batch)
        self.closed = ClosedOrders() if remember_closed else None
        self.order_reads = 0  # getOrder calls sent: what the cache saves shows here

    def orders(self, market: Contract, block: int) -> list[RestingOrder]:
        """Every order ever placed (ids 1..nextOrderId-1) as it stands at `block`, open or not."""
        if self.closed is None:
            return self._read_orders(market, block, {})
        known = self.closed.usable_at(market.address, block)
        before = self._hash_of(block)
        orders = self._read_orders(market, block, known)
        if known and self._hash_of(self.closed.block) != self.closed.block_hash:
            # the block the cache was read at is no longer in the chain: read everything again
            self.closed.forget()
            orders = self._read_orders(market, block, {})
        if (self.closed.block is None or block >= self.closed.block) and self._hash_of(block) == before:
            self.closed.remember(orders, block, before)
        return orders

    def accounts(self, market: Contract, households: Iterable[str], block: int) -> dict[str, Account]:
        households = list(households)
        read = self.batcher.call_all([Call(market, "getAccount", (h,), block) for h in households])
        return {h: Account(*account) for h, (account,) in zip(households, read, strict=True)}

    def token_balances(self, token: Contract, households: Iterable[str], block: int) -> dict[str, int]:
        households = list(households)
        read = self.batcher.call_all([Call(token, "balanceOf", (h,), block) for h in households])
        return {h: balance for h, (balance,) in zip(households, read, strict=True)}

    def _read_orders(self, market: Contract, block: int, known: dict[int, RestingOrder]) -> list[RestingOrder]:
        [(next_id,)] = self.batcher.call_all([Call(market, "nextOrderId", (), block)])
        wanted = [order_id for order_id in range(1, next_id) if order_id not in known]
        self.order_reads += len(wanted)
        read = self.batcher.call_all([Call(market, "getOrder", (order_id,), block) for order_id in wanted])
        fresh = {order_id: _order(order_id, fields) for order_id, (fields,) in zip(wanted, read, strict=True)}
        return [known[order_id] if order_id in known else fresh[order_id] for order_id in range(1, next_id)]

    def _hash_of(self, block: int) -> bytes:
        return bytes(self.web3.eth.get_block(block)["hash"])


def _order(order_id: int, fields: tuple) -> RestingOrder:
    owner, valid_from, valid_to, side, is_open, amount, filled, limit, escrow = fields
    return RestingOrder(
        order_id=order_id,
        owner=to_checksum_address(owner),
        side=Side(side),
        limit_price=limit,
        amount_wh=amount,
        filled_wh=filled,
        escrow=escrow,
        valid_from=valid_from,
        valid_to=valid_to,
        open=is_open,
    )


def block_number(web3: Web3, block: int | str) -> int:
    return block if isinstance(block, int) else web3.eth.get_block(block)["number"]


def read_orders(market: Contract, block: int | str = "latest") -> list[RestingOrder]:
    """Every order ever placed (ids 1..nextOrderId-1), open or not, read in full (no cache)."""
    return MarketReader(market.w3, remember_closed=False).orders(market, block_number(market.w3, block))


def read_accounts(market: Contract, households: Iterable[str], block: int | str = "latest") -> dict[str, Account]:
    return MarketReader(market.w3, remember_closed=False).accounts(market, households, block_number(market.w3, block))


def read_token_balances(token: Contract, households: Iterable[str], block: int | str = "latest") -> dict[str, int]:
    reader = MarketReader(token.w3, remember_closed=False)
    return reader.token_balances(token, households, block_number(token.w3, block))


def read_common_bounds(registry: Contract, block: int | str = "latest") -> Tariffs:
    """The price range inside every band of the newest tariff version: the highest feed-in bound and
    the lowest retail bound. An interval-free limit (an auto order) chosen in it is valid, and can
    trade, in whichever band an interval falls."""
    count = registry.functions.tariffVersionCount().call(block_identifier=block)
    version = count - 1
    band_count = registry.functions.tariffVersion(version).call(block_identifier=block)[2]
    bounds = [registry.functions.bandBounds(version, band).call(block_identifier=block) for band in range(band_count)]
    return Tariffs(retail_price=min(b[1] for b in bounds), feed_in_price=max(b[0] for b in bounds))


def read_tariffs(registry: Contract, block: int | str = "latest", interval_id: int | None = None) -> Tariffs:
    """The price bounds of `interval_id`'s tariff band (CommunityRegistry.priceBounds), or of the
    current interval's when None."""
    if interval_id is None:
        return Tariffs(
            retail_price=registry.functions.retailPrice().call(block_identifier=block),
            feed_in_price=registry.functions.feedInPrice().call(block_identifier=block),
        )
    feed_in, retail = registry.functions.priceBounds(interval_id).call(block_identifier=block)
    return Tariffs(retail_price=retail, feed_in_price=feed_in)
