"""Many contract reads at chosen blocks in few requests: JSON-RPC batches of eth_call.

One eth_call each is one round trip each (and web3.py adds an eth_chainId per
call). Here the calls travel together, `calls_per_batch` per HTTP request
(public nodes cap a batch; 1 sends them one by one). The auditor reads each
settled interval's accounts and balances this way, and the settler the
planner's inputs (orders, accounts, token balances: market_state.py).

This plays Multicall's part without needing a Multicall3 contract: Anvil has
none, and a contract deployed today does not exist at the old blocks an
audit reads.

Two ways to take the answers:
  * `call_many`: a call the node cannot answer at its block (a node that
    pruned that state) comes back as None, for the caller to replay from
    events; a refused batch raises BatchRefused (the auditor's choice: it
    says so and the operator picks a smaller --calls-per-batch).
  * `call_all` / `Batcher`: every call must be answered (CallFailed names
    the first that was not); after a refused batch the batch is halved, down
    to one call per request, so a node that takes no batches at all is still
    read, one call per round trip (the settler's choice: it must settle on
    whichever node it is given).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from eth_abi import decode, encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from requests.exceptions import HTTPError
from web3 import Web3

log = logging.getLogger(__name__)

DEFAULT_CALLS_PER_BATCH = 100


class BatchRefused(OSError):
    """The node refused a whole batch (not one call in it)."""


class CallFailed(OSError):
    """The node answered one call of a batch with an error (or nothing)."""


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

    def decode(self, result: str) -> tuple:
        return tuple(decode(self.output_types(), bytes.fromhex(result[2:])))


@lru_cache(maxsize=256)
def _abi_of(contract, function: str) -> tuple[bytes, list[str], list[str]]:
    """(selector, input types, output types): web3.py's encode_abi looks the function up again,
    hashing every signature of the ABI, on each call."""
    abi = contract.get_function_by_name(function).abi
    return function_abi_to_4byte_selector(abi), get_abi_input_types(abi), get_abi_output_types(abi)


def _answered(response: dict) -> bool:
    return "error" not in response and response.get("result") not in (None, "0x")


def _send(web3: Web3, calls: list[Call]) -> list[dict]:
    """The node's raw responses to `calls`, in one request (a batch unless there is one call)."""
    requests = [call.request() for call in calls]
    if len(requests) == 1:
        return [web3.provider.make_request(*requests[0])]
    try:
        responses = web3.provider.make_batch_request(requests)
    except HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        # 4xx to a batch: the node will not take it (too large, or no batches at all). 429 is a rate limit.
        if status is None or not 400 <= status < 500 or status == 429:
            raise
        raise BatchRefused(f"the node answered HTTP {status} to a batch of {len(requests)} eth_calls") from error
    if not isinstance(responses, list):  # one error object for the whole batch
        raise BatchRefused(
            f"the node refused a batch of {len(requests)} eth_calls ({responses.get('error')}); "
            "a smaller batch may pass"
        )
    if len(responses) != len(requests):
        raise BatchRefused(f"the node answered {len(responses)} of a batch of {len(requests)} eth_calls")
    return responses


def _chunks(calls: list[Call], size: int) -> Iterator[list[Call]]:
    if size < 1:
        raise ValueError(f"calls_per_batch must be at least 1, got {size}")
    for start in range(0, len(calls), size):
        yield calls[start : start + size]


def call_many(web3: Web3, calls: list[Call], calls_per_batch: int = DEFAULT_CALLS_PER_BATCH) -> list[tuple | None]:
    """Each call's decoded outputs (a tuple), or None where the node answered with an error."""
    results: list[tuple | None] = []
    for chunk in _chunks(calls, calls_per_batch):
        for call, response in zip(chunk, _send(web3, chunk), strict=True):
            results.append(call.decode(response["result"]) if _answered(response) else None)
    return results


def call_all(web3: Web3, calls: list[Call], calls_per_batch: int = DEFAULT_CALLS_PER_BATCH) -> list[tuple]:
    """Each call's decoded outputs; raises CallFailed where one has none (see Batcher)."""
    return Batcher(web3, calls_per_batch).call_all(calls)


class Batcher:
    """`call_all` that halves its batch when the node refuses one (logged), down to one call per request,
    and keeps the size that passed for its next calls: a node that takes no batches costs a few refused
    requests once, not one per batch."""

    def __init__(self, web3: Web3, calls_per_batch: int = DEFAULT_CALLS_PER_BATCH):
        if calls_per_batch < 1:
            raise ValueError(f"calls_per_batch must be at least 1, got {calls_per_batch}")
        self.web3 = web3
        self.calls_per_batch = calls_per_batch

    def call_all(self, calls: list[Call]) -> list[tuple]:
        results: list[tuple] = []
        while len(results) < len(calls):
            chunk = calls[len(results) : len(results) + self.calls_per_batch]
            try:
                responses = _send(self.web3, chunk)
            except BatchRefused as refusal:  # a chunk of one is never a batch, so never refused
                self.calls_per_batch = max(1, len(chunk) // 2)
                log.warning("%s; sending batches of %d calls from now on", refusal, self.calls_per_batch)
                continue
            for call, response in zip(chunk, responses, strict=True):
                if not _answered(response):
                    raise CallFailed(
                        f"{call.function}{call.args} at block {call.block} on {call.contract.address}: "
                        f"the node answered {response.get('error') or response.get('result')!r}"
                    )
                results.append(call.decode(response["result"]))
        return results
