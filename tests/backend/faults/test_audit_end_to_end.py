"""End to end: intervals settled by the real oracle pass `vatio audit`; one altered reading fails it clearly.

Meters publish in real time, the oracle (a subprocess) stores, closes,
settles with auto orders and a resting bid, and archives; then the auditor,
knowing only the node's URL, the archive folder and the deployment file,
re-checks every settled interval. A copy of the archive with one reading
changed must make the audit exit 1 and name that interval, and only that one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from eth_account import Account
from fault_helpers import (
    assert_archived,
    assert_no_reading_lost,
    assert_settled_once,
    start_publishing,
    wait_until,
    wait_until_drained,
)

from backend.audit.cli import audit
from backend.chain.deploy import Deployer
from backend.market.orderbook import Side

EURO = 10**6
SETTLED_INTERVALS = 3


def run_audit(community, archive_dir: Path):
    result = CliRunner().invoke(
        audit,
        [
            "--rpc-url",
            community.node.url,
            "--archive",
            str(archive_dir),
            "--deployment",
            str(community.deployment_path),
        ],
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("interval ")]
    return result, lines


def test_audit_passes_on_the_oracles_settlements_and_names_an_altered_interval(
    make_community, broker, make_database, make_oracle, make_fleet, tmp_path
):
    community = make_community(households=4, traders=2)
    bidder = Deployer(community.web3, Account.from_key(community.meters[3].household_key))
    market = community.market
    next_interval = (
        community.deployment.contract(community.web3, "CommunityRegistry").functions.currentInterval().call() + 1
    )  # from the next one: the order may be mined in a later block
    bidder.call(community.deployment.contract(community.web3, "Euro").functions.approve(market.address, 10 * EURO))
    # Above every auto-buy limit, so it is served first whenever there is surplus: the bid trades.
    bidder.call(market.functions.placeOrder(Side.BID, 190_000, 20, next_interval, next_interval + 1_000))

    database = make_database("postgresql")
    oracle = make_oracle(community, broker, database)
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)
    wait_until(
        lambda: len(database.settled_ids()) >= SETTLED_INTERVALS,
        60,
        f"{SETTLED_INTERVALS} intervals to settle",
        oracle.tail,
    )
    fleet.stop()
    assert_no_reading_lost(fleet, database, oracle)
    wait_until_drained(community, database, oracle)
    oracle.stop()  # SIGTERM: the settler finishes its pass
    settled = assert_settled_once(community, database)
    assert_archived(oracle, settled)
    filled = market.events.Filled.get_logs(from_block=community.deployment.deploy_block)
    assert {event["args"]["orderId"] for event in filled} >= {0, 1}, "auto orders and the resting bid traded"

    result, lines = run_audit(community, oracle.archive_dir)
    assert result.exit_code == 0, result.output
    assert lines == [line for line in lines if " OK (" in line], result.output
    assert [int(line.split()[1]) for line in lines] == settled, result.output
    assert f"audited {len(settled)} intervals: {len(settled)} OK, 0 FAIL" in result.stdout

    # One reading of one leaf altered in a copy of the archive: a reading only that interval lists, i.e.
    # neither the previous interval's partner (the first after the start) nor the next one's anchor.
    copy = tmp_path / "altered-archive"
    shutil.copytree(oracle.archive_dir, copy)
    altered_interval, path, document, leaf, reading = _a_reading_of_its_own(copy / str(community.chain_id), settled)
    reading["producedWh"] += 1
    path.write_text(json.dumps(document))

    result, lines = run_audit(community, copy)
    assert result.exit_code == 1, result.output
    failed = [line for line in lines if " FAIL" in line]
    assert len(failed) == 1 and failed[0].startswith(f"interval {altered_interval} FAIL:"), result.output
    assert f"seq {reading['seq']}" in failed[0] and leaf["meter"] in failed[0], failed[0]
    assert sum(" OK (" in line for line in lines) == len(settled) - 1, result.output


def _a_reading_of_its_own(folder: Path, settled: list[int]):
    """(interval, path, document, leaf, reading): a producer's reading strictly between the interval's first
    and last reading inside (start, end], in an interval after the first (partial) one."""
    for interval_id in settled[1:]:
        path = folder / f"{interval_id}.json"
        document = json.loads(path.read_text())
        for leaf in document["leaves"]:
            inside = [r for r in leaf["readings"] if document["start"] < r["ts"] <= document["end"]]
            if leaf["producedWh"] > 0 and len(inside) >= 3:
                return interval_id, path, document, leaf, inside[1]
    raise AssertionError(f"no settled interval after the first has a producer leaf with 3 readings: {settled}")
