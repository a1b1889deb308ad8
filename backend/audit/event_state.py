"""The solver's inputs at an old block, replayed from the market's and the token's events.

A node that keeps only recent states (the demo's Anvil prunes its history to
bound its state file) cannot answer `eth_call` at the block before an old
settlement. Every storage write the solver reads is announced by an event, so
the same inputs follow from the logs up to that block:

  * orders: OrderPlaced (every immutable field and the bid's escrow), minus
    each Filled of the order (Wh filled; a bid's escrow pays the fill's value),
    closed by OrderClosed (a bid's escrow refunded to 0);
  * accounts: Deposited and Withdrawn; auto fills (Filled with order 0) add a
    sale's value and take a purchase's; a resting ask's fill pays its owner;
    the auto prices are the last AutoOrderSet per side;
  * token balances: every Transfer to and from the household.

The tariff bounds of a settled interval never change once its day started,
so they are read at the newest block. When the node still has the state, the
audit reads it instead (ChainView.market_inputs); tests hold both equal.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from itertools import accumulate

from backend.market.orderbook import Account, RestingOrder, Side
from backend.protocol.readings import to_checksum


@dataclass(frozen=True)
class _Placed:
    block: int
    order: RestingOrder  # as placed: nothing filled, open


class MarketHistory:
    """Answers orders, accounts and token balances at any block from the given logs (sorted by
    block and log index), read once by ChainView."""

    def __init__(self, placed_logs, closed_logs, filled_logs, auto_logs, deposit_logs, withdraw_logs, transfer_logs):
        self._placed: list[_Placed] = []
        for log in placed_logs:
            args = log["args"]
            order = RestingOrder(
                order_id=args["orderId"],
                owner=to_checksum(args["owner"]),
                side=Side(args["side"]),
                limit_price=args["limitPrice"],
                amount_wh=args["amountWh"],
                filled_wh=0,
                escrow=args["escrow"],
                valid_from=args["validFrom"],
                valid_to=args["validTo"],
                open=True,
            )
            self._placed.append(_Placed(log["blockNumber"], order))
        self._closed = {log["args"]["orderId"]: log["blockNumber"] for log in closed_logs}
        self._order_fills: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # order -> (block, Wh, value)
        # household -> [(block, euro delta)] and [(block, side, limit)]
        self._balance_deltas: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._auto_prices: dict[str, list[tuple[int, Side, int]]] = defaultdict(list)
        self._token_deltas: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for log in filled_logs:
            args, block = log["args"], log["blockNumber"]
            household, side = args["household"].lower(), Side(args["side"])
            if args["orderId"]:
                self._order_fills[args["orderId"]].append((block, args["amountWh"], args["value"]))
                if side == Side.ASK:  # a resting ask's buyer pays into its owner's account
                    self._balance_deltas[household].append((block, args["value"]))
            else:
                self._balance_deltas[household].append((block, args["value"] if side == Side.ASK else -args["value"]))
        for log in deposit_logs:
            self._balance_deltas[log["args"]["household"].lower()].append((log["blockNumber"], log["args"]["amount"]))
        for log in withdraw_logs:
            self._balance_deltas[log["args"]["household"].lower()].append((log["blockNumber"], -log["args"]["amount"]))
        for log in auto_logs:
            args = log["args"]
            price = (log["blockNumber"], Side(args["side"]), args["limitPrice"])
            self._auto_prices[args["household"].lower()].append(price)
        for log in transfer_logs:
            args, block = log["args"], log["blockNumber"]
            self._token_deltas[args["from"].lower()].append((block, -args["value"]))
            self._token_deltas[args["to"].lower()].append((block, args["value"]))
        # Asked once per settled interval: running totals answer by bisection, not by a walk of the history.
        self._placed_blocks = [placed.block for placed in self._placed]  # logs come in chain order
        self._fill_totals = {order: _Running(fills) for order, fills in self._order_fills.items()}
        self._balances = {key: _Running(deltas) for key, deltas in self._balance_deltas.items()}
        self._tokens = {key: _Running(deltas) for key, deltas in self._token_deltas.items()}

    def orders_at(self, block: int) -> list[RestingOrder]:
        """Every order placed up to `block` (as read_orders gives them), with its fills and closing by then."""
        orders = []
        for placed in self._placed[: bisect_right(self._placed_blocks, block)]:
            order = placed.order
            fills = self._fill_totals.get(order.order_id)
            filled_wh, paid = fills.through(block) if fills is not None else (0, 0)
            escrow = order.escrow - paid if order.side == Side.BID else order.escrow
            closed_at = self._closed.get(order.order_id)
            is_open = closed_at is None or closed_at > block
            if not is_open and order.side == Side.BID:
                escrow = 0
            orders.append(
                RestingOrder(
                    order_id=order.order_id,
                    owner=order.owner,
                    side=order.side,
                    limit_price=order.limit_price,
                    amount_wh=order.amount_wh,
                    filled_wh=filled_wh,
                    escrow=escrow,
                    valid_from=order.valid_from,
                    valid_to=order.valid_to,
                    open=is_open,
                )
            )
        return sorted(orders, key=lambda o: o.order_id)

    def accounts_at(self, block: int, households: list[str]) -> dict[str, Account]:
        result = {}
        for household in households:
            key = household.lower()
            running = self._balances.get(key)
            balance = running.through(block)[0] if running is not None else 0
            prices = {Side.ASK: 0, Side.BID: 0}
            for price_block, side, limit in self._auto_prices.get(key, []):
                if price_block <= block:
                    prices[side] = limit
            result[household] = Account(
                balance=balance, auto_sell_price=prices[Side.ASK], auto_buy_price=prices[Side.BID]
            )
        return result

    def token_balances_at(self, block: int, households: list[str]) -> dict[str, int]:
        result = {}
        for household in households:
            running = self._tokens.get(household.lower())
            result[household] = running.through(block)[0] if running is not None else 0
        return result


class _Running:
    """Sums of (block, value, ...) deltas through any block, by bisection."""

    def __init__(self, deltas: list[tuple[int, ...]]):
        ordered = sorted(deltas, key=lambda delta: delta[0])
        self.blocks = [delta[0] for delta in ordered]
        width = len(ordered[0]) - 1 if ordered else 1
        self.totals = list(
            accumulate(
                ordered, lambda total, d: tuple(t + v for t, v in zip(total, d[1:], strict=True)), initial=(0,) * width
            )
        )

    def through(self, block: int) -> tuple[int, ...]:
        return self.totals[bisect_right(self.blocks, block)]
