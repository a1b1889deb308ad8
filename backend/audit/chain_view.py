"""The chain as an auditor sees it: settlement events, registry history, and state at a block.

Everything here comes from `eth_getLogs` over the deployment's contracts and
`eth_call` at a block number, on any JSON-RPC node: nothing from the
oracle's database. Logs are read once, from the deployment block to a fixed
head, in windows of `blocks_per_query` blocks (public nodes cap the range).
Reading state at an old block needs a node that keeps it (an archive node);
where the node has pruned it (the demo's Anvil keeps recent states only), the
solver's inputs are replayed from the events instead (event_state.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from web3 import Web3
from web3.exceptions import Web3Exception

from backend.audit.event_state import MarketHistory
from backend.chain.deploy import Deployment
from backend.chain.market_state import read_accounts, read_orders, read_tariffs, read_token_balances
from backend.market.orderbook import Account, RestingOrder, Side, Tariffs

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_BLOCKS_PER_QUERY = 10_000


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
        tx_hash = Web3.to_hex(log["transactionHash"]).lower()
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
    source: str = "state"  # "state": eth_call at the block; "events": replayed from the logs (state pruned)


class ChainView:
    """Reads the logs once; answers per interval and per block."""

    def __init__(
        self,
        web3: Web3,
        deployment: Deployment,
        head: int | None = None,
        blocks_per_query: int = DEFAULT_BLOCKS_PER_QUERY,
    ):
        self.web3 = web3
        self.deployment = deployment
        self.market = deployment.contract(web3, "EnergyMarket")
        self.token = deployment.contract(web3, "EnergyToken")
        self.registry = deployment.contract(web3, "CommunityRegistry")
        self.head = web3.eth.block_number if head is None else head
        self.blocks_per_query = blocks_per_query
        self.interval_seconds = self.registry.functions.intervalSeconds().call(block_identifier=self.head)

        self.intervals: dict[int, SettledInterval] = {}
        # (block, Wh) deltas of token supply that settlements account for, and that Transfer logs show
        self._settlement_deltas: list[tuple[int, int]] = []
        self._transfer_deltas: list[tuple[int, int]] = []
        self._settled_intervals_of: dict[str, list[int]] = defaultdict(list)  # household -> interval ids
        self._assignments: dict[str, list[MeterAssignment]] = defaultdict(list)  # meter -> history
        self._block_timestamps: dict[int, int] = {}
        self._filled_logs: list = []
        self._history: MarketHistory | None = None

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

    def _logs(self, event, argument_filters: dict | None = None) -> list:
        logs = []
        start = self.deployment.deploy_block
        while start <= self.head:
            end = min(start + self.blocks_per_query - 1, self.head)
            logs += event.get_logs(from_block=start, to_block=end, argument_filters=argument_filters)
            start = end + 1
        return sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))

    def _interval(self, interval_id: int) -> SettledInterval:
        if interval_id not in self.intervals:
            self.intervals[interval_id] = SettledInterval(interval_id)
        return self.intervals[interval_id]

    def _load_settlements(self) -> None:
        events = self.market.events
        for log in self._logs(events.HouseholdSettled):
            args = log["args"]
            interval = self._interval(args["intervalId"])
            interval.record_position(log)
            household = Web3.to_checksum_address(args["household"])
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
        self._filled_logs = self._logs(events.Filled)
        for log in self._filled_logs:
            args = log["args"]
            interval = self._interval(args["intervalId"])
            interval.record_position(log)
            side = Side(args["side"])
            interval.fills.append(
                SettledFill(
                    args["orderId"], Web3.to_checksum_address(args["household"]), side, args["amountWh"], args["value"]
                )
            )
            if args["orderId"] != 0:
                # a resting bid's buyer is minted its tokens; a resting ask's escrowed tokens are burned
                delta = args["amountWh"] if side == Side.BID else -args["amountWh"]
                self._settlement_deltas.append((log["blockNumber"], delta))
        for log in self._logs(events.ChunkSettled):
            interval = self._interval(log["args"]["intervalId"])
            interval.record_position(log)
            interval.chunks_seen += 1
        for log in self._logs(events.IntervalSettled):
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
        events = self.registry.events
        logs = self._logs(events.HouseholdRegistered) + self._logs(events.MeterReplaced)
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            household = Web3.to_checksum_address(args["household"])
            if log["event"] == "HouseholdRegistered":
                self._assignments[args["meter"].lower()].append(MeterAssignment(household, log["blockNumber"], None))
                continue
            history = self._assignments[args["oldMeter"].lower()]
            if history and history[-1].until_block is None:
                last = history[-1]
                history[-1] = MeterAssignment(last.household, last.from_block, log["blockNumber"])
            self._assignments[args["newMeter"].lower()].append(MeterAssignment(household, log["blockNumber"], None))

    def _load_supply(self) -> None:
        transfer = self.token.events.Transfer
        for log in self._logs(transfer, {"from": ZERO_ADDRESS}):
            self._transfer_deltas.append((log["blockNumber"], log["args"]["value"]))
        for log in self._logs(transfer, {"to": ZERO_ADDRESS}):
            self._transfer_deltas.append((log["blockNumber"], -log["args"]["value"]))

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
        """Orders, the households' accounts and token balances, and the tariffs (the price bounds of
        `interval_id`'s band) at `block`."""
        try:
            return MarketInputs(
                block=block,
                orders=read_orders(self.market, block),
                accounts=read_accounts(self.market, households, block),
                token_balances=read_token_balances(self.token, households, block),
                tariffs=read_tariffs(self.registry, block, interval_id),
            )
        except Web3Exception:  # the node no longer keeps that block's state
            return self.market_inputs_from_events(block, households, interval_id)

    def market_inputs_from_events(self, block: int, households: list[str], interval_id: int | None) -> MarketInputs:
        """The same inputs replayed from the logs up to `block`; the tariff bounds of a settled interval
        are fixed once its day began, so they are read at the head."""
        history = self.market_history()
        return MarketInputs(
            block=block,
            orders=history.orders_at(block),
            accounts=history.accounts_at(block, households),
            token_balances=history.token_balances_at(block, households),
            tariffs=read_tariffs(self.registry, self.head, interval_id),
            source="events",
        )

    def market_history(self) -> MarketHistory:
        if self._history is None:
            events = self.market.events
            self._history = MarketHistory(
                placed_logs=self._logs(events.OrderPlaced),
                closed_logs=self._logs(events.OrderClosed),
                filled_logs=self._filled_logs,
                auto_logs=self._logs(events.AutoOrderSet),
                deposit_logs=self._logs(events.Deposited),
                withdraw_logs=self._logs(events.Withdrawn),
                transfer_logs=self._logs(self.token.events.Transfer),
            )
        return self._history

    def total_supply_at(self, block: int) -> tuple[int, int]:
        """(block read, totalSupply there): at `block`, or at the head when the node pruned that state."""
        try:
            return block, self.token.functions.totalSupply().call(block_identifier=block)
        except Web3Exception:
            return self.head, self.token.functions.totalSupply().call(block_identifier=self.head)

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
