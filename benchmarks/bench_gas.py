"""Gas of settling one interval, against a naive one-transaction-per-reading design.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_gas.py`). Starts its
own Anvil, deploys the real contracts, registers N households and measures:

  * settleInterval with entries only (no trades), per household-interval,
    in steady state (every household already holds a token balance slot);
  * the same interval with auto orders traded, cleared by the real solver,
    and the marginal gas per fill (one order's allocation);
  * 500 households, chunked under EIP-7825's 16.8M gas cap per transaction;
  * the naive design: one `mint` or `burn` transaction per household reading.

Targets (issue 2): <= 15,000 gas per household-interval at 100 households,
<= 40,000 gas per fill, 500 households within 30M gas.
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import write_results  # noqa: E402
from eth_account import Account  # noqa: E402
from web3 import Web3  # noqa: E402

from backend.chain.anvil import rpc_call, start_anvil  # noqa: E402
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, deploy_community  # noqa: E402
from backend.chain.market_state import read_accounts, read_orders, read_token_balances  # noqa: E402
from backend.market.chunking import split_settlement  # noqa: E402
from backend.market.orderbook import MeteredEntry, Tariffs  # noqa: E402
from backend.market.solver import clear_interval  # noqa: E402

TX_GAS_CAP = 16_777_216  # EIP-7825
INTERVAL = 900
ROOT = b"\x42" * 32
SIZES = (10, 100, 500)


class Bench:
    def __init__(self) -> None:
        self.node = start_anvil(extra_args=["--auto-impersonate", "--gas-limit", "60000000"])
        self.web3 = Web3(Web3.HTTPProvider(self.node.url, request_kwargs={"timeout": 120}))
        self.admin = Account.from_key(ANVIL_DEPLOYER_KEY)
        deployment = deploy_community(self.web3, self.admin, CommunitySettings(interval_seconds=INTERVAL))
        self.registry = deployment.contract(self.web3, "CommunityRegistry")
        self.token = deployment.contract(self.web3, "EnergyToken")
        self.euro = deployment.contract(self.web3, "Euro")
        self.market = deployment.contract(self.web3, "EnergyMarket")
        self.households: list[str] = []
        self.interval = self._now() // INTERVAL

    # --- plumbing (anvil auto-impersonation: any sender, no signing) ---

    def send(self, function, sender: str, gas: int = 15_000_000) -> dict:
        tx_hash = function.transact({"from": sender, "gas": gas})
        receipt = self.web3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"reverted: {function.fn_name}")
        return receipt

    def _now(self) -> int:
        return self.web3.eth.get_block("latest")["timestamp"]

    def next_interval(self) -> int:
        """Moves time past the current interval and returns the ended interval's id."""
        ended = self._now() // INTERVAL
        rpc_call(self.node.url, "evm_setNextBlockTimestamp", [(ended + 1) * INTERVAL + 1])
        rpc_call(self.node.url, "evm_mine")
        return ended

    def add_households(self, count: int) -> None:
        rng = random.Random(len(self.households))
        for _ in range(count):
            wallet = Account.create(extra_entropy=str(rng.random())).address
            meter = Account.create(extra_entropy=str(rng.random())).address
            rpc_call(self.node.url, "anvil_setBalance", [wallet, hex(10**20)])
            self.send(self.registry.functions.registerHousehold(wallet, meter, 10_000), self.admin.address)
            self.send(self.euro.functions.faucet(wallet), wallet)
            self.send(self.euro.functions.approve(self.market.address, 2**255), wallet)
            self.households.append(wallet)

    def set_auto_orders(self, households: list[str]) -> None:
        for index, wallet in enumerate(households):
            self.send(self.market.functions.setAutoSell(60_000 + 1_000 * (index % 20)), wallet)
            self.send(self.market.functions.setAutoBuy(180_000 - 1_000 * (index % 20)), wallet)
            self.send(self.market.functions.deposit(100 * 10**6), wallet)

    def metered(self, households: list[str], seed: int) -> list[MeteredEntry]:
        """Half producers (surplus), half consumers (deficit), realistic 15-min Wh."""
        rng = random.Random(seed)
        entries = []
        for index, wallet in enumerate(households):
            if index % 2 == 0:
                entries.append(MeteredEntry(wallet, rng.randint(600, 1_500), rng.randint(100, 500)))
            else:
                entries.append(MeteredEntry(wallet, rng.randint(0, 100), rng.randint(300, 900)))
        return entries

    def clear(self, interval: int, entries: list[MeteredEntry], households: list[str], orders=()):
        accounts = read_accounts(self.market, households)
        balances = read_token_balances(self.token, households)
        return clear_interval(interval, entries, list(orders), accounts, Tariffs(200_000, 50_000), balances)

    def settle(self, clearing, orders=()) -> list[dict]:
        """Sends the settlement (chunked when it would not fit one tx); returns receipts."""
        chunks = split_settlement(clearing, {o.order_id: o for o in orders})
        entries = [e.as_tuple() for e in clearing.entries]
        fills = [f.as_tuple() for f in clearing.fills]
        if len(chunks) == 1:
            call = self.market.functions.settleInterval(
                clearing.interval_id, ROOT, entries, fills, clearing.clearing_price
            )
            return [self.send(call, self.admin.address, gas=TX_GAS_CAP)]
        receipts = []
        for chunk in chunks:
            call = self.market.functions.settleChunk(
                clearing.interval_id,
                ROOT,
                [e.as_tuple() for e in chunk.entries],
                [f.as_tuple() for f in chunk.fills],
                clearing.clearing_price,
            )
            receipts.append(self.send(call, self.admin.address, gas=TX_GAS_CAP))
        receipts.append(self.send(self.market.functions.closeInterval(clearing.interval_id), self.admin.address))
        return receipts

    def settle_without_trading(self, households: list[str], seed: int) -> tuple[int, int]:
        interval = self.next_interval()
        entries = self.metered(households, seed)
        clearing = self.clear(interval, entries, [])  # no accounts: no auto orders, no fills
        assert not clearing.fills
        receipts = self.settle(clearing)
        return sum(r["gasUsed"] for r in receipts), max(r["gasUsed"] for r in receipts)

    def settle_with_trading(self, households: list[str], seed: int) -> tuple[int, int, int, int]:
        interval = self.next_interval()
        entries = self.metered(households, seed)
        clearing = self.clear(interval, entries, households)
        receipts = self.settle(clearing)
        return (
            sum(r["gasUsed"] for r in receipts),
            max(r["gasUsed"] for r in receipts),
            len(clearing.fills),
            len(receipts),
        )

    def settle_with_resting_orders(self, households: list[str], seed: int) -> tuple[int, int]:
        """Producers holding credit ask, consumers bid; auto orders are off. Returns (gas, fills)."""
        now = self._now() // INTERVAL
        for index, wallet in enumerate(households):
            self.send(self.market.functions.setAutoSell(0), wallet)
            self.send(self.market.functions.setAutoBuy(0), wallet)
            if index % 2 == 0:
                self.send(self.token.functions.approve(self.market.address, 2**255), wallet)
                held = self.token.functions.balanceOf(wallet).call()
                self.send(self.market.functions.placeOrder(1, 70_000 + index * 100, held // 2, now, now), wallet)
            else:
                self.send(self.market.functions.placeOrder(0, 190_000 - index * 100, 400, now, now), wallet)
        interval = self.next_interval()
        orders = read_orders(self.market)
        clearing = self.clear(interval, self.metered(households, seed), households, orders)
        receipts = self.settle(clearing, orders)
        for index, wallet in enumerate(households):  # auto orders back on, for the larger sizes
            self.send(self.market.functions.setAutoSell(60_000 + 1_000 * (index % 20)), wallet)
            self.send(self.market.functions.setAutoBuy(180_000 - 1_000 * (index % 20)), wallet)
        return sum(r["gasUsed"] for r in receipts), len(clearing.fills)

    def naive_per_reading(self, households: list[str], seed: int) -> float:
        """One mint (surplus) or burn (deficit) transaction per household reading."""
        settlement_role = self.token.functions.SETTLEMENT_ROLE().call()
        self.send(self.token.functions.grantRole(settlement_role, self.admin.address), self.admin.address)
        gas = []
        for entry in self.metered(households, seed):
            if entry.surplus_wh:
                call = self.token.functions.mint(entry.household, entry.surplus_wh)
            else:
                held = self.token.functions.balanceOf(entry.household).call()
                call = self.token.functions.burn(entry.household, min(held, entry.deficit_wh))
            gas.append(self.send(call, self.admin.address)["gasUsed"])
        return statistics.mean(gas)


def main() -> None:
    bench = Bench()
    figures: dict[str, float] = {}
    details: dict = {"tx_gas_cap": TX_GAS_CAP, "sizes": {}}
    try:
        for size in SIZES:
            bench.add_households(size - len(bench.households))
            households = bench.households[:size]
            # Warm-up: every household gets a token balance slot (steady state).
            bench.settle_without_trading(households, seed=1)
            bench.settle_without_trading(households, seed=2)
            quiet_total, quiet_max_tx = bench.settle_without_trading(households, seed=3)

            bench.set_auto_orders([h for h in households if h not in details.get("_auto", set())])
            details.setdefault("_auto", set()).update(households)
            bench.settle_with_trading(households, seed=4)  # warm-up: account slots exist
            trade_total, trade_max_tx, fills, transactions = bench.settle_with_trading(households, seed=3)
            quiet_again, _ = bench.settle_without_trading(households, seed=3)

            per_household = quiet_total / size
            per_fill = (trade_total - quiet_again) / max(fills, 1)
            figures[f"gas_per_household_interval_{size}"] = round(per_household)
            details["sizes"][size] = {
                "settle_without_fills_total": quiet_total,
                "settle_with_fills_total": trade_total,
                "fills": fills,
                "transactions_with_fills": transactions,
                "largest_transaction": max(quiet_max_tx, trade_max_tx),
                "with_fills_per_household_interval": round(trade_total / size),
                "marginal_gas_per_fill": round(per_fill),
            }
            print(
                f"{size:>4} households: {per_household:>8,.0f} gas/household-interval without fills, "
                f"{trade_total / size:>8,.0f} with {fills} fills ({per_fill:,.0f} gas/fill), "
                f"{transactions} tx, largest tx {max(quiet_max_tx, trade_max_tx):,}"
            )
            if size == 100:
                resting_total, resting_fills = bench.settle_with_resting_orders(households, seed=3)
                quiet_third, _ = bench.settle_without_trading(households, seed=3)
                per_resting_fill = (resting_total - quiet_third) / max(resting_fills, 1)
                details["sizes"][size]["resting_fills"] = resting_fills
                details["sizes"][size]["marginal_gas_per_resting_order_fill"] = round(per_resting_fill)
                details["sizes"][size]["marginal_gas_per_auto_fill"] = round(per_fill)
                print(f"      resting orders: {resting_fills} fills, {per_resting_fill:,.0f} gas per fill")
                # the figure is the dearer kind of fill: a resting order's
                figures["gas_per_fill"] = round(max(per_fill, per_resting_fill))
            if size == 500:
                figures["gas_500_households_total"] = trade_total

        naive = bench.naive_per_reading(bench.households[:100], seed=3)
        figures["naive_gas_per_household_interval"] = round(naive)
    finally:
        bench.node.stop()
    details.pop("_auto", None)

    ratio = figures["gas_per_household_interval_100"] / figures["naive_gas_per_household_interval"]
    details["ratio_batched_to_naive_at_100"] = round(ratio, 3)
    print(
        f"naive: {figures['naive_gas_per_household_interval']:,} gas per reading transaction; "
        f"batched/naive at 100 households = {ratio:.2f}"
    )
    print(
        f"targets: <=15,000/household-interval at 100 -> {figures['gas_per_household_interval_100']:,}; "
        f"<=40,000/fill -> {figures['gas_per_fill']:,}; 500 households <=30M -> "
        f"{figures['gas_500_households_total']:,}"
    )
    write_results("gas", figures, details)


if __name__ == "__main__":
    main()
