"""The chain as an auditor sees it: settlement events, registry history, and state at a block.

Everything here comes from `eth_getLogs` over the deployment's contracts and
`eth_call` at a block number, on any JSON-RPC node: nothing from the
oracle's database. Logs are read once, from the deployment block to a fixed
head, in windows of `blocks_per_query` blocks (public nodes cap the range),
all contracts in one request per window (logs.py).

The orders the solver sees are always replayed from the events (OrderPlaced,
Filled, OrderClosed: event_state.py); reading them from state took one call
per order ever placed, per interval. What state is still read (accounts,
token balances, price bounds, totalSupply) travels in JSON-RPC batches for
many intervals at once (backend/chain/batch.py). Reading state at an old block needs
a node that keeps it (an archive node); where the node has pruned it (the
demo's Anvil keeps recent states only), accounts and balances are replayed
from the events too.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from web3 import Web3
from web3.exceptions import Web3Exception

from backend.audit.event_state import MarketHistory
from backend.audit.logs import read_logs
from backend.chain.batch import Call, call_many
from backend.chain.deploy import Deployment
from backend.chain.market_state import read_tariffs
from backend.market.orderbook import Account, RestingOrder, Side, Tariffs
from backend.protocol.readings import to_checksum

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_BLOCKS_PER_QUERY = 10_000
DEFAULT_CALLS_PER_BATCH = 100


@dataclass(frozen=True)
class SettledEntry:
    """One HouseholdSettled event."""

    household: str
    produced_wh: int
    consumed_wh: int
    credited_wh: int
    burned_wh: int
    grid_import_wh: int


@dataclass(frozen=True)
class SettledFill:
    """One Filled event: order 0 is the household's auto order."""

    order_id: int
    household: str
    side: Side
    amount_wh: int
    value: int


@dataclass
class SettledInterval:
    """Everything the chain says about one interval's settlement."""

    interval_id: int
    entries: list[SettledEntry] = field(default_factory=list)
    fills: list[SettledFill] = field(default_factory=list)
    tx_positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx hash -> (block, tx index)
    chunks_seen: int = 0
    # from IntervalSettled; None until the interval is closed
    closed_block: int | None = None
    readings_root: bytes = b""
    clearing_price: int = 0
    surplus_wh: int = 0
    covered_wh: int = 0
    traded_wh: int = 0
    grid_import_wh: int = 0
    chunks: int = 0

    @property
    def closed(self) -> bool:
        return self.closed_block is not None

    @property
    def tx_hashes(self) -> list[str]:
        """The settlement's transactions in chain order, lower-case 0x hex."""
        return sorted(self.tx_positions, key=self.tx_positions.__getitem__)

    @property
    def first_position(self) -> tuple[int, int]:
        """(block, transaction index) of the first settlement transaction."""
        return min(self.tx_positions.values())

    @property
    def first_block(self) -> int:
        return self.first_position[0]

    def record_position(self, log) -> None:
        """Note the transaction of one of this settlement's logs."""
        tx_hash = log["transactionHash"]
        tx_hash = (tx_hash if isinstance(tx_hash, str) else Web3.to_hex(tx_hash)).lower()
        self.tx_positions[tx_hash] = (log["blockNumber"], log["transactionIndex"])


@dataclass(frozen=True)
class MeterAssignment:
    """A meter registered to a household from one block until it was replaced."""

    household: str
    from_block: int
    until_block: int | None  # the block of the MeterReplaced that retired it


@dataclass(frozen=True)
class MarketInputs:
    """The solver's inputs, as they stood on-chain at one block."""

    block: int
    orders: list[RestingOrder]
    accounts: dict[str, Account]
    token_balances: dict[str, int]
    tariffs: Tariffs
    # accounts and balances: "state": eth_call at the block; "events": replayed from the logs (state pruned).
    # The orders come from the events either way.
    source: str = "state"


class StateUnavailable(Web3Exception):
    """The node answered none of the reads (not even at the head)."""


def _bounds(bounds: tuple) -> Tariffs:
    feed_in, retail = bounds
    return Tariffs(retail_price=retail, feed_in_price=feed_in)


class ChainView:
    """Reads the logs once; answers per interval and per block."""

    def __init__(
        self,
        web3: Web3,
        deployment: Deployment,
        head: int | None = None,
        blocks_per_query: int = DEFAULT_BLOCKS_PER_QUERY,
        calls_per_batch: int = DEFAULT_CALLS_PER_BATCH,
    ):
        self.web3 = web3
        self.deployment = deployment
        self.market = deployment.contract(web3, "EnergyMarket")
        self.token = deployment.contract(web3, "EnergyToken")
        self.registry = deployment.contract(web3, "CommunityRegistry")
        self.head = web3.eth.block_number if head is None else head
        self.blocks_per_query = blocks_per_query
        self.calls_per_batch = calls_per_batch
        self.interval_seconds = self.registry.functions.intervalSeconds().call(block_identifier=self.head)
        contracts = {"EnergyMarket": self.market, "EnergyToken": self.token, "CommunityRegistry": self.registry}
        self._all_logs = read_logs(web3, contracts, deployment.deploy_block, self.head, blocks_per_query)

        self.intervals: dict[int, SettledInterval] = {}
        # (block, Wh) deltas of token supply that settlements account for, and that Transfer logs show
        self._settlement_deltas: list[tuple[int, int]] = []
        self._transfer_deltas: list[tuple[int, int]] = []
        self._settled_intervals_of: dict[str, list[int]] = defaultdict(list)  # household -> interval ids
        self._assignments: dict[str, list[MeterAssignment]] = defaultdict(list)  # meter -> history
        self._block_timestamps: dict[int, int] = {}
        self._filled_logs: list = []
        self._history: MarketHistory | None = None
        # (block, households, interval id) -> state read there, or None where the node no longer has it
        self._inputs_read: dict[tuple[int, tuple[str, ...], int | None], tuple | None] = {}
        self._supply_read: dict[int, int | None] = {}
        self._head_bounds: dict[int, Tariffs] = {}  # interval id -> its price bounds read at the head

        self._load_settlements()
        self._load_registry()
        self._load_supply()
        self._transfer_supply = _running_totals(self._transfer_deltas)
        self._settlement_supply = _running_totals(self._settlement_deltas)
        self._closed_intervals_of = {
            household: sorted({i for i in ids if self.intervals[i].closed})
            for household, ids in self._settled_intervals_of.items()
        }

    # --- loading ---------------------------------------------------------

    def _logs(self, contract: str, event: str) -> list:
        return self._all_logs.get((contract, event), [])

    def _interval(self, interval_id: int) -> SettledInterval:
        if interval_id not in self.intervals:
            self.intervals[interval_id] = SettledInterval(interval_id)
        return self.intervals[interval_id]

    def _load_settlements(self) -> None:
        for log in self._logs("EnergyMarket", "HouseholdSettled"):
            args = log["args"]
            interval = self._interval(args["intervalId"])
            interval.record_position(log)
            household = to_checksum(args["household"])
            interval.entries.append(
                SettledEntry(
                    household,
                    args["producedWh"],
                    args["consumedWh"],
                    args["creditedWh"],
                    args["burnedWh"],
                    args["gridImportWh"],
                )
            )
            self._settled_intervals_of[household.lower()].append(args["intervalId"])
            self._settlement_deltas.append((log["blockNumber"], args["creditedWh"] - args["burnedWh"]))
        self._filled_logs = self._logs("EnergyMarket", "Filled")
        for log in self._filled_logs:
            args = log["args"]
            interval = self._interval(args["intervalId"])
            interval.record_position(log)
            side = Side(args["side"])
            interval.fills.append(
                SettledFill(args["orderId"], to_checksum(args["household"]), side, args["amountWh"], args["value"])
            )
            if args["orderId"] != 0:
                # a resting bid's buyer is minted its tokens; a resting ask's escrowed tokens are burned
                delta = args["amountWh"] if side == Side.BID else -args["amountWh"]
                self._settlement_deltas.append((log["blockNumber"], delta))
        for log in self._logs("EnergyMarket", "ChunkSettled"):
            interval = self._interval(log["args"]["intervalId"])
            interval.record_position(log)
            interval.chunks_seen += 1
        for log in self._logs("EnergyMarket", "IntervalSettled"):
            args = log["args"]
            interval = self._interval(args["intervalId"])
            interval.record_position(log)
            interval.closed_block = log["blockNumber"]
            interval.readings_root = bytes(args["readingsRoot"])
            interval.clearing_price = args["clearingPrice"]
            interval.surplus_wh = args["surplusWh"]
            interval.covered_wh = args["coveredWh"]
            interval.traded_wh = args["tradedWh"]
            interval.grid_import_wh = args["gridImportWh"]
            interval.chunks = args["chunks"]

    def _load_registry(self) -> None:
        logs = self._logs("CommunityRegistry", "HouseholdRegistered") + self._logs("CommunityRegistry", "MeterReplaced")
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            household = to_checksum(args["household"])
            if log["event"] == "HouseholdRegistered":
                self._assignments[args["meter"].lower()].append(MeterAssignment(household, log["blockNumber"], None))
                continue
            history = self._assignments[args["oldMeter"].lower()]
            if history and history[-1].until_block is None:
                last = history[-1]
                history[-1] = MeterAssignment(last.household, last.from_block, log["blockNumber"])
            self._assignments[args["newMeter"].lower()].append(MeterAssignment(household, log["blockNumber"], None))

    def _load_supply(self) -> None:
        for log in self._logs("EnergyToken", "Transfer"):
            args = log["args"]
            if int(args["from"], 16) == 0:
                self._transfer_deltas.append((log["blockNumber"], args["value"]))
            if int(args["to"], 16) == 0:
                self._transfer_deltas.append((log["blockNumber"], -args["value"]))

    # --- questions ---------------------------------------------------------

    def settled_interval_ids(self) -> list[int]:
        """Intervals closed on-chain (IntervalSettled seen), ascending."""
        return sorted(i for i, interval in self.intervals.items() if interval.closed)

    def open_interval_ids(self) -> list[int]:
        """Intervals with settlement chunks but no closeInterval yet."""
        return sorted(i for i, interval in self.intervals.items() if not interval.closed)

    def intervals_settled_for(self, household: str, after: int, before: int) -> list[int]:
        """Closed intervals strictly between `after` and `before` in which the household had an entry."""
        ids = self._closed_intervals_of.get(household.lower(), [])
        return ids[bisect_right(ids, after) : bisect_left(ids, before)]

    def meter_assignments(self, meter: str, up_to_block: int) -> list[MeterAssignment]:
        """The meter's registrations that had begun by `up_to_block`."""
        return [a for a in self._assignments.get(meter.lower(), []) if a.from_block <= up_to_block]

    def block_timestamp(self, block: int) -> int:
        if block not in self._block_timestamps:
            self._block_timestamps[block] = self.web3.eth.get_block(block)["timestamp"]
        return self._block_timestamps[block]

    def market_inputs(self, block: int, households: list[str], interval_id: int | None = None) -> MarketInputs:
        """Orders (from the events), the households' accounts and token balances, and the tariffs (the
        price bounds of `interval_id`'s band) at `block`."""
        key = (block, tuple(households), interval_id)
        if key not in self._inputs_read:
            self.prefetch([key])
        read = self._inputs_read[key]
        if read is None:  # the node no longer keeps that block's state
            return self.market_inputs_from_events(block, households, interval_id)
        accounts, balances, tariffs = read
        return MarketInputs(
            block=block,
            orders=self.market_history().orders_at(block),
            accounts=accounts,
            token_balances=balances,
            tariffs=tariffs,
        )

    def prefetch(self, inputs: list[tuple[int, tuple[str, ...], int | None]], supply_blocks: list[int] = ()) -> None:
        """Reads, in batches, the state `market_inputs` (block, households, interval id) and
        `total_supply_at` (blocks) will ask for; what the node cannot answer is remembered as missing."""
        calls: list[Call] = []
        for block, households, interval_id in inputs:
            calls += [Call(self.market, "getAccount", (h,), block) for h in households]
            calls += [Call(self.token, "balanceOf", (h,), block) for h in households]
            if interval_id is not None:
                calls.append(Call(self.registry, "priceBounds", (interval_id,), block))
        calls += [Call(self.token, "totalSupply", (), block) for block in supply_blocks]
        results = iter(call_many(self.web3, calls, self.calls_per_batch))
        pruned = []
        for block, households, interval_id in inputs:
            accounts = [next(results) for _ in households]
            balances = [next(results) for _ in households]
            bounds = next(results) if interval_id is not None else ()
            if any(r is None for r in (*accounts, *balances, bounds)):
                self._inputs_read[(block, households, interval_id)] = None
                pruned.append(interval_id)
                continue
            self._inputs_read[(block, households, interval_id)] = (
                {
                    h: Account(balance=a[0][0], auto_sell_price=a[0][1], auto_buy_price=a[0][2])  # one struct
                    for h, a in zip(households, accounts, strict=True)
                },
                {h: b[0] for h, b in zip(households, balances, strict=True)},
                read_tariffs(self.registry, block) if interval_id is None else _bounds(bounds),
            )
        for block in supply_blocks:
            total = next(results)
            self._supply_read[block] = None if total is None else total[0]
        # Where the state is pruned, a settled interval's price bounds are read at the head (they are fixed
        # once its day began): in one batch as well.
        wanted = sorted({i for i in pruned if i is not None and i not in self._head_bounds})
        calls = [Call(self.registry, "priceBounds", (i,), self.head) for i in wanted]
        for interval_id, bounds in zip(wanted, call_many(self.web3, calls, self.calls_per_batch), strict=True):
            if bounds is not None:
                self._head_bounds[interval_id] = _bounds(bounds)

    def prefetch_intervals(self, interval_ids: list[int]) -> None:
        """Everything the per-interval checks read from state, for these settled intervals at once."""
        inputs = []
        for interval_id in interval_ids:
            settled = self.intervals[interval_id]
            inputs.append((settled.first_block - 1, tuple(e.household for e in settled.entries), interval_id))
        supply = [self.intervals[i].closed_block for i in interval_ids] + [self.head]
        self.prefetch(inputs, supply)

    def market_inputs_from_events(self, block: int, households: list[str], interval_id: int | None) -> MarketInputs:
        """The same inputs replayed from the logs up to `block`; the tariff bounds of a settled interval
        are fixed once its day began, so they are read at the head."""
        history = self.market_history()
        return MarketInputs(
            block=block,
            orders=history.orders_at(block),
            accounts=history.accounts_at(block, households),
            token_balances=history.token_balances_at(block, households),
            tariffs=self._head_bounds.get(interval_id) or read_tariffs(self.registry, self.head, interval_id),
            source="events",
        )

    def market_history(self) -> MarketHistory:
        if self._history is None:
            self._history = MarketHistory(
                placed_logs=self._logs("EnergyMarket", "OrderPlaced"),
                closed_logs=self._logs("EnergyMarket", "OrderClosed"),
                filled_logs=self._filled_logs,
                auto_logs=self._logs("EnergyMarket", "AutoOrderSet"),
                deposit_logs=self._logs("EnergyMarket", "Deposited"),
                withdraw_logs=self._logs("EnergyMarket", "Withdrawn"),
                transfer_logs=self._logs("EnergyToken", "Transfer"),
            )
        return self._history

    def total_supply_at(self, block: int) -> tuple[int, int]:
        """(block read, totalSupply there): at `block`, or at the head when the node pruned that state."""
        for at in (block, self.head):
            if at not in self._supply_read:
                self.prefetch([], [at])
            if self._supply_read[at] is not None:
                return at, self._supply_read[at]
        raise StateUnavailable(f"the node answers no totalSupply at block {block} nor at the head {self.head}")

    def minted_minus_burned_through(self, block: int) -> int:
        """Sum of mints minus burns (Transfer from/to the zero address) up to and including `block`."""
        return _sum_through(self._transfer_supply, block)

    def settled_supply_through(self, block: int) -> int:
        """The supply settlements account for up to `block`: credited surplus plus tokens
        bought by resting bids, minus burned deficits and tokens sold by resting asks."""
        return _sum_through(self._settlement_supply, block)

    def transactions_before_in_block(self, block: int, tx_index: int) -> list[dict]:
        """The block's transactions that ran before `tx_index`, to the community's contracts."""
        watched = {self.deployment.address(name).lower() for name in self.deployment.contracts}
        transactions = self.web3.eth.get_block(block, full_transactions=True)["transactions"][:tx_index]
        return [tx for tx in transactions if (tx.get("to") or "").lower() in watched]


def _running_totals(deltas: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """(blocks ascending, running total after each): per-block sums answered by bisection."""
    blocks, totals, total = [], [], 0
    for block, delta in sorted(deltas):
        total += delta
        blocks.append(block)
        totals.append(total)
    return blocks, totals


def _sum_through(running: tuple[list[int], list[int]], block: int) -> int:
    blocks, totals = running
    index = bisect_right(blocks, block)
    return totals[index - 1] if index else 0
