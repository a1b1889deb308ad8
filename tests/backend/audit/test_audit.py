"""`vatio audit` on a real Anvil chain: honest intervals pass, tampering fails clearly.

One community is built per module: four households with meters, auto orders
and a resting bid; six intervals are settled through EnergyMarket with the
real solver, merkle tree and signed readings, and archived per the archive
spec. Three settle honestly (one in chunks), then a test-only dishonest
oracle settles a wrong allocation, a wrong price and a leaf signed by an
unregistered meter, and finally tokens are minted outside settlement. Tests
audit copies of the archive with the click command itself.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3

from backend.audit.cli import audit
from backend.audit.leaf_checks import check_archived_leaf, registers_text
from backend.chain.anvil import free_port, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community
from backend.chain.market_state import read_accounts, read_orders, read_tariffs, read_token_balances
from backend.market.chunking import split_settlement
from backend.market.orderbook import Fill, MeteredEntry, Side
from backend.market.solver import clear_interval
from backend.protocol.archive import parse_archive
from backend.protocol.energy import Registers, RegisterSample, register_at
from backend.protocol.merkle import Leaf, MerkleTree
from backend.protocol.parser import parse_reading
from backend.protocol.readings import MeterDomain, MeterReading, SignedReading, readings_hash, sign_reading

pytestmark = pytest.mark.slow  # a real Anvil with a deployed community, settled intervals and archives

INTERVAL_S = 900
EURO = 10**6
READING_OFFSETS_S = (100, 400, 700)  # three readings per interval; the boundary is interpolated


# --- a test-side oracle: meters, closing rule, settlement, archive ---------------------------------


@dataclass
class Household:
    name: str
    account: object
    meter_key: bytes
    energy_per_interval: tuple[int, int]  # (produced, consumed) Wh
    readings: list[SignedReading] = field(default_factory=list)
    last_entry: tuple[int, Registers] | None = None  # (interval, end registers) of the meter's last entry

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def meter(self) -> str:
        return Account.from_key(self.meter_key).address


def make_readings(household: Household, intervals: range, domain: MeterDomain) -> None:
    """Signed cumulative readings, linear within each interval at its (produced, consumed) rate."""
    produced = consumed = 0
    seq = 1
    for interval_id in intervals:
        start = interval_id * INTERVAL_S
        rate_p, rate_c = household.energy_per_interval
        for offset in READING_OFFSETS_S:
            reading = MeterReading(
                household.meter,
                seq,
                start + offset,
                produced + rate_p * offset // INTERVAL_S,
                consumed + rate_c * offset // INTERVAL_S,
                500,
            )
            household.readings.append(sign_reading(reading, domain, household.meter_key))
            seq += 1
        produced += rate_p
        consumed += rate_c


def reading_json(signed: SignedReading) -> dict:
    r = signed.reading
    return {
        "meter": r.meter,
        "seq": r.seq,
        "ts": r.ts,
        "producedWh": r.produced_wh,
        "consumedWh": r.consumed_wh,
        "powerW": r.power_w,
        "signature": "0x" + signed.signature.hex(),
    }


def close_entry(
    household: Household,
    interval_id: int,
    readings: list[SignedReading],
    domain: MeterDomain,
    previous: tuple[int, Registers] | None,
) -> dict:
    """The closing rule of the archive spec: anchor, readings inside, partner; end at E."""
    start, end = interval_id * INTERVAL_S, (interval_id + 1) * INTERVAL_S
    anchor = [r for r in readings if r.reading.ts <= start][-1:]
    inside = [r for r in readings if start < r.reading.ts <= end]
    partner = [r for r in readings if r.reading.ts > end][:1]
    listed = anchor + inside + partner
    samples = [RegisterSample(r.reading.ts, r.reading.produced_wh, r.reading.consumed_wh) for r in listed]
    end_registers = register_at(samples, end)
    start_registers = (
        previous[1] if previous else Registers(readings[0].reading.produced_wh, readings[0].reading.consumed_wh)
    )
    produced = end_registers.produced_wh - start_registers.produced_wh
    consumed = end_registers.consumed_wh - start_registers.consumed_wh
    r_hash = readings_hash(listed, domain)
    meter = listed[0].reading.meter
    leaf = Leaf(household.address, meter, interval_id, produced, consumed, r_hash)
    return {
        "household": household.address,
        "meter": meter,
        "producedWh": produced,
        "consumedWh": consumed,
        "startRegisters": {"producedWh": start_registers.produced_wh, "consumedWh": start_registers.consumed_wh},
        "endRegisters": {"producedWh": end_registers.produced_wh, "consumedWh": end_registers.consumed_wh},
        "previousInterval": previous[0] if previous else None,
        "readingsHash": "0x" + r_hash.hex(),
        "leaf": "0x" + leaf.hash().hex(),
        "readings": [reading_json(r) for r in listed],
        "_end": end_registers,
    }


@dataclass
class Community:
    node_url: str
    web3: Web3
    deployment: object
    deployment_path: Path
    oracle: Deployer
    domain: MeterDomain
    households: dict[str, Household]
    archive_dir: Path
    first_interval: int
    settled: dict[str, int] = field(default_factory=dict)  # scenario name -> interval id
    clearings: dict[int, object] = field(default_factory=dict)
    sent_fills: dict[int, list[Fill]] = field(default_factory=dict)
    sent_price: dict[int, int] = field(default_factory=dict)

    @property
    def market(self):
        return self.deployment.contract(self.web3, "EnergyMarket")

    def advance_one_interval(self) -> None:
        self.web3.provider.make_request("evm_increaseTime", [INTERVAL_S])
        self.web3.provider.make_request("evm_mine", [])

    def settle(self, interval_id: int, tamper=None, leaf_override=None, chunked: bool = False) -> None:
        """Close, clear and settle one interval; `tamper(clearing) -> (fills, price)` makes the oracle lie."""
        leaves = []
        for household in sorted(self.households.values(), key=lambda h: int(h.address, 16)):
            if leaf_override and household.name in leaf_override:
                leaves.append(leaf_override[household.name](household, interval_id))
                continue
            leaf = close_entry(household, interval_id, household.readings, self.domain, household.last_entry)
            household.last_entry = (interval_id, leaf["_end"])
            leaves.append(leaf)
        leaf_hashes = [bytes.fromhex(leaf["leaf"][2:]) for leaf in leaves]
        tree = MerkleTree(leaf_hashes)
        entries = [MeteredEntry(leaf["household"], leaf["producedWh"], leaf["consumedWh"]) for leaf in leaves]

        market = self.market
        token = self.deployment.contract(self.web3, "EnergyToken")
        registry = self.deployment.contract(self.web3, "CommunityRegistry")
        households = [leaf["household"] for leaf in leaves]
        orders = read_orders(market)
        clearing = clear_interval(
            interval_id,
            entries,
            orders,
            read_accounts(market, households),
            read_tariffs(registry),
            read_token_balances(token, households),
        )
        fills, price = (clearing.fills, clearing.clearing_price) if tamper is None else tamper(clearing)
        self.clearings[interval_id] = clearing
        self.sent_fills[interval_id], self.sent_price[interval_id] = fills, price

        receipts = []
        if chunked:
            chunks = split_settlement(
                replace(clearing, fills=fills, clearing_price=price), {o.order_id: o for o in orders}, gas_budget=40_000
            )
            assert len(chunks) > 1
            for chunk in chunks:
                receipts.append(
                    self.oracle.call(
                        market.functions.settleChunk(
                            interval_id,
                            tree.root,
                            [e.as_tuple() for e in chunk.entries],
                            [f.as_tuple() for f in chunk.fills],
                            price,
                        )
                    )
                )
            receipts.append(self.oracle.call(market.functions.closeInterval(interval_id)))
        else:
            receipts.append(
                self.oracle.call(
                    market.functions.settleInterval(
                        interval_id,
                        tree.root,
                        [e.as_tuple() for e in clearing.entries],
                        [f.as_tuple() for f in fills],
                        price,
                    )
                )
            )

        for leaf in leaves:
            leaf.pop("_end")
            leaf["proof"] = ["0x" + p.hex() for p in tree.proof(bytes.fromhex(leaf["leaf"][2:]))]
        document = {
            "version": 1,
            "chainId": self.deployment.chain_id,
            "registry": self.deployment.address("CommunityRegistry"),
            "market": self.deployment.address("EnergyMarket"),
            "intervalId": interval_id,
            "intervalSeconds": INTERVAL_S,
            "start": interval_id * INTERVAL_S,
            "end": (interval_id + 1) * INTERVAL_S,
            "readingsRoot": "0x" + tree.root.hex(),
            "clearingPrice": price,
            "settlementTxs": [Web3.to_hex(r["transactionHash"]) for r in receipts],
            "leaves": leaves,
        }
        folder = self.archive_dir / str(self.deployment.chain_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{interval_id}.json").write_text(json.dumps(document, indent=1))


def move_bid_fill(clearing, from_household: str, moved_wh: int):
    """A valid but wrong allocation: shift Wh from the auto-buy of `from_household` to the resting bid."""
    index = next(i for i, e in enumerate(clearing.entries) if e.household == from_household)
    fills = []
    for fill in clearing.fills:
        if fill.order_id == 0 and fill.auto_entry == index:
            fill = Fill(0, index, fill.amount_wh - moved_wh)
        elif fill.order_id == 1:
            fill = Fill(1, 0, fill.amount_wh + moved_wh)
        fills.append(fill)
    return fills, clearing.clearing_price


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    node = start_anvil()
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        # start at the beginning of an interval, so setup never straddles a boundary
        now = web3.eth.get_block("latest")["timestamp"]
        web3.provider.make_request("evm_setNextBlockTimestamp", [(now // INTERVAL_S + 1) * INTERVAL_S + 1])
        web3.provider.make_request("evm_mine", [])
        admin = Account.from_key(ANVIL_DEPLOYER_KEY)
        deployment = deploy_community(web3, admin, CommunitySettings(interval_seconds=INTERVAL_S))
        folder = tmp_path_factory.mktemp("audit")
        deployment_path = deployment.save(folder / "deployments")
        oracle = Deployer(web3, admin)
        domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
        registry = deployment.contract(web3, "CommunityRegistry")
        market = deployment.contract(web3, "EnergyMarket")
        euro = deployment.contract(web3, "Euro")
        first = market.functions.currentInterval().call()

        households = {}
        for name, energy in (("sunny", (900, 200)), ("buyer", (0, 400)), ("bidder", (0, 300)), ("small", (300, 100))):
            account = Account.create()
            web3.provider.make_request("anvil_setBalance", [account.address, hex(10**19)])
            household = Household(name, account, Account.create().key, energy)
            make_readings(household, range(first, first + 9), domain)
            oracle.call(registry.functions.registerHousehold(account.address, household.meter, 10_000))
            oracle.call(euro.functions.faucet(account.address))
            households[name] = household

        def as_household(name):
            return Deployer(web3, households[name].account)

        as_household("sunny").call(market.functions.setAutoSell(60_000))
        as_household("small").call(market.functions.setAutoSell(70_000))
        buyer = as_household("buyer")
        buyer.call(euro.functions.approve(market.address, 100 * EURO))
        buyer.call(market.functions.deposit(100 * EURO))
        buyer.call(market.functions.setAutoBuy(180_000))
        bidder = as_household("bidder")
        bidder.call(euro.functions.approve(market.address, 10 * EURO))
        bidder.call(market.functions.placeOrder(Side.BID, 150_000, 6_000, first, first + 50))  # order 1

        archive_dir = folder / "archive"
        c = Community(node.url, web3, deployment, deployment_path, oracle, domain, households, archive_dir, first)
        scenarios = [
            "honest",
            "chunked",
            "honest_again",
            "new_meter",
            "wrong_allocation",
            "wrong_price",
            "rogue_meter",
            "minted_outside",
        ]
        for offset, scenario in enumerate(scenarios):
            interval_id = first + offset
            c.advance_one_interval()
            c.settled[scenario] = interval_id
            if scenario == "chunked":
                c.settle(interval_id, chunked=True)
            elif scenario == "wrong_allocation":
                c.settle(interval_id, tamper=lambda clearing: move_bid_fill(clearing, households["buyer"].address, 150))
            elif scenario == "wrong_price":
                c.settle(interval_id, tamper=lambda clearing: (clearing.fills, clearing.clearing_price + 20_000))
            elif scenario == "rogue_meter":
                c.settle(interval_id, leaf_override={"small": rogue_leaf(c)})
            elif scenario == "honest_again":
                # the bidder's meter is replaced after the interval ended, before it settles: the old
                # meter's entry still counts, and the new meter's first entry follows
                bidder = households["bidder"]
                new_key = Account.create().key
                oracle.call(registry.functions.replaceMeter(bidder.address, Account.from_key(new_key).address))
                c.settle(interval_id)
                bidder.meter_key, bidder.readings, bidder.last_entry = new_key, [], None
                make_readings(bidder, range(interval_id + 1, first + 9), domain)
            elif scenario == "minted_outside":
                token = deployment.contract(web3, "EnergyToken")
                oracle.call(token.functions.grantRole(token.functions.SETTLEMENT_ROLE().call(), admin.address))
                oracle.call(token.functions.mint(households["sunny"].address, 5))
                c.settle(interval_id)
            else:
                c.settle(interval_id)
        yield c
    finally:
        node.stop()


def rogue_leaf(c: Community):
    """A dishonest oracle's leaf for a household, from readings of a key the registry never saw."""

    def build(household: Household, interval_id: int) -> dict:
        rogue = Household(household.name, household.account, Account.create().key, (5_000, 0))
        make_readings(rogue, range(interval_id, interval_id + 2), c.domain)
        c.rogue_meter = rogue.meter
        return close_entry(rogue, interval_id, rogue.readings, c.domain, None)

    return build


def run_audit(c: Community, *args: str, archive: str | Path | None = None):
    result = CliRunner().invoke(
        audit,
        [
            "--rpc-url",
            c.node_url,
            "--deployment",
            str(c.deployment_path),
            "--archive",
            str(archive or c.archive_dir),
            *args,
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = {int(m.group(1)): line for line in result.output.splitlines() if (m := re.match(r"interval (\d+) ", line))}
    return result, lines


def archive_copy(c: Community, tmp_path: Path) -> Path:
    target = tmp_path / "archive"
    shutil.copytree(c.archive_dir, target)
    return target


def document_path(c: Community, archive: Path, interval_id: int) -> Path:
    return archive / str(c.deployment.chain_id) / f"{interval_id}.json"


def edit_document(c: Community, archive: Path, interval_id: int, edit) -> None:
    path = document_path(c, archive, interval_id)
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def leaf_of(document: dict, household: str) -> dict:
    return next(leaf for leaf in document["leaves"] if leaf["household"] == household)


# --- honest data ------------------------------------------------------------------------------------


def test_audit_honest_intervals_ok(community):
    c = community
    first, last = c.settled["honest"], c.settled["new_meter"]
    result, lines = run_audit(c, "--from", str(first), "--to", str(last))
    assert result.exit_code == 0, result.output
    assert sorted(lines) == list(range(first, last + 1))
    for interval_id, line in lines.items():
        clearing = c.clearings[interval_id]
        assert clearing.fills and line.startswith(f"interval {interval_id} OK (4 leaves, price 0.")
        assert f"{len(clearing.fills)} fills)" in line
    assert "audited 4 intervals: 4 OK, 0 FAIL" in result.output


def test_audit_reads_archive_over_http(community):
    c = community

    class ArchiveHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            match = re.fullmatch(r"/api/intervals/(\d+)/archive", self.path)
            path = match and document_path(c, c.archive_dir, int(match.group(1)))
            if not path or not path.exists():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        honest = c.settled["honest_again"]
        result, lines = run_audit(c, "--from", str(honest), "--to", str(honest), archive=base)
        assert result.exit_code == 0, result.output
        assert " OK (" in lines[honest]
        # an interval the server has no document for is a clear finding, not a crash
        (document_path(c, c.archive_dir, honest)).rename(document_path(c, c.archive_dir, honest).with_suffix(".bak"))
        try:
            result, lines = run_audit(c, "--from", str(honest), "--to", str(honest), archive=base)
        finally:
            document_path(c, c.archive_dir, honest).with_suffix(".bak").rename(document_path(c, c.archive_dir, honest))
        assert result.exit_code == 1
        assert (
            f"interval {honest} FAIL: archive document missing: GET {base}/api/intervals/{honest}/archive "
            f"answered 404" in lines[honest]
        )
    finally:
        server.shutdown()
        server.server_close()


# --- tampered archive ----------------------------------------------------------------------------------


def test_audit_fails_on_altered_register_in_archive(community, tmp_path):
    c = community
    interval_id = c.settled["honest_again"]
    sunny = c.households["sunny"]
    archive = archive_copy(c, tmp_path)
    altered = {}

    def add_one_wh(document):
        reading = leaf_of(document, sunny.address)["readings"][2]
        reading["producedWh"] += 1
        altered["seq"] = reading["seq"]

    edit_document(c, archive, interval_id, add_one_wh)
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1, result.output
    line = lines[interval_id]
    assert line.startswith(
        f"interval {interval_id} FAIL: leaf {sunny.address}: reading seq {altered['seq']} signature recovers to 0x"
    )
    assert f"not meter {sunny.meter}" in line
    assert "root recomputed from the readings is 0x" in line
    assert "audited 1 interval: 0 OK, 1 FAIL" in result.output


def test_audit_fails_on_signature_by_another_key(community, tmp_path):
    c = community
    interval_id = c.settled["honest_again"]
    small = c.households["small"]
    impostor = Account.create()
    archive = archive_copy(c, tmp_path)
    seqs = {}

    def resign(document):
        raw = leaf_of(document, small.address)["readings"][1]
        reading = MeterReading(raw["meter"], raw["seq"], raw["ts"], raw["producedWh"], raw["consumedWh"], raw["powerW"])
        raw["signature"] = "0x" + sign_reading(reading, c.domain, impostor.key).signature.hex()
        seqs["seq"] = raw["seq"]

    edit_document(c, archive, interval_id, resign)
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1
    # the content is unchanged, so only the signature is wrong: the root still matches
    assert lines[interval_id] == (
        f"interval {interval_id} FAIL: leaf {small.address}: reading seq {seqs['seq']} "
        f"signature recovers to {impostor.address}, not meter {small.meter}"
    )


@pytest.mark.parametrize("tamper", ["one_wh_more", "signed_by_another_key"])
def test_audit_of_a_range_fails_on_a_reading_already_checked_in_the_interval_before(community, tmp_path, tamper):
    """The anchor is also listed in the previous interval's leaf, whose audit recovered its signer
    first: an altered or re-signed copy of it must still be recovered and fail (signers are
    remembered per whole signed reading, never per meter and seq)."""
    c = community
    before, interval_id = c.settled["chunked"], c.settled["honest_again"]
    sunny = c.households["sunny"]
    impostor = Account.create()
    archive = archive_copy(c, tmp_path)
    anchor = {}

    def edit(document):
        raw = leaf_of(document, sunny.address)["readings"][0]
        anchor["seq"] = raw["seq"]
        if tamper == "one_wh_more":
            raw["producedWh"] += 1
        else:
            reading = MeterReading(
                raw["meter"], raw["seq"], raw["ts"], raw["producedWh"], raw["consumedWh"], raw["powerW"]
            )
            raw["signature"] = "0x" + sign_reading(reading, c.domain, impostor.key).signature.hex()

    edit_document(c, archive, interval_id, edit)
    earlier_leaf = leaf_of(json.loads(document_path(c, archive, before).read_text()), sunny.address)
    assert anchor["seq"] in [r["seq"] for r in earlier_leaf["readings"]]  # the interval before lists it too
    result, lines = run_audit(c, "--from", str(before), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1
    assert " OK (" in lines[before]
    signer = "0x" if tamper == "one_wh_more" else impostor.address
    assert (
        f"interval {interval_id} FAIL: leaf {sunny.address}: reading seq {anchor['seq']} signature recovers to {signer}"
    ) in lines[interval_id]
    assert f"not meter {sunny.meter}" in lines[interval_id]


def test_audit_fails_on_altered_amounts_and_start_registers(community, tmp_path):
    c = community
    interval_id = c.settled["honest_again"]
    buyer = c.households["buyer"]
    archive = archive_copy(c, tmp_path)

    def shift_start(document):
        leaf = leaf_of(document, buyer.address)
        leaf["startRegisters"]["consumedWh"] -= 10
        leaf["consumedWh"] += 10

    edit_document(c, archive, interval_id, shift_start)
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1
    line = lines[interval_id]
    assert f"leaf {buyer.address}: startRegisters" in line and f"interval {interval_id - 1}'s endRegisters" in line
    assert "HouseholdSettled says" in line


def test_audit_fails_when_previous_interval_skips_an_entry(community, tmp_path):
    """Pointing startRegisters at an older entry would count the skipped entry's energy twice."""
    c = community
    interval_id, skipped, older = c.settled["honest_again"], c.settled["chunked"], c.settled["honest"]
    sunny = c.households["sunny"]
    archive = archive_copy(c, tmp_path)
    edit_document(c, archive, interval_id, lambda d: leaf_of(d, sunny.address).update(previousInterval=older))
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1
    line = lines[interval_id]
    assert (
        f"leaf {sunny.address}: previousInterval is {older}, but meter {sunny.meter} also has an entry in "
        f"interval {skipped} (its energy would count twice)"
    ) in line
    assert f"but interval {older}'s endRegisters says" in line


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("delete", "archive document missing: no "),
        ("not_json", "archive document malformed: not valid JSON"),
        ("no_readings", "archive document malformed: leaves[0].readings: missing"),
        ("bad_signature_hex", "archive document malformed: leaves[1].readings[0]: signature must be 0x + 130 hex"),
    ],
)
def test_audit_reports_missing_or_malformed_archive(community, tmp_path, damage, expected):
    c = community
    interval_id = c.settled["honest_again"]
    archive = archive_copy(c, tmp_path)
    path = document_path(c, archive, interval_id)
    if damage == "delete":
        path.unlink()
    elif damage == "not_json":
        path.write_text('{"version": 1, ')
    elif damage == "no_readings":
        edit_document(c, archive, interval_id, lambda d: d["leaves"][0].pop("readings"))
    else:
        edit_document(c, archive, interval_id, lambda d: d["leaves"][1]["readings"][0].update(signature="0x12"))
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id), archive=archive)
    assert result.exit_code == 1, result.output
    assert lines[interval_id].startswith(f"interval {interval_id} FAIL: {expected}")
    assert "Traceback" not in result.output
    # the chain-only checks still ran: the honest settlement has no other finding
    assert lines[interval_id].count(";") == 0


# --- a dishonest oracle -----------------------------------------------------------------------------


def test_audit_fails_when_a_fill_differs_from_the_solver(community):
    c = community
    interval_id = c.settled["wrong_allocation"]
    buyer, bidder = c.households["buyer"], c.households["bidder"]
    honest = {(f.order_id, f.auto_entry): f.amount_wh for f in c.clearings[interval_id].fills}
    buyer_entry = next(i for i, e in enumerate(c.clearings[interval_id].entries) if e.household == buyer.address)
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id))
    assert result.exit_code == 1
    line = lines[interval_id]
    auto_honest, bid_honest = honest[(0, buyer_entry)], honest[(1, 0)]
    assert line.startswith(f"interval {interval_id} FAIL: ")
    assert (f"fill of order 1 (bid of {bidder.address}): on-chain {bid_honest + 150} Wh for ") in line
    assert f"solver {bid_honest} Wh for " in line
    assert (f"fill of the auto-buy of {buyer.address}: on-chain {auto_honest - 150} Wh for ") in line
    assert "clearing price" not in line  # the price was right; only the allocation was not
    assert "leaf " not in line  # the readings are honest


def test_audit_fails_when_the_price_differs_from_the_solver(community):
    c = community
    interval_id = c.settled["wrong_price"]
    honest_price = c.clearings[interval_id].clearing_price
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id))
    assert result.exit_code == 1
    line = lines[interval_id]
    on_chain, solver = (f"0.{p // 1000:03d} EUR/kWh" for p in (honest_price + 20_000, honest_price))
    # the Wh of every fill are the solver's; only the price (and so every value) differs
    assert line == f"interval {interval_id} FAIL: clearing price on-chain {on_chain}, solver {solver}"


def test_audit_fails_on_a_meter_the_registry_does_not_know(community):
    c = community
    interval_id = c.settled["rogue_meter"]
    small = c.households["small"]
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id))
    assert result.exit_code == 1
    line = lines[interval_id]
    assert f"leaf {small.address}: meter {c.rogue_meter} is not household {small.address}'s at block " in line
    assert "it is not registered" in line


def test_audit_fails_when_tokens_are_minted_outside_settlement(community):
    c = community
    interval_id = c.settled["minted_outside"]
    result, lines = run_audit(c, "--from", str(interval_id), "--to", str(interval_id))
    assert result.exit_code == 1
    assert re.fullmatch(
        rf"interval {interval_id} FAIL: token supply at block \d+: minted minus burned \d+ Wh, "
        r"but settlements account for \d+ Wh \(\+5 Wh minted or burned outside settlement\)",
        lines[interval_id],
    ), lines[interval_id]


# --- selection and usage ----------------------------------------------------------------------------


def test_audit_whole_chain_and_selection(community):
    c = community
    result, lines = run_audit(c)
    assert result.exit_code == 1
    assert sorted(lines) == sorted(c.settled.values())
    statuses = {name: lines[i].split()[2].rstrip(":") for name, i in c.settled.items()}
    assert statuses == {
        "honest": "OK",
        "chunked": "OK",
        "honest_again": "OK",
        "new_meter": "OK",
        "wrong_allocation": "FAIL",
        "wrong_price": "FAIL",
        "rogue_meter": "FAIL",
        "minted_outside": "FAIL",
    }
    assert "audited 8 intervals: 4 OK, 4 FAIL" in result.output

    chunked = c.settled["chunked"]
    result, lines = run_audit(c, "--from", str(chunked), "--to", str(chunked))
    assert result.exit_code == 0 and list(lines) == [chunked]

    result, lines = run_audit(c, "--from", str(c.first_interval + 100))
    assert result.exit_code == 0 and not lines
    assert "no settled intervals in the selection" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "9", "--to", "3"], "--from 9 is after --to 3"),
        (["--from", "-1"], "Invalid value for '--from'"),
    ],
)
def test_audit_usage_errors_exit_2(community, args, message):
    result, _ = run_audit(community, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_audit_unreachable_node_exits_2(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(audit, ["--rpc-url", url, "--archive", str(tmp_path)])
    assert result.exit_code == 2
    assert f"no JSON-RPC node answers at {url}" in result.output


def test_audit_unreachable_archive_server_exits_2(community):
    result, _ = run_audit(community, "--archive", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert "archive server at http://127.0.0.1:" in result.output and "does not answer" in result.output


# --- the per-leaf rules, without a chain ------------------------------------------------------------

PURE_DOMAIN = MeterDomain(31337, "0x" + "11" * 20)
PURE_INTERVAL = 2_000_000


def pure_leaf(edit=None, previous_registers: bool = True):
    """A closing-rule leaf for PURE_INTERVAL (its meter's second entry), optionally edited and then
    re-hashed so that only the edited rule can fail; returns (leaf, previous end registers)."""
    household = Household("h", Account.create(), Account.create().key, (900, 300))
    make_readings(household, range(PURE_INTERVAL - 1, PURE_INTERVAL + 2), PURE_DOMAIN)
    first = close_entry(household, PURE_INTERVAL - 1, household.readings, PURE_DOMAIN, None)
    previous = (PURE_INTERVAL - 1, first["_end"]) if previous_registers else None
    leaf = close_entry(household, PURE_INTERVAL, household.readings, PURE_DOMAIN, previous)
    leaf.pop("_end")
    if edit:
        edit(leaf, household)
    signed = [parse_reading(json.dumps(r).encode()) for r in leaf["readings"]]
    leaf["readingsHash"] = "0x" + readings_hash(signed, PURE_DOMAIN).hex()
    leaf_hash = Leaf(
        leaf["household"],
        leaf["meter"],
        PURE_INTERVAL,
        leaf["producedWh"],
        leaf["consumedWh"],
        bytes.fromhex(leaf["readingsHash"][2:]),
    ).hash()
    leaf["leaf"], leaf["proof"] = "0x" + leaf_hash.hex(), []
    document = {
        "version": 1,
        "chainId": 31337,
        "registry": PURE_DOMAIN.verifying_contract,
        "market": PURE_DOMAIN.verifying_contract,
        "intervalId": PURE_INTERVAL,
        "intervalSeconds": INTERVAL_S,
        "start": PURE_INTERVAL * INTERVAL_S,
        "end": (PURE_INTERVAL + 1) * INTERVAL_S,
        "readingsRoot": "0x" + leaf_hash.hex(),
        "clearingPrice": 0,
        "settlementTxs": [],
        "leaves": [leaf],
    }
    return parse_archive(document).leaves[0], (first["_end"] if previous_registers else None)


def pure_check(leaf, previous_end):
    start = PURE_INTERVAL * INTERVAL_S
    return check_archived_leaf(leaf, PURE_INTERVAL, start, start + INTERVAL_S, PURE_DOMAIN, previous_end, leaf.leaf)


def test_leaf_check_accepts_the_closing_rule():
    assert pure_check(*pure_leaf()) == []


def test_leaf_check_flags_an_extra_reading_before_the_start():
    def add_older(leaf, household):
        older = next(r for r in household.readings if r.reading.seq == leaf["readings"][0]["seq"] - 1)
        leaf["readings"].insert(0, reading_json(older))

    problems = pure_check(*pure_leaf(add_older))
    assert len(problems) == 1 and problems[0].startswith("lists 2 readings at or before the start")


def test_leaf_check_flags_an_extra_reading_after_the_end():
    def add_later(leaf, household):
        later = next(r for r in household.readings if r.reading.seq == leaf["readings"][-1]["seq"] + 1)
        leaf["readings"].append(reading_json(later))

    problems = pure_check(*pure_leaf(add_later))
    assert len(problems) == 1 and problems[0].startswith("lists 2 readings after the end")


def test_leaf_check_flags_readings_out_of_seq_order():
    def swap(leaf, household):
        leaf["readings"][1], leaf["readings"][2] = leaf["readings"][2], leaf["readings"][1]

    problems = pure_check(*pure_leaf(swap))
    assert any("(not sorted by strictly increasing seq)" in p for p in problems)


def test_leaf_check_flags_a_first_entry_that_does_not_start_at_its_first_reading():
    def shift(leaf, household):
        leaf["previousInterval"] = None

    leaf, _ = pure_leaf(shift)
    problems = pure_check(leaf, None)
    assert problems == [
        f"startRegisters {registers_text(leaf.start_registers)}, but the first listed reading says "
        f"produced {leaf.readings[0].reading.produced_wh} / consumed "
        f"{leaf.readings[0].reading.consumed_wh} Wh"
    ]


def test_leaf_check_flags_end_registers_that_the_readings_do_not_give():
    def inflate(leaf, household):
        leaf["endRegisters"]["producedWh"] += 7
        leaf["producedWh"] += 7

    leaf, previous_end = pure_leaf(inflate)
    problems = pure_check(leaf, previous_end)
    assert len(problems) == 1 and problems[0].startswith(
        f"endRegisters {registers_text(leaf.end_registers)}, but the readings give "
    )


# --- a node that keeps recent states only (the demo's Anvil) -----------------------------------------


def test_events_replay_the_market_as_the_state_held_it(community):
    """At the block before each settlement, the inputs replayed from events equal the state read there."""
    from backend.audit.chain_view import ChainView

    c = community
    chain = ChainView(c.web3, c.deployment)
    households = [h.address for h in c.households.values()]
    for name, interval_id in c.settled.items():
        block = chain.intervals[interval_id].first_block - 1
        from_state = chain.market_inputs(block, households, interval_id)
        from_events = chain.market_inputs_from_events(block, households, interval_id)
        assert from_state.source == "state" and from_events.source == "events"
        # the audit takes the orders from the events always: they must be what the state held
        assert from_events.orders == read_orders(c.market, block), name
        assert from_events.orders == from_state.orders, name
        assert from_events.accounts == from_state.accounts, name
        assert from_events.token_balances == from_state.token_balances, name
        assert from_events.tariffs == from_state.tariffs, name
    # orders placed, filled and closed: the replay follows the escrow and the fills
    assert any(order.filled_wh for order in from_events.orders)


def test_audit_on_a_node_restarted_without_old_states(community, tmp_path):
    """The demo's Anvil (start_anvil with a state file) keeps no old states across a restart:
    the audit still re-runs the solver on every interval, from the events, with the same verdicts."""
    import gzip

    c = community
    _, full_lines = run_audit(c)
    dumped = c.web3.provider.make_request("anvil_dumpState", [])["result"]
    state_file = tmp_path / "chain" / "anvil-state.json"
    state_file.parent.mkdir()
    state_file.write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
    node = start_anvil(state_file=state_file)
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        old_block = c.web3.eth.block_number - 3
        with pytest.raises(Exception, match="BlockOutOfRange|state"):
            web3.eth.get_balance(c.households["buyer"].address, block_identifier=old_block)
        restarted = replace(c, node_url=node.url, web3=web3)
        result, lines = run_audit(restarted)
        assert result.exit_code == 1
        assert "cannot read" not in result.output, result.output
        assert lines == full_lines
        assert "audited 8 intervals: 4 OK, 4 FAIL" in result.output
    finally:
        node.stop()
