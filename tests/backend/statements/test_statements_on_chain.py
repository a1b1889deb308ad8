"""Statements of a real settled community on Anvil: the indexer's database and the node's logs give the same
statements, `vatio statements` writes them, and the statement audit passes, then catches a tampered line."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3

from backend.chain.anvil import rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community
from backend.chain.indexer import Indexer
from backend.chain.tariffs import TARIFFS_DIR, find_schedule
from backend.cli import main
from backend.db.session import session_factory
from backend.statements.audit import audit_statements
from backend.statements.compose import build_statements, month_intervals, statement_rows
from backend.statements.files import statement_dir
from backend.statements.sources import events_from_chain, events_from_db
from backend.tariffs.schema import load_schedule

pytestmark = pytest.mark.slow  # a real Anvil node, settlements and the indexer

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"


@pytest.fixture(scope="module")
def settled():
    """A community on the Spanish example; a producer sells to a consumer over four settled intervals."""
    node = start_anvil()
    web3 = Web3(Web3.HTTPProvider(node.url))
    admin = Account.from_key(ANVIL_DEPLOYER_KEY)
    deployment = deploy_community(web3, admin, CommunitySettings(tariff_schedule=SPAIN))
    deployer = Deployer(web3, admin)
    registry, market, euro = (deployment.contract(web3, n) for n in ("CommunityRegistry", "EnergyMarket", "Euro"))
    households = sorted((Account.create() for _ in range(2)), key=lambda a: int(a.address, 16))
    for account in households:
        rpc_call(node.url, "anvil_setBalance", [account.address, hex(10**20)])
        deployer.call(registry.functions.registerHousehold(account.address, Account.create().address, 5_750))
        own = Deployer(web3, account)
        own.call(euro.functions.faucet(account.address))
        own.call(euro.functions.approve(market.address, 10**12))
        own.call(market.functions.deposit(50 * 10**6))
        own.call(market.functions.setAutoSell(60_000))
        own.call(market.functions.setAutoBuy(95_000))
    producer, consumer = households
    start = deployment.settings["tariffSchedule"]["effectiveFrom"]
    for offset in range(4):
        interval_id = start + offset
        rpc_call(node.url, "evm_setNextBlockTimestamp", [(interval_id + 1) * 900 + 1])
        rpc_call(node.url, "evm_mine")
        feed_in, retail = registry.functions.priceBounds(interval_id).call()
        traded = 300 + 100 * offset
        entries = sorted([(producer.address, 1_000, 200), (consumer.address, 0, 900)], key=lambda e: int(e[0], 16))
        seller = [e[0] for e in entries].index(producer.address)
        fills = [(0, seller, traded), (0, 1 - seller, traded)]
        deployer.call(market.functions.settleInterval(interval_id, b"\x11" * 32, entries, fills, feed_in + 10_000))
    yield web3, deployment, start, [h.address for h in households]
    node.stop()


def month_of(start: int) -> str:
    zone = load_schedule(SPAIN).zone
    return dt.datetime.fromtimestamp(start * 900, dt.UTC).astimezone(zone).strftime("%Y-%m")


def test_database_and_node_give_the_same_statements(settled, migrated_engine):
    web3, deployment, start, households = settled
    schedule = load_schedule(SPAIN)
    month = month_of(start)
    window = month_intervals(month, schedule.zone, 900)
    sessions = session_factory(migrated_engine)
    Indexer(web3, deployment, sessions).poll()
    with sessions() as session:
        from_db = events_from_db(session, 900, window)
    from_chain = events_from_chain(web3, deployment, window)

    def schedule_for(schedule_hash):
        return find_schedule(schedule_hash)

    db_rows = [statement_rows(s) for s in build_statements(from_db, month, schedule_for, schedule.zone)]
    chain_rows = [statement_rows(s) for s in build_statements(from_chain, month, schedule_for, schedule.zone)]
    assert db_rows == chain_rows and len(chain_rows) == 2
    producer = build_statements(from_chain, month, schedule_for, schedule.zone)[0]
    assert producer.kpis.sold_kwh > 0 and len(producer.intervals) == 4


def test_cli_writes_statements_that_audit_clean_until_tampered(settled, tmp_path):
    web3, deployment, start, households = settled
    month = month_of(start)
    deployment_file = deployment.save(tmp_path / "deployments")
    rpc = web3.provider.endpoint_uri
    result = CliRunner().invoke(
        main,
        [
            "statements",
            "--month",
            month,
            "--source",
            "chain",
            "--rpc-url",
            rpc,
            "--deployment",
            str(deployment_file),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    folder = statement_dir(tmp_path / "out", month)
    expected = sorted(f"{h}{ext}" for h in households for ext in (".csv", ".pdf"))
    assert sorted(p.name for p in folder.iterdir()) == expected
    events = events_from_chain(web3, deployment, month_intervals(month, load_schedule(SPAIN).zone, 900))
    assert audit_statements(folder, month, events, find_schedule) == (2, [])
    path = folder / f"{households[1]}.csv"
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if ",with,,,total," in line)
    total = lines[index].rsplit(",", 1)[1].strip()
    lines[index] = lines[index].rsplit(",", 1)[0] + ",0.00\n"
    path.write_text("".join(lines))
    _, problems = audit_statements(folder, month, events, find_schedule)
    assert problems == [
        f"household {households[1]}: line with:total amount_eur: statement '0.00', re-derived '{total}'"
    ]
