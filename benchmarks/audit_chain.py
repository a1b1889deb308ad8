"""A demo-like chain with many settled intervals, for benchmarks/bench_audit.py.

The demo's community (20 households, the demo's meters and standing auto
orders, backend.demo and backend.simulation.trading) on an Anvil that prunes
old states as the demo's does, settled interval by interval by the real
oracle pipeline in-process: signed readings through the Ingester into SQLite,
then the Settler (close, plan from on-chain orders, send through the outbox,
write the archive). Every `order_every` intervals a household also places a
resting order, so "every order ever placed" grows as it does when people
trade from the browser.

Chain time is moved one interval per step (evm_setNextBlockTimestamp), so
building 500 intervals takes minutes, not the demo's real-time hours.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

from backend.chain.anvil import AnvilNode, rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, Deployment, deploy_community
from backend.db.migrate import upgrade
from backend.db.session import make_engine, session_factory
from backend.demo import SIMULATION_SEED, SPANISH_EXAMPLE_TARIFF, demo_meters
from backend.market.orderbook import PRICE_TICK, Side
from backend.meters.registration import register_meters
from backend.meters.simulator import payload, topic
from backend.oracle.ingest import STORED, Ingester, Message
from backend.oracle.runner import Settler, SettlerSettings
from backend.oracle.verifier import MeterInfo
from backend.protocol.readings import MeterDomain
from backend.simulation.trading import enable_auto_trading

READING_OFFSETS_S = (100, 400, 700)  # three readings per meter per interval
GRACE_S = 60


@dataclass
class BuiltChain:
    node: AnvilNode
    deployment: Deployment
    deployment_path: Path
    archive_dir: Path
    first_interval: int
    last_interval: int
    households: int
    orders: int

    @property
    def intervals(self) -> int:
        return self.last_interval - self.first_interval + 1


def build_chain(folder: Path, intervals: int, order_every: int = 4, households: int = 20, progress=print) -> BuiltChain:
    """Deploys, registers and settles `intervals` intervals; the node keeps running (stop it with .node)."""
    node = start_anvil(state_file=folder / "chain" / "anvil-state.json", log_path=folder / "anvil.log")
    web3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
    deployment = deploy_community(
        web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings(tariff_schedule=SPANISH_EXAMPLE_TARIFF)
    )
    deployment_path = deployment.save(folder / "deployments")
    meters = demo_meters(households)
    register_meters(web3, deployment, meters, capacity_w=15_000, progress=lambda _: None)
    keys = [m.household_key for m in meters]
    enable_auto_trading(web3, deployment, keys, seed=SIMULATION_SEED, progress=lambda _: None)

    database = f"sqlite:///{folder / 'vatio.db'}"
    upgrade(database)
    sessions = session_factory(make_engine(database))
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    registry = {m.meter: MeterInfo(m.meter, m.household, 15_000, True) for m in meters}
    ingester = Ingester(sessions, domain, "bench-audit", registry.get, clock=lambda: 2**40, max_age_s=math.inf)
    interval_s = deployment.settings["intervalSeconds"]
    archive_dir = folder / "archive"
    clock = [0.0]
    settler = Settler(
        sessions,
        web3,
        deployment,
        Account.from_key(ANVIL_DEPLOYER_KEY),
        SettlerSettings(archive_dir=archive_dir, grace_s=GRACE_S),
        clock=lambda: clock[0],
    )
    market = deployment.contract(web3, "EnergyMarket")
    traders = [Deployer(web3, Account.from_key(m.household_key)) for m in meters]
    token, euro = deployment.contract(web3, "EnergyToken"), deployment.contract(web3, "Euro")
    registry_contract = deployment.contract(web3, "CommunityRegistry")
    for trader in traders:  # resting asks escrow tokens, resting bids euros
        trader.call(token.functions.approve(market.address, 2**255))
        trader.call(euro.functions.approve(market.address, 2**255))
    rng = random.Random(7)
    first = web3.eth.get_block("latest")["timestamp"] // interval_s + 1
    orders = 0
    started = time.monotonic()
    # Step k: the chain moves into interval k, a resting order may be placed, interval k's readings
    # arrive, and the settler closes and settles k - 1.
    for interval_id in range(first, first + intervals + 1):
        start = interval_id * interval_s
        clock[0] = start + GRACE_S + 90
        rpc_call(node.url, "evm_setNextBlockTimestamp", [int(clock[0])])
        rpc_call(node.url, "evm_mine")
        if (interval_id - first) % order_every == 0 and interval_id < first + intervals:
            orders += _place_resting_order(market, registry_contract, token, traders, interval_id, rng)
        messages = []
        for meter in meters:
            produced_rate, consumed_rate = rng.uniform(0, 400), rng.uniform(50, 350)  # Wh per third of an interval
            for offset in READING_OFFSETS_S:
                signed = meter.advance(produced_rate, consumed_rate, start + offset, 300, domain)
                messages.append(Message(topic("bench-audit", meter.meter), payload(signed), 0))
        outcomes = ingester.process(messages)
        if {o.status for o in outcomes} != {STORED}:
            raise RuntimeError(f"readings refused: {[o for o in outcomes if o.status != STORED][:3]}")
        if interval_id > first:
            settler.step()
        done = interval_id - first
        if done and done % 50 == 0:
            progress(f"  {done} intervals settled ({time.monotonic() - started:.0f} s)")
    last = first + intervals - 1
    archived = sorted(int(p.stem) for p in archive_dir.glob("*/*.json"))
    if archived[:1] != [first] or archived[-1:] != [last] or len(archived) != intervals:
        raise RuntimeError(f"expected archives {first}..{last}, found {len(archived)}: {archived[:1]}..{archived[-1:]}")
    return BuiltChain(node, deployment, deployment_path, archive_dir, first, last, households, orders)


def _place_resting_order(market, registry, token, traders: list[Deployer], interval_id: int, rng: random.Random) -> int:
    """One resting order valid for this interval and the next two, its limit inside the band; an ask
    only by a household holding the tokens. Returns how many were placed (0 or 1)."""
    trader = rng.choice(traders)
    feed_in, retail = registry.functions.priceBounds(interval_id).call()
    limit = (feed_in + int((retail - feed_in) * rng.uniform(0.2, 0.8))) // PRICE_TICK * PRICE_TICK
    amount = rng.randrange(200, 1_500)
    side = rng.choice((Side.BID, Side.ASK))
    if side == Side.ASK and token.functions.balanceOf(trader.account.address).call() < amount:
        side = Side.BID
    trader.call(market.functions.placeOrder(int(side), limit, amount, interval_id, interval_id + 2))
    return 1
