"""Sending planned settlements: outbox rows go pending -> sent -> confirmed.

One transaction is in flight at a time: the oldest interval first, its
chunks in order, each sent only once the one before it is confirmed (a
later chunk mined first would be accepted on its own and break the order
of households). Every step re-reads the chain, so a restarted sender picks
up exactly where the database says it was. docs/outbox.md has the state
machine and the crash cases.

Write-ahead: a transaction is signed with fixed fee fields, and its nonce,
hash and fields are committed with status 'sent' *before* it is broadcast.
After a crash, a 'sent' row is looked up by hash; a transaction the chain
never saw is signed again from the stored fields (RFC 6979 signatures are
deterministic, so it is the same transaction with the same hash) and
broadcast again. Nothing is ever sent for an interval the chain already
shows settled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from backend.chain.deploy import Deployment
from backend.chain.market_state import MarketReader
from backend.db.models import Interval, OutboxStatus, SettlementOutbox
from backend.market.chunking import CHUNK_GAS_BUDGET
from backend.oracle.settlement import PlanError, call_arguments, end_read, outbox_rows, plan_is_current, replan

__all__ = ["ErrorDecoder", "OutboxSender", "RevertReason", "SettledCallback"]

log = logging.getLogger(__name__)

# A node that is down or slow: requests' ConnectionError and Timeout are OSErrors.
NODE_ERRORS = (OSError, TimeExhausted)
SettledCallback = Callable[[int, str, int], None]  # (interval_id, tx_hash, block_number)

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), from require/revert with a message
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256), from assert, overflow, division by zero


@dataclass(frozen=True)
class RevertReason:
    """A decoded revert: the custom error's name and its arguments."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        return f"{self.name}({', '.join(f'{key}={_plain(value)}' for key, value in self.args)})"


def _plain(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class ErrorDecoder:
    """Decodes revert data by 4-byte selector against the custom errors of some ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]):
        self.errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item.get("inputs", [])]
                names = [i.get("name") or f"arg{n}" for n, i in enumerate(item.get("inputs", []))]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                self.errors[selector] = (item["name"], types, names)

    def decode(self, data: bytes | str | None) -> RevertReason:
        """Name the error in `data` (0x hex or bytes); unknown or empty data is said so, never raised."""
        if isinstance(data, str):
            try:
                data = bytes.fromhex(data[2:] if data.startswith("0x") else data)
            except ValueError:
                return RevertReason("Unparseable", (("data", data),))
        if not data:
            return RevertReason("EmptyRevert")
        selector, body = data[:4], data[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                return RevertReason("Error", (("message", abi_decode(["string"], body)[0]),))
            if selector == PANIC_SELECTOR:
                return RevertReason("Panic", (("code", hex(abi_decode(["uint256"], body)[0])),))
            if selector in self.errors:
                name, types, names = self.errors[selector]
                values = [
                    to_checksum_address(v) if t == "address" else v
                    for t, v in zip(types, abi_decode(types, body), strict=True)
                ]
                return RevertReason(name, tuple(zip(names, values, strict=True)))
        except Exception as exc:  # noqa: BLE001 - malformed revert data is reported, not raised
            return RevertReason("Undecodable", (("data", "0x" + data.hex()), ("error", str(exc))))
        return RevertReason("UnknownError", (("data", "0x" + data.hex()),))

    def decode_exception(self, exc: ContractLogicError) -> RevertReason:
        data = exc.data if isinstance(exc.data, (str, bytes)) else None
        if data:
            return self.decode(data)
        return RevertReason("Reverted", (("message", str(exc.message or exc)),))


def _abi_type(component: Mapping[str, Any]) -> str:
    kind = component["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in component["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


class OutboxSender:
    """Sends the settlement outbox, one transaction at a time; call `step()` in a loop."""

    def __init__(
        self,
        web3: Web3,
        deployment: Deployment,
        account: LocalAccount,
        sessions: Callable[[], Session],
        confirmations: int = 1,
        gas_headroom: float = 1.2,
        max_attempts: int = 3,
        gas_budget: int = CHUNK_GAS_BUDGET,
        priority_fee_wei: int | None = None,
        on_settled: SettledCallback | None = None,
        max_fee_per_gas_wei: int | None = None,
        stuck_after_s: float = 180.0,
        fee_bump: float = 1.125,
        clock: Callable[[], float] = time.time,
        reader: MarketReader | None = None,
    ):
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1 (the block holding the receipt)")
        if gas_headroom < 1:
            raise ValueError("gas_headroom below 1 would send transactions that run out of gas")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.web3 = web3
        self.deployment = deployment
        self.account = account
        self.sessions = sessions
        self.confirmations = confirmations
        self.gas_headroom = gas_headroom
        self.max_attempts = max_attempts
        self.gas_budget = gas_budget  # for re-plans
        self.priority_fee_wei = priority_fee_wei
        self.on_settled = on_settled
        if fee_bump < 1.1:
            raise ValueError("fee_bump below 1.1: nodes refuse a replacement that pays less than 10% more")
        # The most this sender pays per gas (max fee, or gas price); None: no cap.
        self.max_fee_per_gas_wei = max_fee_per_gas_wei
        self.stuck_after_s = stuck_after_s
        self.fee_bump = fee_bump
        self.clock = clock
        # The settler's reader (it remembers closed orders between plans); None: read every order each time.
        self.reader = reader
        self.market = deployment.contract(web3, "EnergyMarket")
        self.decoder = ErrorDecoder(contract["abi"] for contract in deployment.contracts.values())
        # The lowest nonce this process has not used yet: a node that forgets a
        # pending transaction must not make us reuse its nonce for another.
        self._next_nonce = 0

    # --- the loop's one entry point --------------------------------------------

    def step(self) -> bool:
        """Advance the oldest unfinished interval by one action; False when there was nothing to do (or no node)."""
        try:
            with self.sessions() as session:
                interval_id = self._next_interval(session)
                if interval_id is None:
                    return False
                return self._advance(session, interval_id)
        except NODE_ERRORS as exc:
            log.warning("chain node unreachable; the outbox resumes when it answers: %s", exc)
            return False
        except Web3RPCError as exc:
            log.error("chain node refused a request; the outbox retries on the next step: %s", exc)
            return False

    def run_until_idle(self, max_steps: int = 100) -> int:
        """Step until there is nothing to do right now (or `max_steps`); return how many steps did work."""
        done = 0
        while done < max_steps and self.step():
            done += 1
        return done

    # --- choosing the work -------------------------------------------------------

    def _next_interval(self, session: Session) -> int | None:
        row, other = SettlementOutbox, aliased(SettlementOutbox)
        in_progress = and_(
            row.status.in_((OutboxStatus.PENDING, OutboxStatus.SENT)),
            ~exists().where(other.interval_id == row.interval_id, other.status == OutboxStatus.FAILED),
        )
        # A failed plan is planned again while attempts are left and nothing of it is confirmed.
        replannable = and_(
            row.status == OutboxStatus.FAILED,
            row.attempts < self.max_attempts,
            ~exists().where(
                other.interval_id == row.interval_id, other.status.in_((OutboxStatus.CONFIRMED, OutboxStatus.SENT))
            ),
        )
        query = select(row.interval_id).where(or_(in_progress, replannable)).order_by(row.interval_id).limit(1)
        return session.scalar(query)

    def _advance(self, session: Session, interval_id: int) -> bool:
        rows = outbox_rows(session, interval_id)
        interval = session.get(Interval, interval_id)
        end_read(session)
        if any(r.status == OutboxStatus.FAILED for r in rows):
            return self._replan(session, interval, rows)
        row = next(r for r in rows if r.status in (OutboxStatus.PENDING, OutboxStatus.SENT))
        if row.status == OutboxStatus.SENT:
            return self._check_sent(session, interval, rows, row)
        return self._send(session, interval, rows, row)

    # --- pending -> sent -----------------------------------------------------------

    def _send(self, session: Session, interval: Interval, rows: list[SettlementOutbox], row: SettlementOutbox) -> bool:
        if self.market.functions.isSettled(interval.interval_id).call():
            return self._reconcile_settled(session, interval, rows)
        if row is rows[0]:
            try:
                if not plan_is_current(session, self.web3, self.deployment, interval.interval_id, reader=self.reader):
                    # Changed since planning, nothing sent yet: plan again, spending neither gas nor an attempt.
                    log.info(
                        "interval %d: the market changed since it was planned; planning it again", interval.interval_id
                    )
                    replan(
                        session,
                        self.web3,
                        self.deployment,
                        interval.interval_id,
                        gas_budget=self.gas_budget,
                        count_attempt=False,
                        reader=self.reader,
                    )
                    return True
            except PlanError as exc:
                log.error(
                    "interval %d cannot be checked against the chain before sending: %s", interval.interval_id, exc
                )
                return False
        data = self._calldata(row)
        request = {"from": self.account.address, "to": self.market.address, "data": data, "value": 0}
        try:
            estimate = self.web3.eth.estimate_gas(request)
        except ContractLogicError as exc:
            reason = self.decoder.decode_exception(exc)
            if reason.name == "MarketIntervalNotEnded":
                log.info("interval %d has not ended on-chain yet; waiting", interval.interval_id)
                return False
            return self._on_revert(session, interval, rows, row, reason, f"gas estimate reverted: {reason}")

        fees = self._fees()
        if (refused := self._over_cap(fees)) is not None:
            return self._fee_cap_reached(session, interval, row, refused)
        nonce = max(self.web3.eth.get_transaction_count(self.account.address, "pending"), self._next_nonce)
        fields = {
            **({"type": 2} if "maxFeePerGas" in fees else {}),
            "chainId": self.deployment.chain_id,
            "nonce": nonce,
            "to": self.market.address,
            "value": 0,
            "gas": int(estimate * self.gas_headroom),
            **fees,
        }
        signed = self.account.sign_transaction({**fields, "data": data})
        row.status = OutboxStatus.SENT
        row.nonce = nonce
        row.tx_hash = Web3.to_hex(signed.hash)
        row.last_error = None
        # JSON convention: integers as decimal strings (the type byte stays a number).
        stored = {
            key: (str(value) if isinstance(value, int) and key != "type" else value) for key, value in fields.items()
        }
        row.payload = {**row.payload, "tx": {"from": self.account.address, **stored}, "sentAt": int(self.clock())}
        session.commit()  # the write-ahead: from here on a crash is recovered from this row
        self._next_nonce = nonce + 1
        log.info(
            "interval %d: %s chunk %d sent as %s (nonce %d)",
            interval.interval_id,
            row.kind,
            row.chunk_index,
            row.tx_hash,
            nonce,
        )
        self._broadcast_recorded(session, row, signed.raw_transaction)
        return True

    def _broadcast(self, raw_transaction: bytes) -> None:
        """Hand a signed transaction to the node (a seam for crash tests)."""
        self.web3.eth.send_raw_transaction(raw_transaction)

    def _broadcast_recorded(self, session: Session, row: SettlementOutbox, raw_transaction: bytes) -> None:
        try:
            self._broadcast(raw_transaction)
        except Web3RPCError as exc:
            # "already known", "nonce too low", "insufficient funds": the receipt and
            # nonce checks of the next steps tell what became of it.
            log.warning("broadcast of %s answered: %s", row.tx_hash, exc)
            row.last_error = f"broadcast: {exc}"
            session.commit()

    # --- sent -> confirmed (or failed) ---------------------------------------------

    def _check_sent(
        self, session: Session, interval: Interval, rows: list[SettlementOutbox], row: SettlementOutbox
    ) -> bool:
        sender = row.payload["tx"]["from"]
        # The nonce first: a transaction mined between the two reads then shows as a receipt.
        mined_nonce = self.web3.eth.get_transaction_count(sender, "latest")
        receipt = self._receipt(row.tx_hash)
        if receipt is None and mined_nonce > row.nonce:
            receipt = self._replaced_receipt(session, row)  # an earlier fee of ours was mined after all
        if receipt is None:
            if mined_nonce > row.nonce:
                return self._nonce_taken(session, interval, rows, row)
            # Unmined for too long, in the pool or dropped from it as underpriced (Anvil drops, geth keeps).
            if self.clock() - int(row.payload.get("sentAt", self.clock())) >= self.stuck_after_s:
                return self._replace_stuck(session, interval, row)
            if self._node_knows(row.tx_hash):
                return False  # waiting to be mined
            return self._rebroadcast(session, row)

        if self.web3.eth.block_number - receipt["blockNumber"] + 1 < self.confirmations:
            return False
        if receipt["status"] == 1:
            return self._confirm(session, interval, rows, row, receipt)
        reason = self._replay(row, receipt)
        return self._on_revert(
            session, interval, rows, row, reason, f"{reason}; transaction reverted in block {receipt['blockNumber']}"
        )

    def _confirm(
        self,
        session: Session,
        interval: Interval,
        rows: list[SettlementOutbox],
        row: SettlementOutbox,
        receipt: Mapping[str, Any],
    ) -> bool:
        row.status = OutboxStatus.CONFIRMED
        row.payload = {
            **row.payload,
            "receipt": {
                "block": receipt["blockNumber"],
                "blockHash": Web3.to_hex(receipt["blockHash"]),
                "gasUsed": str(receipt["gasUsed"]),
            },
        }
        last = row is rows[-1]
        if last:
            interval.status = "settled"
            interval.settled_tx = row.tx_hash
            interval.settled_block = receipt["blockNumber"]
        session.commit()
        log.info(
            "interval %d: %s chunk %d confirmed in block %d",
            interval.interval_id,
            row.kind,
            row.chunk_index,
            receipt["blockNumber"],
        )
        if last:
            self._settled(interval.interval_id, row.tx_hash, receipt["blockNumber"])
        return True

    def _nonce_taken(
        self, session: Session, interval: Interval, rows: list[SettlementOutbox], row: SettlementOutbox
    ) -> bool:
        """The row's nonce was used by another transaction: its own can never be mined."""
        if self.market.functions.isSettled(interval.interval_id).call():
            return self._reconcile_settled(session, interval, rows)
        log.warning(
            "interval %d: nonce %d was used by another transaction; %s is dropped and the row sent again",
            interval.interval_id,
            row.nonce,
            row.tx_hash,
        )
        row.last_error = f"nonce {row.nonce} used by another transaction; {row.tx_hash} dropped"
        row.payload = {**row.payload, "droppedTx": {"hash": row.tx_hash, "nonce": row.nonce}}
        row.status, row.nonce, row.tx_hash = OutboxStatus.PENDING, None, None
        session.commit()
        return True

    def _rebroadcast(self, session: Session, row: SettlementOutbox) -> bool:
        """Send a 'sent' transaction the node does not know (crash before broadcast, node restarted)."""
        stored = row.payload["tx"]
        if to_checksum_address(stored["from"]) != self.account.address:
            log.error(
                "outbox row %d was signed by %s, not by this sender's %s: cannot re-broadcast it",
                row.id,
                stored["from"],
                self.account.address,
            )
            return False
        fields = {
            key: (value if key in ("type", "to") else int(value)) for key, value in stored.items() if key != "from"
        }
        signed = self.account.sign_transaction({**fields, "data": self._calldata(row)})
        if Web3.to_hex(signed.hash) != row.tx_hash:
            log.error(
                "outbox row %d: re-signing gave %s, not the stored %s (ABI or fields changed?)",
                row.id,
                Web3.to_hex(signed.hash),
                row.tx_hash,
            )
            return False
        log.info("re-broadcasting %s (nonce %d), which the node does not know", row.tx_hash, row.nonce)
        self._next_nonce = max(self._next_nonce, row.nonce + 1)
        self._broadcast_recorded(session, row, signed.raw_transaction)
        return True

    # --- reverts and re-plans ---------------------------------------------------------

    def _on_revert(
        self,
        session: Session,
        interval: Interval,
        rows: list[SettlementOutbox],
        row: SettlementOutbox,
        reason: RevertReason,
        message: str,
    ) -> bool:
        if reason.name == "MarketIntervalAlreadySettled":
            return self._reconcile_settled(session, interval, rows)
        row.status = OutboxStatus.FAILED
        row.last_error = message
        session.commit()
        if row.attempts < self.max_attempts and not any(r.status == OutboxStatus.CONFIRMED for r in rows):
            log.warning(
                "interval %d attempt %d failed (%s); it will be planned again",
                interval.interval_id,
                row.attempts,
                message,
            )
        else:
            log.error(
                "interval %d settlement FAILED for good after attempt %d (%s); an operator must look at it",
                interval.interval_id,
                row.attempts,
                message,
            )
        return True

    def _replan(self, session: Session, interval: Interval, rows: list[SettlementOutbox]) -> bool:
        if self.market.functions.isSettled(interval.interval_id).call():
            return self._reconcile_settled(session, interval, rows)
        try:
            replan(
                session,
                self.web3,
                self.deployment,
                interval.interval_id,
                gas_budget=self.gas_budget,
                reader=self.reader,
            )
        except PlanError as exc:
            session.rollback()
            # No attempts left to spend on this interval: it stays failed for an operator.
            for failed in (r for r in rows if r.status == OutboxStatus.FAILED):
                failed.attempts = max(failed.attempts, self.max_attempts)
                failed.last_error = f"{failed.last_error}; re-plan refused: {exc}"
            session.commit()
            log.error("interval %d cannot be planned again (%s); it stays failed", interval.interval_id, exc)
        return True

    def _replay(self, row: SettlementOutbox, receipt: Mapping[str, Any]) -> RevertReason:
        """Why a mined transaction reverted: replay its call on the state of its block."""
        stored = row.payload["tx"]
        call = {"from": stored["from"], "to": stored["to"], "data": self._calldata(row), "gas": int(stored["gas"])}
        try:
            self.web3.eth.call(call, block_identifier=receipt["blockNumber"])
        except ContractLogicError as exc:
            return self.decoder.decode_exception(exc)
        if receipt["gasUsed"] >= int(stored["gas"]):
            return RevertReason("OutOfGas", (("gas", int(stored["gas"])),))
        return RevertReason("NotReproduced", (("block", receipt["blockNumber"]),))

    # --- the chain settled it already ---------------------------------------------------

    def _reconcile_settled(self, session: Session, interval: Interval, rows: list[SettlementOutbox]) -> bool:
        """Mark an interval the chain shows settled as settled, from its events; send nothing."""
        interval_id = interval.interval_id
        settled = self.market.events.IntervalSettled.get_logs(
            from_block=self.deployment.deploy_block, argument_filters={"intervalId": interval_id}
        )
        if not settled:
            log.error("interval %d is settled on-chain but its IntervalSettled event is not found", interval_id)
            return False
        event = settled[-1]
        if self.web3.eth.block_number - event["blockNumber"] + 1 < self.confirmations:
            return False
        chunk_events = sorted(
            self.market.events.ChunkSettled.get_logs(
                from_block=self.deployment.deploy_block, argument_filters={"intervalId": interval_id}
            ),
            key=lambda e: e["args"]["chunk"],
        )
        chain_txs = [Web3.to_hex(e["transactionHash"]) for e in chunk_events] + [Web3.to_hex(event["transactionHash"])]
        if len(chain_txs) == len(rows):
            pairs = list(zip(rows, chain_txs, strict=True))
        else:
            # The chain settled it in another shape than planned: the last row stands for the
            # transaction that closed it; the others were never needed.
            pairs = [(rows[-1], chain_txs[-1])]
            for extra in rows[:-1]:
                if extra.status != OutboxStatus.CONFIRMED:
                    session.delete(extra)
        for row, tx_hash in pairs:
            if row.status == OutboxStatus.CONFIRMED or row.tx_hash == tx_hash:
                if row.tx_hash != tx_hash:
                    log.warning(
                        "interval %d chunk %d: confirmed as %s, but the chain shows %s",
                        interval_id,
                        row.chunk_index,
                        row.tx_hash,
                        tx_hash,
                    )
                row.status = OutboxStatus.CONFIRMED
                continue
            transaction = self.web3.eth.get_transaction(tx_hash)
            payload = {
                **row.payload,
                "observedOnChain": {"from": transaction["from"], "block": transaction["blockNumber"]},
            }
            if row.tx_hash is not None:  # ours lost the race (reverted, or never mined): keep its trace
                payload["droppedTx"] = {"hash": row.tx_hash, "nonce": row.nonce}
            row.status, row.tx_hash, row.nonce = OutboxStatus.CONFIRMED, tx_hash, transaction["nonce"]
            row.last_error = None
            row.payload = payload

        price, root = event["args"]["clearingPrice"], bytes(event["args"]["readingsRoot"])
        if price != interval.clearing_price:
            log.warning(
                "interval %d settled on-chain at price %d, not the planned %s",
                interval_id,
                price,
                interval.clearing_price,
            )
        if root != interval.readings_root:
            log.error(
                "interval %d settled on-chain with root 0x%s, not ours 0x%s",
                interval_id,
                root.hex(),
                (interval.readings_root or b"").hex(),
            )
        interval.status = "settled"
        interval.clearing_price = price
        interval.settled_tx = chain_txs[-1]
        interval.settled_block = event["blockNumber"]
        session.commit()
        log.info("interval %d was already settled on-chain by %s; nothing sent", interval_id, chain_txs[-1])
        self._settled(interval_id, chain_txs[-1], event["blockNumber"])
        return True

    # --- helpers ---------------------------------------------------------------------

    def _settled(self, interval_id: int, tx_hash: str, block_number: int) -> None:
        if self.on_settled is None:
            return
        try:
            self.on_settled(interval_id, tx_hash, block_number)
        except Exception:  # noqa: BLE001 - a listener's bug must not stop settlement
            log.exception("on_settled callback failed for interval %d", interval_id)

    def _calldata(self, row: SettlementOutbox) -> str:
        function, args = call_arguments(row.payload)
        return self.market.encode_abi(function, args=args)

    def _fees(self) -> dict[str, int]:
        """EIP-1559 fees where the chain has a base fee, else a legacy gas price."""
        if "baseFeePerGas" not in self.web3.eth.get_block("latest"):
            return {"gasPrice": self.web3.eth.gas_price}
        # Twice the next block's base fee: the transaction stays includable through
        # six full blocks of base fee increases.
        base_fee = self.web3.eth.fee_history(1, "latest")["baseFeePerGas"][-1]
        tip = self.priority_fee_wei if self.priority_fee_wei is not None else self.web3.eth.max_priority_fee
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}

    def _over_cap(self, fees: Mapping[str, int]) -> int | None:
        """The fee per gas that `fees` would pay when it is over the configured cap; None when within it."""
        price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
        if self.max_fee_per_gas_wei is not None and price > self.max_fee_per_gas_wei:
            return price
        return None

    def _fee_cap_reached(self, session: Session, interval: Interval, row: SettlementOutbox, needed: int) -> bool:
        """Stop, alert and wait: nothing is signed above the cap, and no lower fee is guessed instead."""
        message = (
            f"fee cap reached: {needed} wei/gas needed, the cap is {self.max_fee_per_gas_wei}; "
            "waiting for fees to fall or an operator to raise the cap"
        )
        if row.last_error != message:
            row.last_error = message
            session.commit()
        log.error("ALERT interval %d %s chunk %d: %s", interval.interval_id, row.kind, row.chunk_index, message)
        return False

    def _bump(self, old: int, now: int) -> int:
        return max(math.ceil(old * self.fee_bump) + 1, now)

    def _replace_stuck(self, session: Session, interval: Interval, row: SettlementOutbox) -> bool:
        """sent, unmined for stuck_after_s -> sent again: the same nonce and call, fees raised by fee_bump at least."""
        stored = row.payload["tx"]
        if to_checksum_address(stored["from"]) != self.account.address:
            log.error(
                "outbox row %d was signed by %s, not by this sender's %s: cannot replace it",
                row.id,
                stored["from"],
                self.account.address,
            )
            return False
        now = self._fees()
        if "maxFeePerGas" in stored:
            tip = self._bump(int(stored["maxPriorityFeePerGas"]), now.get("maxPriorityFeePerGas", 0))
            fees = {
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": self._bump(int(stored["maxFeePerGas"]), now.get("maxFeePerGas", 0) + tip),
            }
        else:
            fees = {"gasPrice": self._bump(int(stored["gasPrice"]), now.get("gasPrice", 0))}
        if (refused := self._over_cap(fees)) is not None:
            return self._fee_cap_reached(session, interval, row, refused)
        fields = {
            key: (value if key in ("type", "to") else int(value)) for key, value in stored.items() if key != "from"
        }
        fields.update(fees)
        signed = self.account.sign_transaction({**fields, "data": self._calldata(row)})
        replaced = [
            *row.payload.get("replaced", []),
            {"hash": row.tx_hash, **{k: str(v) for k, v in stored.items() if k in fees}},
        ]
        new_stored = {**stored, **{key: str(value) for key, value in fees.items()}}
        log.warning(
            "interval %d: %s (nonce %d) unmined for %.0f s; replacing it as %s with %s",
            interval.interval_id,
            row.tx_hash,
            row.nonce,
            self.clock() - int(row.payload["sentAt"]),
            Web3.to_hex(signed.hash),
            fees,
        )
        row.tx_hash = Web3.to_hex(signed.hash)
        row.payload = {**row.payload, "tx": new_stored, "replaced": replaced, "sentAt": int(self.clock())}
        row.last_error = None
        session.commit()  # write-ahead, as for the first send
        self._broadcast_recorded(session, row, signed.raw_transaction)
        return True

    def _replaced_receipt(self, session: Session, row: SettlementOutbox) -> Mapping[str, Any] | None:
        """The receipt of a transaction this row replaced, when that one was mined; the row then takes its hash."""
        for earlier in row.payload.get("replaced", []):
            receipt = self._receipt(earlier["hash"])
            if receipt is not None:
                log.info("outbox row %d: the replaced %s was mined, not %s", row.id, earlier["hash"], row.tx_hash)
                row.payload = {**row.payload, "droppedTx": {"hash": row.tx_hash, "nonce": row.nonce}}
                row.tx_hash = earlier["hash"]
                session.commit()
                return receipt
        return None

    def _receipt(self, tx_hash: str) -> Mapping[str, Any] | None:
        try:
            return self.web3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _node_knows(self, tx_hash: str) -> bool:
        try:
            self.web3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True
