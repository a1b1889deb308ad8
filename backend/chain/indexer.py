"""Following the community's contract events into the database, safe across restarts and reorgs.

The indexer reads logs with ``eth_getLogs`` over block ranges, decodes them
with the deployment's ABIs, and stores one ``ChainEvent`` row per log. The
rows of a page and the cursor that says "everything up to block N (hash H) is
stored" are written in one transaction, so a crash or a restart never skips
or repeats a log. Before each page the cursor's block hash is compared with
the chain's: when the chain reorganised below it, the events above the last
block both agree on are deleted and that block becomes the cursor.
``docs/indexer.md`` describes what is indexed and how arguments are stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_abi.codec import ABICodec
from eth_abi.decoding import StringDecoder
from eth_abi.exceptions import DecodingError
from eth_abi.registry import BaseEquals
from eth_abi.registry import registry as default_abi_registry
from eth_utils import event_abi_to_log_topic, is_hex_address, to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import BlockNotFound, Web3Exception

from backend.chain.deploy import Deployment
from backend.db.models import ChainEvent, IndexerCursor

__all__ = [
    "INDEXED_CONTRACTS",
    "Block",
    "ChainMismatch",
    "Indexer",
    "NodeUnavailable",
    "event_record",
    "events",
    "json_value",
]

log = logging.getLogger(__name__)

# Every event of these is indexed. The payment token is handled apart (see _log_filters).
INDEXED_CONTRACTS = ("CommunityRegistry", "EnergyToken", "EnergyMarket")
EURO = "Euro"
TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)")
MAX_EVENT_NAME_CHARS = 64
MAX_REWINDS_PER_POLL = 3

OnEvents = Callable[[list[dict[str, Any]]], None]


class NodeUnavailable(RuntimeError):
    """The JSON-RPC node could not be reached, or refused a request; nothing was written."""


class ChainMismatch(ValueError):
    """The node serves another chain than the deployment's."""


@dataclass(frozen=True)
class Block:
    """A block by number and (lowercase 0x) hash."""

    number: int
    hash: str


class _LenientStringDecoder(StringDecoder):
    # A contract may emit any bytes as a `string`; storing U+FFFD beats a stuck indexer.
    def __init__(self) -> None:
        super().__init__(handle_string_errors="replace")

    @classmethod
    def from_type_str(cls, abi_type: str, registry: Any) -> _LenientStringDecoder:
        return cls()


def _lenient_codec() -> ABICodec:
    abi_registry = default_abi_registry.copy()
    abi_registry.unregister_decoder("string")
    abi_registry.register_decoder(BaseEquals("string"), _LenientStringDecoder, label="string")
    return ABICodec(abi_registry)


_CODEC = _lenient_codec()


def json_value(value: Any) -> Any:
    """Return the stored JSON form of a decoded event argument.

    Integers become decimal strings (uint256 does not fit a JSON number that
    JavaScript reads exactly), addresses EIP-55, bytes lowercase 0x hex, and
    strings lose NUL (PostgreSQL's JSONB cannot hold it). Booleans stay
    booleans; arrays and structs keep their shape.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):  # web3 already gives addresses in EIP-55
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    raise TypeError(f"cannot store event argument of type {type(value).__name__}: {value!r}")


def event_record(row: ChainEvent, contract_name: str | None = None) -> dict[str, Any]:
    """Return a stored event as the JSON object pushed to listeners and served by the API."""
    return {
        "blockNumber": row.block_number,
        "blockHash": row.block_hash,
        "txHash": row.tx_hash,
        "logIndex": row.log_index,
        "contract": row.contract,
        "contractName": contract_name,
        "event": row.event,
        "args": row.args,
    }


def events(
    session: Session,
    event: str,
    /,
    *,
    contract: str | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
    **where: Any,
) -> list[ChainEvent]:
    """Return stored events named `event`, oldest first, whose arguments equal `where`.

    Filter values are given as Python values and compared in their stored
    form: ``events(s, "Filled", intervalId=1958400)``,
    ``events(s, "HouseholdSettled", household="0xabc...")``. `contract`
    tells apart events of the same name (EnergyToken and Euro both emit
    Transfer); `from_block` and `to_block` are inclusive.
    """
    query = select(ChainEvent).where(ChainEvent.event == event)
    if contract is not None:
        query = query.where(ChainEvent.contract == to_checksum_address(contract))
    if from_block is not None:
        query = query.where(ChainEvent.block_number >= from_block)
    if to_block is not None:
        query = query.where(ChainEvent.block_number <= to_block)
    for name, value in where.items():
        if isinstance(value, bool):
            query = query.where(ChainEvent.args[name].as_boolean() == value)
        elif isinstance(value, (int, str, bytes, bytearray)):
            is_address = isinstance(value, str) and is_hex_address(value)
            stored = to_checksum_address(value) if is_address else json_value(value)
            query = query.where(ChainEvent.args[name].as_string() == stored)
        else:
            raise TypeError(
                f"cannot filter on argument {name!r} by a {type(value).__name__}: give an int, str, bytes or bool"
            )
    return list(session.scalars(query.order_by(ChainEvent.block_number, ChainEvent.log_index)))


@dataclass(frozen=True)
class _EventType:
    contract_name: str
    abi: dict


@dataclass(frozen=True)
class _Page:
    rows: list[ChainEvent]
    records: list[dict[str, Any]]


class Indexer:
    """Stores the community contracts' events and keeps a reorg-checked cursor under `name`.

    One indexer (one `name`) per set of contracts and database: two names over
    the same contracts would try to store the same logs, which the unique
    (tx_hash, log_index) key refuses. Several processes running the same name
    are safe: each page commits only if the cursor is still where the page
    started, so the slower one drops its page and carries on from the new cursor.
    """

    def __init__(
        self,
        web3: Web3,
        deployment: Deployment,
        sessions: sessionmaker[Session],
        name: str = "contracts",
        confirmations: int = 0,
        max_blocks_per_poll: int = 2000,
        on_events: OnEvents | None = None,
    ):
        if not name or len(name) > 64:
            raise ValueError(f"indexer name must be 1 to 64 characters, got {name!r}")
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        if max_blocks_per_poll < 1:
            raise ValueError(f"max_blocks_per_poll must be >= 1, got {max_blocks_per_poll}")
        self.web3 = web3
        self.deployment = deployment
        self.sessions = sessions
        self.name = name
        self.confirmations = confirmations
        self.max_blocks_per_poll = max_blocks_per_poll
        self.on_events = on_events
        self.start_block = deployment.deploy_block
        self.contract_names = {
            to_checksum_address(c["address"]): name
            for name, c in deployment.contracts.items()
            if name in INDEXED_CONTRACTS or name == EURO
        }
        self.addresses = tuple(self.contract_names)
        self._event_types = self._event_types_by_topic(deployment)
        self._log_filters = self._build_log_filters(deployment)
        self._chain_checked = False

    # --- public ---

    def poll(self, stop_event: threading.Event | None = None) -> int:
        """Index every block up to head - confirmations, a page per transaction; return how many events were new.

        Raises NodeUnavailable when the node cannot be reached (pages already
        committed stay), and ChainMismatch when it serves another chain.
        """
        self._check_chain()
        added = rewinds = 0
        while stop_event is None or not stop_event.is_set():
            cursor = self.cursor()
            if cursor is not None and self._hash_at(cursor.number) != cursor.hash:
                rewinds += 1
                if rewinds > MAX_REWINDS_PER_POLL:  # a node that keeps changing its mind: try again later
                    log.warning("indexer %s: chain still reorganising; retrying next poll", self.name)
                    break
                self._rewind(cursor)
                continue
            page_added = self._index_page_after(cursor)
            if page_added is None:
                break
            added += page_added
        return added

    def run(self, stop_event: threading.Event, interval_s: float = 2.0) -> None:
        """Poll until `stop_event` is set; an unreachable node or database is logged and retried."""
        while not stop_event.is_set():
            try:
                self.poll(stop_event)
            except NodeUnavailable as exc:
                log.warning("indexer %s: %s; retrying in %.0f s", self.name, exc, interval_s)
            except OperationalError as exc:
                log.warning(
                    "indexer %s: database unavailable (%s); retrying in %.0f s", self.name, exc.orig, interval_s
                )
            except ChainMismatch:
                raise  # the wrong chain: retrying cannot help
            except Exception:
                log.exception("indexer %s: poll failed; retrying in %.0f s", self.name, interval_s)
            stop_event.wait(interval_s)

    def cursor(self) -> Block | None:
        """Return the last block fully indexed, or None before the first page."""
        with self.sessions() as session:
            return self._stored_cursor(session)

    # --- one page ---

    def _index_page_after(self, cursor: Block | None) -> int | None:
        """Index the page of blocks after `cursor`; return its new events, or None when caught up or stalled."""
        first = cursor.number + 1 if cursor is not None else self.start_block
        last = min(self._rpc(self.web3.eth.get_block_number) - self.confirmations, first + self.max_blocks_per_poll - 1)
        if last < first:
            return None
        last_hash = self._hash_at(last)
        logs = self._fetch_logs(first, last)
        # The node may have reorganised while answering: then the logs may
        # mix forks. Both ends unchanged means the range between them is too.
        if (
            last_hash is None
            or self._hash_at(last) != last_hash
            or (cursor is not None and self._hash_at(cursor.number) != cursor.hash)
        ):
            log.info("indexer %s: chain changed while reading blocks %d-%d; retrying next poll", self.name, first, last)
            return None
        page = self._decode(logs, first, last, last_hash)
        if page is None:
            return None
        if not self._commit(page, cursor, Block(last, last_hash)):
            return None
        if page.records and self.on_events is not None:
            self._notify(page.records)
        return len(page.rows)

    def _fetch_logs(self, first: int, last: int) -> list:
        found = {}
        for log_filter in self._log_filters:
            for entry in self._rpc(self.web3.eth.get_logs, {"fromBlock": first, "toBlock": last, **log_filter}):
                found[(bytes(entry["transactionHash"]), entry["logIndex"])] = entry
        return sorted(found.values(), key=lambda entry: (entry["blockNumber"], entry["logIndex"]))

    def _decode(self, logs: Sequence, first: int, last: int, last_hash: str) -> _Page | None:
        rows, records = [], []
        for entry in logs:
            block_hash = _hex(entry["blockHash"])
            if (
                entry.get("removed")
                or not first <= entry["blockNumber"] <= last
                or (entry["blockNumber"] == last and block_hash != last_hash)
            ):
                log.info("indexer %s: node returned a log off the chain it reported; retrying next poll", self.name)
                return None
            decoded = self._decode_log(entry)
            if decoded is None:
                continue
            contract_name, event_name, args = decoded
            row = ChainEvent(
                block_number=entry["blockNumber"],
                block_hash=block_hash,
                tx_hash=_hex(entry["transactionHash"]),
                log_index=entry["logIndex"],
                contract=entry["address"],
                event=event_name,
                args=args,
            )
            rows.append(row)
            records.append(event_record(row, contract_name))
        return _Page(rows, records)

    def _decode_log(self, entry: Mapping) -> tuple[str, str, dict] | None:
        """Return (contract name, event name, stored args), or None for a log the ABIs cannot read."""
        address = to_checksum_address(entry["address"])
        topics = entry["topics"]
        event_type = self._event_types.get((address, bytes(topics[0]))) if topics else None
        where = f"tx {_hex(entry['transactionHash'])} log {entry['logIndex']} of {address}"
        if event_type is None:
            log.warning(
                "indexer %s: skipping %s: no event in the deployment's ABI has topic %s",
                self.name,
                where,
                _hex(topics[0]) if topics else "(anonymous)",
            )
            return None
        try:
            decoded = get_event_data(_CODEC, event_type.abi, entry)
        except (Web3Exception, DecodingError) as exc:  # e.g. a topic count the ABI does not expect
            log.warning("indexer %s: skipping %s: cannot decode %s: %s", self.name, where, event_type.abi["name"], exc)
            return None
        return event_type.contract_name, decoded["event"], json_value(dict(decoded["args"]))

    def _commit(self, page: _Page, expected: Block | None, new_cursor: Block) -> bool:
        """Store the page's rows and move the cursor in one transaction, if nobody moved it first."""
        try:
            with self._write_session() as session:
                stored = self._stored_cursor(session, lock=True)
                if stored != expected:
                    log.info("indexer %s: cursor moved by another process; page %s dropped", self.name, new_cursor)
                    return False
                session.add_all(page.rows)
                self._store_cursor(session, new_cursor)
        except IntegrityError as exc:
            # Another process of this name stored its first page at the same moment, or another
            # indexer name stores these contracts' events (a set-up error, see the class docstring).
            log.warning(
                "indexer %s: page up to block %d refused by the database: %s", self.name, new_cursor.number, exc.orig
            )
            return False
        return True

    def _notify(self, records: list[dict[str, Any]]) -> None:
        try:
            self.on_events(records)
        except Exception:  # noqa: BLE001 - a listener's bug must not stop indexing; the events are stored
            log.exception("indexer %s: on_events failed for %d events", self.name, len(records))

    # --- reorgs ---

    def _rewind(self, cursor: Block) -> None:
        """Delete the events of blocks the chain no longer has and move the cursor to the last block it still has."""
        ancestor = self._common_ancestor(cursor)
        keep_to = ancestor.number if ancestor is not None else self.start_block - 1
        with self._write_session() as session:
            if self._stored_cursor(session, lock=True) != cursor:
                return  # another process already handled it
            stale = ChainEvent.block_number > keep_to
            if ancestor is not None:
                stale = or_(
                    stale, and_(ChainEvent.block_number == ancestor.number, ChainEvent.block_hash != ancestor.hash)
                )
            removed = session.execute(delete(ChainEvent).where(ChainEvent.contract.in_(self.addresses), stale))
            if ancestor is not None:
                self._store_cursor(session, ancestor)
            else:
                session.execute(delete(IndexerCursor).where(IndexerCursor.name == self.name))
        log.warning(
            "indexer %s: chain reorganised below block %d (hash %s): removed %d events above block %d",
            self.name,
            cursor.number,
            cursor.hash,
            removed.rowcount,
            keep_to,
        )

    def _common_ancestor(self, cursor: Block) -> Block | None:
        """Return the highest stored event block the chain still has, or None when it has none.

        A block hash commits to all its ancestors, so "still on the chain" is
        true up to the fork and false above it: a binary search finds the edge.
        """
        with self.sessions() as session:
            seen = [
                Block(number, block_hash)
                for number, block_hash in session.execute(
                    select(ChainEvent.block_number, ChainEvent.block_hash)
                    .distinct()
                    .where(ChainEvent.contract.in_(self.addresses), ChainEvent.block_number < cursor.number)
                    .order_by(ChainEvent.block_number, ChainEvent.block_hash)
                )
            ]
        low, high = 0, len(seen)  # seen[:low] are on the chain, seen[high:] are not
        while low < high:
            middle = (low + high) // 2
            if self._hash_at(seen[middle].number) == seen[middle].hash:
                low = middle + 1
            else:
                high = middle
        return seen[low - 1] if low else None

    # --- storage ---

    @contextmanager
    def _write_session(self) -> Iterator[Session]:
        """One write transaction, committed on success; SQLite takes its write lock at BEGIN."""
        with self.sessions() as session, session.begin():
            # The cursor check and the write must be one step, or two indexers could both pass the check.
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session

    def _stored_cursor(self, session: Session, lock: bool = False) -> Block | None:
        query = select(IndexerCursor).where(IndexerCursor.name == self.name)
        if lock:
            query = query.with_for_update()
        stored = session.scalar(query)
        return None if stored is None else Block(stored.last_block, stored.last_block_hash)

    def _store_cursor(self, session: Session, block: Block) -> None:
        stored = session.get(IndexerCursor, self.name)
        if stored is None:
            session.add(IndexerCursor(name=self.name, last_block=block.number, last_block_hash=block.hash))
        else:
            stored.last_block, stored.last_block_hash = block.number, block.hash

    # --- chain ---

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        chain_id = self._rpc(lambda: self.web3.eth.chain_id)
        if chain_id != self.deployment.chain_id:
            raise ChainMismatch(
                f"the node serves chain {chain_id}, the deployment is on chain {self.deployment.chain_id}"
            )
        self._chain_checked = True

    def _hash_at(self, number: int) -> str | None:
        """Return the chain's block hash at `number`, or None when the chain is shorter."""
        if number < 0:
            return None
        try:
            return _hex(self._rpc(self.web3.eth.get_block, number)["hash"])
        except BlockNotFound:
            return None

    def _rpc(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call a web3 method; an unreachable or failing node becomes NodeUnavailable (a missing block does not)."""
        try:
            return method(*args)
        except BlockNotFound:
            raise
        except (OSError, Web3Exception) as exc:  # requests' errors are OSErrors
            raise NodeUnavailable(f"JSON-RPC node unavailable: {exc}") from exc

    # --- set-up ---

    def _event_types_by_topic(self, deployment: Deployment) -> dict[tuple[str, bytes], _EventType]:
        event_types = {}
        for address, contract_name in self.contract_names.items():
            for item in deployment.contracts[contract_name]["abi"]:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                if len(item["name"]) > MAX_EVENT_NAME_CHARS:
                    raise ValueError(f"event name {item['name']!r} of {contract_name} is too long to store")
                event_types[(address, bytes(event_abi_to_log_topic(item)))] = _EventType(contract_name, item)
        return event_types

    def _build_log_filters(self, deployment: Deployment) -> list[dict[str, Any]]:
        """eth_getLogs filters (without the block range) for everything indexed.

        The community's own contracts: every event. The test euro of a local
        chain too. A real stablecoin has the whole world's transfers, so only
        those into or out of the market (escrow, deposits, withdrawals) are read.
        """
        own = [to_checksum_address(deployment.address(name)) for name in INDEXED_CONTRACTS]
        filters: list[dict[str, Any]] = []
        euro = deployment.contracts.get(EURO)
        if euro is not None and euro.get("testToken"):
            own.append(to_checksum_address(euro["address"]))
        elif euro is not None:
            euro_address = to_checksum_address(euro["address"])
            market_topic = HexBytes(bytes(12) + bytes.fromhex(deployment.address("EnergyMarket")[2:]))
            filters.append({"address": euro_address, "topics": [TRANSFER_TOPIC, market_topic]})
            filters.append({"address": euro_address, "topics": [TRANSFER_TOPIC, None, market_topic]})
        return [{"address": own}, *filters]


def _hex(value: bytes | str) -> str:
    """Return a hash as lowercase 0x hex."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()
