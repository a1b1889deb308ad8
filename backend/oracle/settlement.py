"""Planning the settlement of a closed interval: solver, chunks, outbox rows.

A plan turns one closed interval (its entries and readings root, written by
the closing step) plus the market's on-chain state at one block into the
exact calls that settle it, stored as ``settlement_outbox`` rows:

  * one ``settle_interval`` row (chunk 0) when everything fits one transaction;
  * else ``settle_chunk`` rows 0..n-1 and a ``close_interval`` row (chunk n).

The rows are the write-ahead record of what the oracle will send;
``backend.oracle.outbox.OutboxSender`` sends them. Payloads are JSON: every
integer call argument is a decimal string (uint256 does not fit JSON numbers
everywhere), addresses are EIP-55 and the root is 0x hex. Planning is
idempotent (an interval that has rows is left alone), and ``replan`` starts
over when the chain changed under a plan that nothing was confirmed from yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from backend.chain.deploy import Deployment
from backend.chain.market_state import MarketReader, read_tariffs
from backend.db.models import Interval, IntervalEntry, OutboxStatus, SettlementOutbox
from backend.market.chunking import CHUNK_GAS_BUDGET, split_settlement
from backend.market.orderbook import Account, Clearing, Fill, MeteredEntry, RestingOrder, Tariffs
from backend.market.solver import clear_interval
from backend.protocol.merkle import MerkleTree

__all__ = [
    "SETTLE_INTERVAL",
    "SETTLE_CHUNK",
    "CLOSE_INTERVAL",
    "ChainState",
    "Plan",
    "PlanError",
    "PlannedTransaction",
    "ReplanRefused",
    "build_transactions",
    "call_arguments",
    "end_read",
    "plan_closed_intervals",
    "plan_is_current",
    "plan_settlement",
    "read_chain_state",
    "replan",
]

log = logging.getLogger(__name__)

SETTLE_INTERVAL, SETTLE_CHUNK, CLOSE_INTERVAL = "settle_interval", "settle_chunk", "close_interval"
# The contract function each outbox kind calls.
FUNCTION_OF_KIND = {SETTLE_INTERVAL: "settleInterval", SETTLE_CHUNK: "settleChunk", CLOSE_INTERVAL: "closeInterval"}
PLANNABLE_STATUSES = ("closed", "settling")


class PlanError(RuntimeError):
    """An interval that cannot be planned: not closed, no entries, or a root that does not match them."""


class ReplanRefused(PlanError):
    """Re-planning would contradict what the chain already holds or may still mine."""


@dataclass(frozen=True)
class PlannedTransaction:
    """One outbox row to be: which call, and its exact arguments."""

    chunk_index: int
    kind: str
    payload: dict[str, Any]


@dataclass
class ChainState:
    """The market's state the solver reads, all at one block."""

    block_number: int
    block_hash: str
    orders: list[RestingOrder]
    accounts: dict[str, Account]
    token_balances: dict[str, int]
    tariffs: Tariffs


@dataclass
class Plan:
    """The settlement of one interval, as written to (or found in) the outbox."""

    interval_id: int
    readings_root: bytes
    clearing_price: int
    transactions: list[PlannedTransaction]
    created: bool  # False: the interval already had rows (or was settled), nothing was written
    attempt: int = 1  # 1 for the first plan, +1 per replan
    block_number: int | None = None  # the block the chain state was read at (None when not created)
    clearing: Clearing | None = field(default=None, repr=False)  # the solver's answer (None when not created)


# --- pure part: from inputs to transactions (no chain, no DB) ----------------


def build_transactions(
    interval_id: int,
    readings_root: bytes,
    clearing: Clearing,
    orders_by_id: Mapping[int, RestingOrder],
    gas_budget: int = CHUNK_GAS_BUDGET,
) -> list[PlannedTransaction]:
    """Split a clearing into the calls that settle it, in sending order."""
    if len(readings_root) != 32:
        raise ValueError(f"a readings root is 32 bytes, got {len(readings_root)}")
    chunks = split_settlement(clearing, dict(orders_by_id), gas_budget=gas_budget)
    root_hex = "0x" + readings_root.hex()
    if len(chunks) == 1:
        args = _settle_args(interval_id, root_hex, clearing.entries, clearing.fills, clearing.clearing_price)
        return [PlannedTransaction(0, SETTLE_INTERVAL, {"function": "settleInterval", "args": args})]
    transactions = [
        PlannedTransaction(
            index,
            SETTLE_CHUNK,
            {
                "function": "settleChunk",
                "args": _settle_args(interval_id, root_hex, chunk.entries, chunk.fills, clearing.clearing_price),
            },
        )
        for index, chunk in enumerate(chunks)
    ]
    close = {"function": "closeInterval", "args": {"intervalId": str(interval_id)}}
    transactions.append(PlannedTransaction(len(chunks), CLOSE_INTERVAL, close))
    return transactions


def _settle_args(
    interval_id: int, root_hex: str, entries: Sequence[MeteredEntry], fills: Sequence[Fill], clearing_price: int
) -> dict[str, Any]:
    return {
        "intervalId": str(interval_id),
        "readingsRoot": root_hex,
        "entries": [
            {
                "household": to_checksum_address(e.household),
                "producedWh": str(e.produced_wh),
                "consumedWh": str(e.consumed_wh),
            }
            for e in entries
        ],
        "fills": [
            {"orderId": str(f.order_id), "autoEntry": str(f.auto_entry), "amountWh": str(f.amount_wh)} for f in fills
        ],
        "clearingPrice": str(clearing_price),
    }


def call_arguments(payload: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The contract function name and its positional arguments from a row's payload."""
    function, args = payload["function"], payload["args"]
    if function == "closeInterval":
        return function, [int(args["intervalId"])]
    if function not in ("settleInterval", "settleChunk"):
        raise ValueError(f"unknown settlement function {function!r}")
    entries = [(e["household"], int(e["producedWh"]), int(e["consumedWh"])) for e in args["entries"]]
    fills = [(int(f["orderId"]), int(f["autoEntry"]), int(f["amountWh"])) for f in args["fills"]]
    root = bytes.fromhex(args["readingsRoot"][2:])
    return function, [int(args["intervalId"]), root, entries, fills, int(args["clearingPrice"])]


# --- the chain's side ----------------------------------------------------------


def read_chain_state(
    web3: Web3,
    deployment: Deployment,
    households: Iterable[str],
    block: int | str = "latest",
    interval_id: int | None = None,
    reader: MarketReader | None = None,
) -> ChainState:
    """Read orders, the households' accounts and token balances, and tariffs, at one pinned block.

    The tariffs are the price bounds of `interval_id`'s band (the current interval's when None).

    `block` is resolved to a number first, so a block mined while reading
    cannot mix two states. The reads go in JSON-RPC batches; `reader` is the
    settler process's MarketReader, which skips the orders it has already
    read closed (None: a fresh reader that reads every order).
    """
    header = web3.eth.get_block(block)
    number = header["number"]
    households = list(households)
    reader = reader or MarketReader(web3, remember_closed=False)
    market = deployment.contract(web3, "EnergyMarket")
    return ChainState(
        block_number=number,
        block_hash="0x" + bytes(header["hash"]).hex(),
        orders=reader.orders(market, number),
        # Auto orders trade only metered surplus or deficit, and burns only touch
        # metered households: the accounts and balances of the entries are all that matter.
        accounts=reader.accounts(market, households, number),
        token_balances=reader.token_balances(deployment.contract(web3, "EnergyToken"), households, number),
        tariffs=read_tariffs(deployment.contract(web3, "CommunityRegistry"), number, interval_id),
    )


# --- planning --------------------------------------------------------------------


def plan_settlement(
    session: Session,
    web3: Web3,
    deployment: Deployment,
    interval_id: int,
    block: int | str = "latest",
    gas_budget: int = CHUNK_GAS_BUDGET,
    reader: MarketReader | None = None,
) -> Plan:
    """Plan a closed interval's settlement into the outbox and mark it 'settling'; commits.

    Does nothing (returns the plan already stored, ``created=False``) when the
    interval already has outbox rows or is settled. Chain state is read before
    anything is written, so a node that is down raises (requests'
    ConnectionError, an OSError) and leaves the database as it was.
    """
    existing = _existing_plan(session, interval_id)
    if existing is not None:
        return existing
    solved = _solve(session, web3, deployment, interval_id, block, gas_budget, reader)
    return _write(session, solved, attempt=1, history=[])


def replan(
    session: Session,
    web3: Web3,
    deployment: Deployment,
    interval_id: int,
    block: int | str = "latest",
    gas_budget: int = CHUNK_GAS_BUDGET,
    count_attempt: bool = True,
    reader: MarketReader | None = None,
) -> Plan:
    """Delete an interval's unconfirmed outbox rows and plan it again on the chain's current state; commits.

    For a plan the chain changed under (a cancelled order, a withdrawn
    auto-buy budget). Refused (ReplanRefused) once any part of the settlement
    is confirmed, or is on-chain, or while a transaction is in flight: the
    root and price of a started chunked settlement cannot change, and a sent
    transaction may still be mined. `count_attempt=False` keeps the attempt
    number, for a plan that went stale before anything was sent.
    """
    interval = session.get(Interval, interval_id)
    if interval is None:
        raise PlanError(f"interval {interval_id} is not in the database")
    if interval.status == "settled":
        raise ReplanRefused(f"interval {interval_id} is already settled")
    rows = outbox_rows(session, interval_id)
    for row in rows:
        if row.status == OutboxStatus.CONFIRMED:
            raise ReplanRefused(f"interval {interval_id}: chunk {row.chunk_index} is already confirmed on-chain")
        if row.status == OutboxStatus.SENT:
            raise ReplanRefused(
                f"interval {interval_id}: transaction {row.tx_hash} (nonce {row.nonce}) is in flight; "
                "wait for its receipt or for its nonce to be used"
            )
    state = deployment.contract(web3, "EnergyMarket").functions.getInterval(interval_id).call()
    closed_on_chain, chunks_on_chain = state[3], state[2]
    if closed_on_chain or chunks_on_chain:
        raise ReplanRefused(f"interval {interval_id} is already (partly) settled on-chain ({chunks_on_chain} chunks)")

    attempt = max((row.attempts for row in rows), default=0) + (1 if count_attempt else 0)
    attempt = max(attempt, 1)
    history = _history(rows)
    solved = _solve(session, web3, deployment, interval_id, block, gas_budget, reader)
    session.execute(delete(SettlementOutbox).where(SettlementOutbox.interval_id == interval_id))
    return _write(session, solved, attempt=attempt, history=history)


def plan_is_current(
    session: Session,
    web3: Web3,
    deployment: Deployment,
    interval_id: int,
    block: int | str = "latest",
    reader: MarketReader | None = None,
) -> bool:
    """Whether clearing the interval again at `block` gives exactly the stored plan's calls.

    Auditors re-run the solver on the chain state just before the first
    settlement transaction; checking this right before sending keeps the
    plan equal to what they will compute (a deposit, an auto order or an
    order changed since planning would otherwise make the audit differ).
    """
    rows = outbox_rows(session, interval_id)
    if not rows:
        raise PlanError(f"interval {interval_id} has no plan")
    gas_budget = int(rows[0].payload.get("plannedAt", {}).get("gasBudget", CHUNK_GAS_BUDGET))
    solved = _solve(session, web3, deployment, interval_id, block, gas_budget, reader)
    fresh = [(t.chunk_index, t.kind, t.payload["function"], t.payload["args"]) for t in solved.transactions]
    return fresh == [(r.chunk_index, r.kind, r.payload["function"], r.payload["args"]) for r in rows]


def plan_closed_intervals(
    sessions: Callable[[], Session],
    web3: Web3,
    deployment: Deployment,
    gas_budget: int = CHUNK_GAS_BUDGET,
    limit: int | None = None,
    reader: MarketReader | None = None,
) -> list[Plan]:
    """Plan every 'closed' interval without outbox rows, oldest first; returns the new plans.

    Stops at the first chain error (a node that is down): what was planned
    stays planned, the rest is planned on the next call. An interval that
    cannot be planned (PlanError) is logged and skipped; it stays 'closed'.
    """
    with sessions() as session:
        query = (
            select(Interval.interval_id)
            .where(Interval.status == "closed")
            .where(~select(SettlementOutbox.id).where(SettlementOutbox.interval_id == Interval.interval_id).exists())
            .order_by(Interval.interval_id)
        )
        if limit is not None:
            query = query.limit(limit)
        due = list(session.scalars(query))
    plans = []
    for interval_id in due:
        with sessions() as session:
            try:
                plan = plan_settlement(session, web3, deployment, interval_id, gas_budget=gas_budget, reader=reader)
            except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
                log.warning("chain node unreachable while planning interval %d: %s", interval_id, exc)
                break
            except PlanError as exc:
                log.error("interval %d cannot be planned: %s", interval_id, exc)
                continue
        if plan.created:
            plans.append(plan)
    return plans


@dataclass
class _Solved:
    interval: Interval
    chain: ChainState
    clearing: Clearing
    transactions: list[PlannedTransaction]
    gas_budget: int


def _solve(
    session: Session,
    web3: Web3,
    deployment: Deployment,
    interval_id: int,
    block: int | str,
    gas_budget: int,
    reader: MarketReader | None,
) -> _Solved:
    """Check the interval, read the chain and clear it; reads only, so no lock is held while the node answers."""
    interval = session.get(Interval, interval_id)
    if interval is None:
        raise PlanError(f"interval {interval_id} is not in the database")
    if interval.status not in PLANNABLE_STATUSES:
        raise PlanError(f"interval {interval_id} is {interval.status!r}; only a closed interval can be planned")
    if interval.readings_root is None:
        raise PlanError(f"interval {interval_id} has no readings root")
    entry_rows = list(session.scalars(select(IntervalEntry).where(IntervalEntry.interval_id == interval_id)))
    if not entry_rows:
        raise PlanError(f"interval {interval_id} has no entries")
    # The root is what the chain will commit to: check it still matches the stored leaves.
    if MerkleTree([row.leaf for row in entry_rows]).root != interval.readings_root:
        raise PlanError(f"interval {interval_id}: readings root does not match its {len(entry_rows)} stored leaves")
    entries = [MeteredEntry(row.household, row.produced_wh, row.consumed_wh) for row in entry_rows]
    end_read(session)

    chain = read_chain_state(web3, deployment, [e.household for e in entries], block, interval_id, reader)
    clearing = clear_interval(interval_id, entries, chain.orders, chain.accounts, chain.tariffs, chain.token_balances)
    orders_by_id = {order.order_id: order for order in chain.orders}
    transactions = build_transactions(interval_id, interval.readings_root, clearing, orders_by_id, gas_budget)
    return _Solved(interval, chain, clearing, transactions, gas_budget)


def _write(session: Session, solved: _Solved, attempt: int, history: list[dict[str, Any]]) -> Plan:
    interval, chain, clearing = solved.interval, solved.chain, solved.clearing
    planned_at = {"block": chain.block_number, "blockHash": chain.block_hash, "gasBudget": solved.gas_budget}
    for planned in solved.transactions:
        payload = {**planned.payload, "plannedAt": planned_at, "history": history}
        session.add(
            SettlementOutbox(
                interval_id=interval.interval_id,
                chunk_index=planned.chunk_index,
                kind=planned.kind,
                status=OutboxStatus.PENDING,
                payload=payload,
                attempts=attempt,
            )
        )
    interval.status = "settling"
    interval.clearing_price = clearing.clearing_price
    try:
        session.commit()
    except IntegrityError:
        # Another planner wrote this interval's rows first: its plan stands.
        session.rollback()
        existing = _existing_plan(session, interval.interval_id)
        if existing is None:
            raise
        return existing
    log.info(
        "interval %d planned at block %d (attempt %d): price %d, %d entries, %d fills, %d transaction(s)",
        interval.interval_id,
        chain.block_number,
        attempt,
        clearing.clearing_price,
        len(clearing.entries),
        len(clearing.fills),
        len(solved.transactions),
    )
    return Plan(
        interval_id=interval.interval_id,
        readings_root=interval.readings_root,
        clearing_price=clearing.clearing_price,
        transactions=solved.transactions,
        created=True,
        attempt=attempt,
        block_number=chain.block_number,
        clearing=clearing,
    )


def end_read(session: Session) -> None:
    """End the session's read transaction before a slow call to the node.

    On SQLite (WAL), a transaction that read and then writes after another
    writer (the ingester) committed fails at once with SQLITE_BUSY; a fresh
    transaction that starts with its write waits its turn instead. The
    objects read stay usable: the project's sessions do not expire on commit.
    """
    session.commit()


def outbox_rows(session: Session, interval_id: int) -> list[SettlementOutbox]:
    """An interval's outbox rows, by chunk (the planner and the sender read them the same way)."""
    return list(
        session.scalars(
            select(SettlementOutbox)
            .where(SettlementOutbox.interval_id == interval_id)
            .order_by(SettlementOutbox.chunk_index)
        )
    )


def _existing_plan(session: Session, interval_id: int) -> Plan | None:
    interval = session.get(Interval, interval_id)
    if interval is None:
        raise PlanError(f"interval {interval_id} is not in the database")
    rows = outbox_rows(session, interval_id)
    if not rows and interval.status != "settled":
        return None
    return Plan(
        interval_id=interval_id,
        readings_root=interval.readings_root,
        clearing_price=interval.clearing_price,
        transactions=[PlannedTransaction(r.chunk_index, r.kind, r.payload) for r in rows],
        created=False,
        attempt=max((r.attempts for r in rows), default=1),
    )


def _history(rows: Sequence[SettlementOutbox]) -> list[dict[str, Any]]:
    """What earlier plans of the interval ended in, carried into the new rows' payload."""
    history: list[dict[str, Any]] = list(rows[0].payload.get("history", [])) if rows else []
    for row in rows:
        if row.status == OutboxStatus.FAILED:
            history.append(
                {
                    "attempt": row.attempts,
                    "chunk": row.chunk_index,
                    "kind": row.kind,
                    "txHash": row.tx_hash,
                    "error": row.last_error,
                }
            )
    return history
