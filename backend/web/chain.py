"""What the web app reads from the chain: roles, balances, tariffs, token supply; and unsigned transactions.

The chain is the authority for who is a household or the admin and for
balances; the database holds history. Values that every dashboard request
would ask for (tariffs, supply) are cached for a few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

from backend.chain.batch import Call, call_all
from backend.chain.deploy import Deployment

__all__ = ["ChainGateway", "ChainUnavailable", "Roles"]

T = TypeVar("T")
DEFAULT_ADMIN_ROLE = b"\x00" * 32
# The head block is read again after this long: a new block's balances show within it (blocks come every
# 5 s on Gnosis and EWC). The balances of at most BALANCES_CACHED households are kept per block.
HEAD_TTL_S = 1.0
BALANCES_CACHED = 20_000


class ChainUnavailable(RuntimeError):
    """The node did not answer, or answered with an error."""


@dataclass(frozen=True)
class Roles:
    household: bool  # a wallet registered in CommunityRegistry
    active: bool  # its household is active (may trade)
    admin: bool  # holds the registry's DEFAULT_ADMIN_ROLE

    def names(self) -> list[str]:
        return [name for name, held in (("household", self.household), ("admin", self.admin)) if held]


class ChainGateway:
    """Contract reads through one web3 connection; every failure becomes ChainUnavailable."""

    def __init__(self, rpc_url: str, deployment: Deployment, timeout_s: float = 5.0, head_ttl_s: float = HEAD_TTL_S):
        self.deployment = deployment
        self.web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.registry = deployment.contract(self.web3, "CommunityRegistry")
        self.token = deployment.contract(self.web3, "EnergyToken")
        self.euro = deployment.contract(self.web3, "Euro")
        self.market = deployment.contract(self.web3, "EnergyMarket")
        self.head_ttl_s = head_ttl_s
        self._cache: dict[str, tuple[float, Any]] = {}
        self._balances_block: int | None = None
        self._balances: dict[str, dict[str, int]] = {}  # at _balances_block, by address
        self._lock = threading.Lock()

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def interval_seconds(self) -> int:
        return int(self.deployment.settings.get("intervalSeconds", 900))

    def _call(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except (OSError, Web3Exception, ValueError) as exc:
            raise ChainUnavailable(f"the chain did not answer: {type(exc).__name__}: {exc}") from exc

    def _cached(self, key: str, ttl_s: float, read: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = self._call(read)
        with self._lock:
            self._cache[key] = (now + ttl_s, value)
        return value

    def roles(self, address: str) -> Roles:
        """Read the wallet's roles from the registry."""

        def read() -> Roles:
            household = self.registry.functions.household(address).call()
            registered = int(household[0], 16) != 0 if isinstance(household[0], str) else bool(household[0])
            admin = self.registry.functions.hasRole(DEFAULT_ADMIN_ROLE, address).call()
            return Roles(household=registered, active=registered and bool(household[2]), admin=bool(admin))

        return self._call(read)

    def household(self, address: str) -> dict | None:
        """Return the registry's record of a household (meter, capacityW, active), or None."""

        def read() -> dict | None:
            meter, capacity_w, active = self.registry.functions.household(address).call()
            if int(meter, 16) == 0:
                return None
            return {"meter": Web3.to_checksum_address(meter), "capacityW": capacity_w, "active": bool(active)}

        return self._call(read)

    def head_block(self) -> int:
        """Return the latest block number (cached HEAD_TTL_S: what "now" means for the balance cache)."""
        return self._cached("head_block", self.head_ttl_s, lambda: self.web3.eth.block_number)

    def balances(self, address: str) -> dict[str, int]:
        """Return the household's kWh tokens (Wh), wallet euros and market account (base units) at the head block.

        Balances change only with a block, so they are read at the head block (pinned: one JSON-RPC batch
        of eth_calls at that number, one round trip) and kept until the head moves: a page reloaded, or
        read by several tabs, within a block costs no chain read. The head is at most head_ttl_s old
        (the browser reads its own balances from the chain after a trade; this page polls).
        """
        block = self._call(self.head_block)
        with self._lock:
            if self._balances_block != block:
                self._balances_block, self._balances = block, {}
            hit = self._balances.get(address)
        if hit is not None:
            return dict(hit)
        # Encoded through backend.chain.batch (selectors looked up once): 1.3 ms of CPU for the three here,
        # 6.5 ms through web3.py's contract calls, most of a household page's time.
        ((balance, auto_sell, auto_buy),), (energy_wh,), (wallet_euro,) = self._call(
            lambda: call_all(
                self.web3,
                [
                    Call(self.market, "getAccount", (address,), block),
                    Call(self.token, "balanceOf", (address,), block),
                    Call(self.euro, "balanceOf", (address,), block),
                ],
            )
        )
        value = {
            "energyWh": energy_wh,
            "walletEuro": wallet_euro,
            "marketEuro": balance,
            "autoSellPrice": auto_sell,
            "autoBuyPrice": auto_buy,
        }
        with self._lock:
            if self._balances_block == block and len(self._balances) < BALANCES_CACHED:
                self._balances[address] = value
        return dict(value)

    def tariffs(self) -> dict[str, int]:
        """Return the registry's retail and feed-in prices (cached 30 s)."""
        return self._cached(
            "tariffs",
            30.0,
            lambda: {
                "retailPrice": self.registry.functions.retailPrice().call(),
                "feedInPrice": self.registry.functions.feedInPrice().call(),
            },
        )

    def price_bounds(self, interval_id: int) -> dict[str, int] | None:
        """Return the bounds of the tariff band in force in ``interval_id``, the ones ``placeOrder`` checks an
        order's limit against when the order starts there (cached 30 s); None when the registry has no band for
        that interval yet (its band calendar ends earlier)."""

        def read() -> dict[str, int] | None:
            try:
                feed_in, retail = self.registry.functions.priceBounds(interval_id).call()
            except ContractLogicError:  # RegistryNoBand: the calendar has not been pushed that far
                return None
            return {"feedInPrice": feed_in, "retailPrice": retail}

        with self._lock:  # one entry per interval asked: drop the expired ones before adding more
            now = time.monotonic()
            for key in [k for k, (expires, _) in self._cache.items() if k.startswith("bounds:") and expires <= now]:
                del self._cache[key]
        return self._cached(f"bounds:{interval_id}", 30.0, read)

    def token_supply(self) -> dict[str, int]:
        """Return the kWh token supply and the part the market escrows for open asks (cached 5 s)."""
        return self._cached(
            "supply",
            5.0,
            lambda: {
                "totalWh": self.token.functions.totalSupply().call(),
                "escrowedWh": self.token.functions.balanceOf(self.market.address).call(),
            },
        )

    def current_interval(self) -> int:
        """Return the interval the next block will be in (the later of the wall clock and the last block)."""
        latest = self._cached("latest_block_ts", 2.0, lambda: self.web3.eth.get_block("latest")["timestamp"])
        return max(int(time.time()), int(latest)) // self.interval_seconds

    def transaction(self, contract_name: str, function: str, args: list) -> dict[str, Any]:
        """Return an unsigned call {chainId, to, data} for the wallet to send."""
        contract = {
            "CommunityRegistry": self.registry,
            "EnergyMarket": self.market,
            "EnergyToken": self.token,
            "Euro": self.euro,
        }[contract_name]
        return {
            "chainId": self.chain_id,
            "to": contract.address,
            "data": contract.encode_abi(function, args=args),
            "value": "0x0",
        }

    def ping(self) -> int:
        """Return the latest block number."""
        return self._call(lambda: self.web3.eth.block_number)
