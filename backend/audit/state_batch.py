"""Many contract reads at chosen blocks in few requests: JSON-RPC batches of eth_call.

The audit reads, per settled interval, each household's market account and
token balance, the interval's price bounds and the token's totalSupply. One
eth_call each is one round trip each (and web3.py adds an eth_chainId per
call), which made the audit slower than reading the whole history. Here the
calls of many intervals travel together, `calls_per_batch` per HTTP request
(public nodes cap a batch; 1 sends them one by one).

This plays Multicall's part without needing a Multicall3 contract: Anvil has
none, and a contract deployed today does not exist at the old blocks an
audit reads. A call the node cannot answer at its block (a node that pruned
that state) comes back as None, for the caller to replay from events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from eth_abi import decode, encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from web3 import Web3


class BatchRefused(OSError):
    """The node refused a whole batch (not one call in it)."""


@dataclass(frozen=True)
class Call:
    contract: object  # a web3 Contract
    function: str
    args: tuple
    block: int

    def request(self) -> tuple[str, list]:
        selector, input_types, _ = _abi_of(self.contract, self.function)
        data = "0x" + (selector + encode(input_types, list(self.args))).hex()
        return "eth_call", [{"to": self.contract.address, "data": data}, hex(self.block)]

    def output_types(self) -> list[str]:
        return _abi_of(self.contract, self.function)[2]


@lru_cache(maxsize=256)
def _abi_of(contract, function: str) -> tuple[bytes, list[str], list[str]]:
    """(selector, input types, output types): web3.py's encode_abi looks the function up again,
    hashing every signature of the ABI, on each call."""
    abi = contract.get_function_by_name(function).abi
    return function_abi_to_4byte_selector(abi), get_abi_input_types(abi), get_abi_output_types(abi)


def call_many(web3: Web3, calls: list[Call], calls_per_batch: int = 100) -> list[tuple | None]:
    """Each call's decoded outputs (a tuple), or None where the node answered with an error."""
    results: list[tuple | None] = []
    for start in range(0, len(calls), calls_per_batch):
        chunk = calls[start : start + calls_per_batch]
        requests = [call.request() for call in chunk]
        if len(requests) == 1:
            responses = [web3.provider.make_request(*requests[0])]
        else:
            responses = web3.provider.make_batch_request(requests)
            if not isinstance(responses, list):
                raise BatchRefused(
                    f"the node refused a batch of {len(requests)} eth_calls ({responses.get('error')}); "
                    "a smaller --calls-per-batch may pass"
                )
        for call, response in zip(chunk, responses, strict=True):
            if "error" in response or response.get("result") in (None, "0x"):
                results.append(None)
                continue
            results.append(tuple(decode(call.output_types(), bytes.fromhex(response["result"][2:]))))
    return results
