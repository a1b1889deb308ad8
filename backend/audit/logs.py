"""Every log of the audited contracts, read once: one eth_getLogs per block window for all of them.

Asking per event type (web3.py's `contract.events.X.get_logs`) costs one
request per event and window, and web3.py's log formatting and decoding cost
more than the node's answer on a long history. Here one request per window
names every contract, and each log is decoded once with eth-abi from the
event's ABI (topics for indexed arguments, data for the rest). A log whose
topic no ABI knows, or that does not decode, is an error: the audit cannot
vouch for a history it cannot read.

Indexed addresses and unsigned integers (most topics) are read straight from
their 32 bytes once their padding is seen to be zero; anything else, padding
that is not zero included, goes through eth-abi, which decodes it or says what
is wrong. Addresses are checksummed by the protocol's cached to_checksum: a
community's few hundred addresses recur in every window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from eth_abi import decode
from eth_utils import event_abi_to_log_topic
from eth_utils.abi import collapse_if_tuple
from web3 import Web3

from backend.protocol.readings import to_checksum


class LogsUnreadable(ValueError):
    """A log of an audited contract that its ABI cannot decode."""


@dataclass(frozen=True)
class _EventDecoder:
    contract: str
    name: str
    indexed: list[tuple[str, str]]  # (name, type) in topic order
    data_names: list[str]
    data_types: list[str]

    def args(self, topics: list[str], data: str) -> dict:
        if len(topics) != len(self.indexed) + 1:
            raise LogsUnreadable(
                f"{self.contract}.{self.name}: {len(topics) - 1} indexed topics, the ABI says {len(self.indexed)}"
            )
        args = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _topic_value(kind, topic)
        values = decode(self.data_types, bytes.fromhex(data[2:])) if self.data_types else ()
        args.update(
            zip(
                self.data_names,
                (_normalise(kind, v) for kind, v in zip(self.data_types, values, strict=True)),
                strict=True,
            )
        )
        return args


_ZERO_PADDING = bytes(32)


def _topic_value(kind: str, topic: str):
    raw = bytes.fromhex(topic[2:])
    if kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("("):
        return raw  # an indexed dynamic value is only its keccak hash
    if len(raw) == 32:
        if kind == "address" and raw[:12] == _ZERO_PADDING[:12]:
            return to_checksum("0x" + raw[12:].hex())
        if kind == "bytes32":
            return raw
        bits = _UINT_BITS.get(kind)
        if bits is not None and raw[: 32 - bits // 8] == _ZERO_PADDING[: 32 - bits // 8]:
            return int.from_bytes(raw, "big")
    return _normalise(kind, decode([kind], raw)[0])


_UINT_BITS = {f"uint{bits}": bits for bits in range(8, 257, 8)}


def _normalise(kind: str, value):
    return to_checksum(value) if kind == "address" else value


def _decoders(contracts: dict) -> dict[tuple[str, str], _EventDecoder]:
    """(lower-case address, topic0 hex) -> decoder, for every event of the given contracts."""
    decoders = {}
    for contract_name, contract in contracts.items():
        for item in contract.abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            inputs = item["inputs"]
            topic = "0x" + event_abi_to_log_topic(item).hex()
            decoders[(contract.address.lower(), topic)] = _EventDecoder(
                contract_name,
                item["name"],
                [(i["name"], collapse_if_tuple(i)) for i in inputs if i["indexed"]],
                [i["name"] for i in inputs if not i["indexed"]],
                [collapse_if_tuple(i) for i in inputs if not i["indexed"]],
            )
    return decoders


def read_logs(web3: Web3, contracts: dict, first_block: int, last_block: int, blocks_per_query: int) -> dict:
    """{(contract name, event name): [log, ...]} in chain order. A log is a dict with args,
    event, blockNumber, logIndex, transactionIndex and transactionHash (0x hex), as web3.py's."""
    decoders = _decoders(contracts)
    addresses = [contract.address for contract in contracts.values()]
    found: dict[tuple[str, str], list] = defaultdict(list)
    start = first_block
    while start <= last_block:
        end = min(start + blocks_per_query - 1, last_block)
        query = {"address": addresses, "fromBlock": hex(start), "toBlock": hex(end)}
        response = web3.provider.make_request("eth_getLogs", [query])
        if "error" in response:
            raise LogsUnreadable(f"eth_getLogs for blocks {start}-{end} failed: {response['error']}")
        for raw in response["result"]:
            decoder = decoders.get((raw["address"].lower(), raw["topics"][0] if raw["topics"] else None))
            if decoder is None:
                raise LogsUnreadable(
                    f"log {raw['logIndex']} of tx {raw['transactionHash']} at {raw['address']}: no event of the "
                    "deployment's ABIs has its topic"
                )
            found[(decoder.contract, decoder.name)].append(
                {
                    "event": decoder.name,
                    "args": decoder.args(raw["topics"], raw["data"]),
                    "blockNumber": int(raw["blockNumber"], 16),
                    "logIndex": int(raw["logIndex"], 16),
                    "transactionIndex": int(raw["transactionIndex"], 16),
                    "transactionHash": raw["transactionHash"].lower(),
                }
            )
        start = end + 1
    for logs in found.values():
        logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
    return found
