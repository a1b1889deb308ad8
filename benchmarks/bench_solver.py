"""Pay-as-clear solver time: 10,000 resting orders plus 1,000 auto orders.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_solver.py`).
Target (issue 2): <= 50 ms median on this machine. Reported against the
target as a ratio, with the median of repeated runs (the machine is noisy).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import median_ms, write_results  # noqa: E402

from backend.market.orderbook import Account, MeteredEntry, RestingOrder, Side, Tariffs  # noqa: E402
from backend.market.solver import clear_interval  # noqa: E402

TARGET_MS = 50.0
INTERVAL = 1_000


def community(orders: int = 10_000, autos: int = 1_000, seed: int = 7):
    rng = random.Random(seed)
    households = [f"0x{rng.getrandbits(160):040x}" for _ in range(autos)]
    entries, accounts = [], {}
    for index, household in enumerate(households):
        if index % 2:
            entries.append(MeteredEntry(household, rng.randint(500, 2_000), rng.randint(0, 400)))
        else:
            entries.append(MeteredEntry(household, rng.randint(0, 200), rng.randint(300, 1_500)))
        # one in ten auto-buyers is short of budget, so the budget-capped path runs too
        balance = rng.randint(10, 100) if index % 20 == 0 else 10**9
        accounts[household] = Account(balance, rng.randint(50, 120) * 1000, rng.randint(100, 200) * 1000)
    resting = []
    for order_id in range(1, orders + 1):
        side = Side.BID if rng.random() < 0.5 else Side.ASK
        limit = rng.randint(50_000, 200_000)
        amount = rng.randint(100, 5_000)
        escrow = -(-amount * limit // 1000) if side == Side.BID else 0
        resting.append(
            RestingOrder(
                order_id,
                rng.choice(households),
                side,
                limit,
                amount,
                escrow=escrow,
                valid_from=INTERVAL - rng.randint(0, 5),
                valid_to=INTERVAL + rng.randint(0, 5),
            )
        )
    return entries, resting, accounts


def main() -> None:
    entries, orders, accounts = community()
    tariffs = Tariffs(200_000, 50_000)
    clearing = clear_interval(INTERVAL, entries, orders, accounts, tariffs)
    median, samples = median_ms(lambda: clear_interval(INTERVAL, entries, orders, accounts, tariffs), repeats=21)
    print(
        f"10,000 orders + 1,000 auto orders: median {median:.1f} ms over {len(samples)} runs "
        f"(min {min(samples):.1f}, max {max(samples):.1f}); target {TARGET_MS:.0f} ms -> "
        f"ratio {median / TARGET_MS:.2f}"
    )
    print(f"  clearing price {clearing.clearing_price}, {len(clearing.fills)} fills, {clearing.traded_wh:,} Wh traded")
    write_results(
        "solver",
        {"clear_10k_orders_ms_median": round(median, 2)},
        {
            "runs": len(samples),
            "target_ms": TARGET_MS,
            "ratio_to_target": round(median / TARGET_MS, 3),
            "fills": len(clearing.fills),
            "clearing_price": clearing.clearing_price,
        },
    )


if __name__ == "__main__":
    main()
