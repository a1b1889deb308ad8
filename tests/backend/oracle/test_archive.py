"""The readings archive on real databases: built from closed and settled intervals, written
atomically, and read back; the auditor (backend.audit, the one archive verifier) passes the
honest documents and reports every alteration, leaf by leaf."""

from __future__ import annotations

import copy
import json
import math
from collections import defaultdict
from dataclasses import dataclass

import pytest
from eth_account import Account
from sqlalchemy import delete, select, update

from backend.audit.archive_checks import check_archive
from backend.audit.archive_source import ArchiveSource
from backend.audit.chain_view import MeterAssignment, SettledEntry, SettledInterval
from backend.chain.deploy import Deployment
from backend.db.models import Interval, IntervalEntry, Reading, SettlementOutbox
from backend.meters.simulator import payload, topic
from backend.oracle.archive import (
    ArchiveContext,
    ArchiveError,
    ArchiveNotReady,
    archive_path,
    build_archive,
    publish_settled,
    write_archive,
)
from backend.oracle.closing import ClosedInterval, close_due
from backend.oracle.ingest import STORED, Ingester, Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.archive import ArchiveMalformed, archive_json, parse_archive, parse_archive_bytes
from backend.protocol.merkle import verify
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading, to_checksum

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MARKET = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CONTEXT = ArchiveContext(31337, REGISTRY, MARKET, 900)
DOMAIN = CONTEXT.domain
L, GRACE, K = 900, 60, 1_960_000
S0 = K * L
PRICE = 120_000
TOP_KEYS = [
    "version",
    "chainId",
    "registry",
    "market",
    "intervalId",
    "intervalSeconds",
    "start",
    "end",
    "readingsRoot",
    "clearingPrice",
    "settlementTxs",
    "leaves",
]
LEAF_KEYS = [
    "household",
    "meter",
    "producedWh",
    "consumedWh",
    "startRegisters",
    "endRegisters",
    "previousInterval",
    "readingsHash",
    "leaf",
    "proof",
    "readings",
]


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
def db(sessions):
    yield sessions
    with sessions() as session:
        for table in (IntervalEntry, SettlementOutbox, Interval):
            session.execute(delete(table))
        session.commit()


@dataclass
class Settled:
    closed: list[ClosedInterval]
    registry: dict[str, MeterInfo]  # meter -> its household, as the CommunityRegistry says


@pytest.fixture
def settled(db):
    """Three households over three settled intervals (K in chunks, K + 1 and K + 2 in one transaction each)."""
    accounts = [Account.create() for _ in range(3)]
    registry = {a.address: MeterInfo(a.address, Account.create().address, 10**6, True) for a in accounts}
    ingester = Ingester(db, DOMAIN, "archive-test", registry.get, clock=lambda: 2**40, max_age_s=math.inf)
    seq = defaultdict(int)
    messages = []
    for step in range(26):
        for i, account in enumerate(accounts):
            if i == 2 and 3 < step < 15:
                continue  # the third meter goes quiet for a while
            seq[account.address] += 1
            reading = MeterReading(
                account.address,
                seq[account.address],
                S0 + 130 * step + 7 * i,
                1_000 + 11 * step * i,
                500 + 5 * step,
                100 * i,
            )
            messages.append(
                Message(topic("archive-test", account.address), payload(sign_reading(reading, DOMAIN, account.key)), 0)
            )
    assert {o.status for o in ingester.process(messages)} == {STORED}
    closed = close_due(db, L, GRACE, DOMAIN, now=2**40)
    assert [c.interval_id for c in closed] == [K, K + 1, K + 2]
    with db() as session:
        for interval_id in (K, K + 1, K + 2):
            session.execute(
                update(Interval)
                .where(Interval.interval_id == interval_id)
                .values(
                    status="settled",
                    clearing_price=PRICE,
                    settled_tx=tx(interval_id),
                    settled_block=interval_id - K + 10,
                )
            )
        # K was chunked; rows are added out of order, and one chunk failed once before it went through.
        for chunk, kind, status in (
            (2, "close_interval", "confirmed"),
            (1, "settle_chunk", "confirmed"),
            (0, "settle_chunk", "confirmed"),
        ):
            session.add(
                SettlementOutbox(
                    interval_id=K,
                    chunk_index=chunk,
                    kind=kind,
                    status=status,
                    payload={},
                    nonce=chunk,
                    tx_hash=tx(100 + chunk),
                )
            )
        session.commit()
    return Settled(closed, registry)


def documents(db) -> dict[int, dict]:
    with db() as session:
        return {k: build_archive(session, k, CONTEXT) for k in (K, K + 1, K + 2)}


def test_archive_document_has_the_published_shape(db, settled):
    docs = documents(db)
    doc = docs[K]
    assert list(doc) == TOP_KEYS
    assert (doc["version"], doc["chainId"], doc["registry"], doc["market"]) == (1, 31337, REGISTRY, MARKET)
    assert (doc["intervalId"], doc["intervalSeconds"], doc["start"], doc["end"]) == (K, L, S0, S0 + L)
    assert doc["readingsRoot"] == "0x" + settled.closed[0].readings_root.hex()
    assert doc["clearingPrice"] == PRICE
    assert doc["settlementTxs"] == [tx(100), tx(101), tx(102)]  # chunks in order, then the close
    assert docs[K + 1]["settlementTxs"] == [tx(K + 1)]
    households = [leaf["household"] for leaf in doc["leaves"]]
    assert households == sorted(households, key=lambda h: int(h, 16)) and len(households) == 3
    for leaf in doc["leaves"]:
        assert list(leaf) == LEAF_KEYS
        assert leaf["household"] == to_checksum(leaf["household"]) and leaf["meter"] == to_checksum(leaf["meter"])
        assert leaf["previousInterval"] is None
        assert [r["seq"] for r in leaf["readings"]] == sorted(r["seq"] for r in leaf["readings"])
        assert all(
            list(r) == ["meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature"]
            for r in leaf["readings"]
        )
        assert all(r["signature"] == r["signature"].lower() and len(r["signature"]) == 132 for r in leaf["readings"])
        # the proof leads to the root, as OpenZeppelin's MerkleProof would verify it
        assert verify(
            [bytes.fromhex(p[2:]) for p in leaf["proof"]],
            bytes.fromhex(doc["readingsRoot"][2:]),
            bytes.fromhex(leaf["leaf"][2:]),
        )
    assert all(leaf["previousInterval"] == K for leaf in docs[K + 1]["leaves"])
    # The same bytes of JSON a reader of docs/mqtt.md expects: ints are numbers.
    assert json.loads(json.dumps(doc)) == doc


DEPLOYMENT = Deployment(
    chain_id=31337,
    deploy_block=1,
    settings={"intervalSeconds": L},
    contracts={"CommunityRegistry": {"address": REGISTRY, "abi": []}, "EnergyMarket": {"address": MARKET, "abi": []}},
)
SETTLEMENT_TXS = {K: [tx(100), tx(101), tx(102)], K + 1: [tx(K + 1)], K + 2: [tx(K + 2)]}


class SettledChain:
    """What the chain says after the oracle settled the fixture's intervals, in the auditor's ChainView
    terms (IntervalSettled, HouseholdSettled, the registry's meters), taken from the oracle's committed
    rows rather than a node: the archive checks are under test here, not the log reader."""

    def __init__(self, db, registry: dict[str, MeterInfo]):
        self.deployment = DEPLOYMENT
        self.interval_seconds = L
        self.registry = registry
        self.intervals: dict[int, SettledInterval] = {}
        with db() as session:
            for row in session.scalars(select(Interval).where(Interval.status == "settled")):
                block = row.settled_block
                entries = session.scalars(select(IntervalEntry).where(IntervalEntry.interval_id == row.interval_id))
                self.intervals[row.interval_id] = SettledInterval(
                    row.interval_id,
                    entries=[SettledEntry(e.household, e.produced_wh, e.consumed_wh, 0, 0, 0) for e in entries],
                    tx_positions={h: (block, i) for i, h in enumerate(SETTLEMENT_TXS[row.interval_id])},
                    closed_block=block,
                    readings_root=bytes(row.readings_root),
                    clearing_price=row.clearing_price,
                )

    def intervals_settled_for(self, household: str, after: int, before: int) -> list[int]:
        return sorted(
            k
            for k, interval in self.intervals.items()
            if after < k < before and any(e.household == household for e in interval.entries)
        )

    def meter_assignments(self, meter: str, up_to_block: int) -> list[MeterAssignment]:
        info = self.registry.get(meter)
        return [] if info is None else [MeterAssignment(info.household, 0, None)]

    def block_timestamp(self, block: int) -> int:
        raise AssertionError("no meter of the fixture is ever replaced")


@pytest.fixture
def chain(db, settled):
    return SettledChain(db, settled.registry)


@pytest.fixture
def published(db, settled, tmp_path):
    """The three documents, written where the auditor reads them (tmp_path/31337/<intervalId>.json)."""
    docs = documents(db)
    for doc in docs.values():
        write_archive(doc, tmp_path)
    return docs


def audit_findings(document, interval_id, chain, archive_dir, domain=DOMAIN) -> list[str]:
    """What the auditor finds in one document, as `vatio audit` reports it (a malformed document is one finding)."""
    try:
        parsed = parse_archive(document)
    except ArchiveMalformed as malformed:
        return [f"archive document malformed: {malformed}"]
    return check_archive(parsed, chain.intervals[interval_id], chain, ArchiveSource(str(archive_dir), 31337), domain)


def archive_with(published, folder, interval_id, edit):
    """A copy of the published archive in `folder` with one document edited."""
    for k, doc in published.items():
        doc = copy.deepcopy(doc)
        if k == interval_id:
            edit(doc)
        write_archive(doc, folder)
    return folder


def test_archives_round_trip_through_the_schema(db, settled, tmp_path):
    docs = documents(db)
    paths = [write_archive(doc, tmp_path) for doc in docs.values()]
    assert paths == [tmp_path / "31337" / f"{k}.json" for k in (K, K + 1, K + 2)]
    assert [p.name for p in (tmp_path / "31337").iterdir() if p.name.startswith(".")] == []  # no temporary left
    source = ArchiveSource(str(tmp_path), 31337)
    for k, doc in docs.items():
        raw = archive_path(tmp_path, 31337, k).read_bytes()
        assert json.loads(raw) == doc
        parsed = parse_archive_bytes(raw)
        # what the auditor reads is exactly what the oracle wrote, field for field
        assert archive_json(parsed) == doc
        assert source.load(k) == parsed
        assert [len(leaf.readings) for leaf in parsed.leaves] == [len(leaf["readings"]) for leaf in doc["leaves"]]


def test_honest_archives_pass_the_auditor(published, chain, tmp_path):
    for k, doc in published.items():
        assert audit_findings(doc, k, chain, tmp_path) == []
    # Without the earlier archives a continuing leaf is not passed, only reported unchecked.
    alone = tmp_path / "alone"
    write_archive(published[K + 1], alone)
    unchecked = audit_findings(published[K + 1], K + 1, chain, alone)
    assert len(unchecked) == 3, unchecked
    assert all(f"startRegisters cannot be checked: previous interval {K}'s archive is unusable" in p for p in unchecked)
    # The wrong community's domain: every signature recovers to another key.
    other = audit_findings(published[K], K, chain, tmp_path, MeterDomain(1, REGISTRY))
    assert any("signature recovers to" in p for p in other)


def _reading(doc, leaf=0, index=-1):
    return doc["leaves"][leaf]["readings"][index]


def _flip_signature_digit(doc):
    reading = _reading(doc, index=0)
    digit = "1" if reading["signature"][70] != "1" else "2"
    reading["signature"] = reading["signature"][:70] + digit + reading["signature"][71:]


TAMPERING = {
    "a reading's register": (
        lambda d: _reading(d).__setitem__("producedWh", _reading(d)["producedWh"] + 1),
        ["signature recovers to", "but the readings hash to", "root recomputed from the readings"],
    ),
    "a signature": (_flip_signature_digit, ["reading seq"]),
    "the start registers": (
        lambda d: d["leaves"][0]["startRegisters"].__setitem__(
            "consumedWh", d["leaves"][0]["startRegisters"]["consumedWh"] - 1
        ),
        [f"but interval {K}'s endRegisters says", "but end - start registers is"],
    ),
    "the end registers": (
        lambda d: d["leaves"][0]["endRegisters"].__setitem__(
            "producedWh", d["leaves"][0]["endRegisters"]["producedWh"] + 3
        ),
        ["but the readings give"],
    ),
    "the leaf's energy": (
        lambda d: d["leaves"][0].__setitem__("producedWh", d["leaves"][0]["producedWh"] + 1),
        ["but its fields hash to", "root recomputed from the readings", "HouseholdSettled says"],
    ),
    "the leaf hash": (lambda d: d["leaves"][0].__setitem__("leaf", "0x" + "ab" * 32), ["but its fields hash to"]),
    "a proof node": (
        lambda d: d["leaves"][0]["proof"].__setitem__(0, "0x" + "cd" * 32),
        ["Merkle proof does not lead"],
    ),
    "the anchor dropped": (
        lambda d: d["leaves"][0]["readings"].pop(0),
        ["but the readings hash to", "lists no reading at or before the start"],
    ),
    "a reading added": (
        lambda d: d["leaves"][0]["readings"].append(copy.deepcopy(_reading(d))),
        ["not sorted by strictly increasing seq", "readings cannot be hashed"],
    ),
    "the readings root": (
        lambda d: d.__setitem__("readingsRoot", "0x" + "ef" * 32),
        ["archive readingsRoot is 0x" + "ef" * 32, "Merkle proof does not lead"],
    ),
    "the leaves' order": (lambda d: d["leaves"].reverse(), ["leaves are not sorted by household"]),
}


@pytest.mark.parametrize("change", TAMPERING, ids=list(TAMPERING))
def test_every_alteration_is_reported_precisely(published, chain, tmp_path, change):
    altered = copy.deepcopy(published[K + 1])  # a continuing interval: the previous leaf is checked too
    tamper, expected = TAMPERING[change]
    tamper(altered)
    problems = audit_findings(altered, K + 1, chain, tmp_path)
    for words in expected:
        assert any(words in problem for problem in problems), (words, problems)
    if change not in ("the readings root", "the leaves' order"):  # those concern every leaf
        target = altered["leaves"][0]["household"]
        assert all(p.startswith((f"leaf {target}: ", "root ")) for p in problems), problems


def _leaf_of_meter(doc, meter):
    return next(leaf for leaf in doc["leaves"] if leaf["meter"] == meter)


def test_the_previous_leaf_is_checked_too(published, chain, tmp_path):
    """A continuing leaf starts where the meter's previous leaf ended, and both list the same readings."""
    meter = published[K]["leaves"][0]["meter"]
    other_meter = published[K]["leaves"][1]["meter"]

    def findings(edit_previous=None, edit_current=None):
        folder = archive_with(
            published, tmp_path / f"case{len(list(tmp_path.iterdir()))}", K, edit_previous or (lambda d: None)
        )
        current = copy.deepcopy(published[K + 1])
        if edit_current:
            edit_current(current)
        return [
            p
            for p in audit_findings(current, K + 1, chain, folder)
            if p.startswith(f"leaf {_leaf_of_meter(current, meter)['household']}: ")
        ]

    assert findings() == []

    def more_end_energy(doc):
        _leaf_of_meter(doc, meter)["endRegisters"]["consumedWh"] += 1

    assert any(f"but interval {K}'s endRegisters says" in p for p in findings(more_end_energy))

    def another_meter(doc):
        _leaf_of_meter(doc, meter)["meter"] = other_meter

    assert any(f"previousInterval {K} has no leaf for meter {meter}" in p for p in findings(another_meter))

    def other_partner(doc):  # the previous leaf's partner is listed again by the next leaf
        _leaf_of_meter(doc, meter)["readings"][-1]["powerW"] += 1

    shared_seq = _leaf_of_meter(published[K], meter)["readings"][-1]["seq"]
    assert f"reading seq {shared_seq} differs from the same seq in interval {K}'s leaf" in " ".join(
        findings(other_partner)
    )

    older = _leaf_of_meter(published[K], meter)["readings"][-3]

    def older_anchor(doc):
        _leaf_of_meter(doc, meter)["readings"][0] = copy.deepcopy(older)

    assert any(
        f"the anchor (seq {older['seq']}) is older than interval {K}'s last reading" in p
        for p in findings(edit_current=older_anchor)
    )


HOSTILE = {
    "not a leaf": ("leaf", "archive document malformed: leaves[0]: must be a JSON object"),
    "no readings": ({"household": "0x" + "11" * 20}, "archive document malformed: leaves[0]."),
    "readings not a list": (
        lambda leaf: leaf.__setitem__("readings", {"a": 1}),
        "archive document malformed: leaves[0].readings: must be a list",
    ),
    "empty readings": (lambda leaf: leaf.__setitem__("readings", []), ": lists no readings"),
    "energy a float": (
        lambda leaf: leaf.__setitem__("producedWh", 1.0),
        "archive document malformed: leaves[0].producedWh: must be an integer",
    ),
    "energy a bool": (
        lambda leaf: leaf.__setitem__("consumedWh", True),
        "archive document malformed: leaves[0].consumedWh: must be an integer",
    ),
    "energy past uint64": (
        lambda leaf: leaf.__setitem__("producedWh", 2**64),
        "archive document malformed: leaves[0].producedWh: must be an integer",
    ),
    "hash in upper case": (
        lambda leaf: leaf.__setitem__("readingsHash", leaf["readingsHash"].upper()),
        "archive document malformed: leaves[0].readingsHash: must be 0x + 64 hex digits",
    ),
    "reading with an extra field": (
        lambda leaf: leaf["readings"][0].__setitem__("note", "hi"),
        "archive document malformed: leaves[0].readings[0]: missing fields",
    ),
    "reading power past uint32": (
        lambda leaf: leaf["readings"][0].__setitem__("powerW", 2**32),
        "archive document malformed: leaves[0].readings[0]: powerW must be in",
    ),
    "short signature": (
        lambda leaf: leaf["readings"][0].__setitem__("signature", "0x1234"),
        "archive document malformed: leaves[0].readings[0]: signature must be 0x + 130 hex",
    ),
    "previousInterval in the future": (
        lambda leaf: leaf.__setitem__("previousInterval", K + 5),
        f"previousInterval {K + 5} is not before this interval",
    ),
    "proof not a list": (
        lambda leaf: leaf.__setitem__("proof", "0x00"),
        "archive document malformed: leaves[0].proof: must be a list",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_leaves_are_reported_not_raised(published, chain, tmp_path, case):
    change, expected = HOSTILE[case]
    altered = copy.deepcopy(published[K])
    if callable(change):
        change(altered["leaves"][0])
    else:
        altered["leaves"][0] = change
    problems = audit_findings(altered, K, chain, tmp_path)
    assert any(expected in problem for problem in problems), (expected, problems)


def test_an_address_in_another_case_names_the_same_meter(published, chain, tmp_path):
    """Addresses are written in EIP-55 form, but case is not content: the auditor compares the addresses."""
    altered = copy.deepcopy(published[K])
    altered["leaves"][0]["meter"] = altered["leaves"][0]["meter"].lower()
    assert audit_findings(altered, K, chain, tmp_path) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"leaves": []}, "archive has no leaves"),
        ({"version": 2}, "archive document malformed: version: unsupported archive version 2"),
        ({"intervalSeconds": 0}, "archive intervalSeconds is 0, the chain says 900"),
        ({"start": 5}, f"archive start is 5, the chain says {S0}"),
        ({"registry": "0x12"}, "archive document malformed: registry: must be a 0x + 40 hex address"),
        ({"leaves": "none"}, "archive document malformed: leaves: must be a list"),
        ({"readingsRoot": None}, "archive document malformed: readingsRoot: must be 0x + 64 hex digits"),
    ],
    ids=[
        "no leaves",
        "version 2",
        "no interval length",
        "wrong start",
        "short registry",
        "leaves not a list",
        "no root",
    ],
)
def test_a_hostile_document_is_reported_not_raised(published, chain, tmp_path, change, expected):
    problems = audit_findings({**published[K], **change}, K, chain, tmp_path)
    assert any(expected in problem for problem in problems), (expected, problems)


def test_a_document_that_is_not_an_object_is_malformed(chain, tmp_path, settled):
    assert audit_findings([], K, chain, tmp_path) == [
        "archive document malformed: document: must be a JSON object, got list"
    ]


def test_only_settled_intervals_are_archived_unless_asked(db, settled):
    with db() as session:
        session.execute(
            update(Interval)
            .where(Interval.interval_id == K + 2)
            .values(status="closed", clearing_price=None, settled_tx=None, settled_block=None)
        )
        session.commit()
        with pytest.raises(ArchiveNotReady, match="closed, not settled"):
            build_archive(session, K + 2, CONTEXT)
        with pytest.raises(ArchiveNotReady, match="not closed"):
            build_archive(session, K + 9, CONTEXT)
        preview = build_archive(session, K + 2, CONTEXT, require_settled=False)
        assert (preview["clearingPrice"], preview["settlementTxs"]) == (None, [])
        with pytest.raises(ArchiveMalformed, match="clearingPrice"):
            parse_archive(preview)  # a preview is never published, and never passes for a settled document
        session.execute(
            update(Interval)
            .where(Interval.interval_id == K + 2)
            .values(status="settled", clearing_price=PRICE, settled_tx=tx(K + 2), settled_block=12)
        )
        session.commit()
        published = build_archive(session, K + 2, CONTEXT)
    # Once settled, only the price and the transactions change: the leaves were final at closing.
    assert {**preview, "clearingPrice": PRICE, "settlementTxs": [tx(K + 2)]} == published


def test_publish_writes_each_settled_interval_once(db, settled, tmp_path):
    with db() as session:
        written = publish_settled(session, CONTEXT, tmp_path)
        assert written == [archive_path(tmp_path, 31337, k) for k in (K, K + 1, K + 2)]
        assert publish_settled(session, CONTEXT, tmp_path) == []
        archive_path(tmp_path, 31337, K + 1).unlink()
        assert publish_settled(session, CONTEXT, tmp_path, after=K) == [archive_path(tmp_path, 31337, K + 1)]


def test_stored_readings_that_no_longer_match_are_never_archived(db, settled):
    with db() as session:
        entry = session.scalars(select(IntervalEntry).where(IntervalEntry.interval_id == K + 1)).first()
        session.execute(
            update(Reading).where(Reading.meter == entry.meter, Reading.seq == entry.last_seq).values(power_w=7)
        )
        session.commit()
        with pytest.raises(ArchiveError, match="no longer hash"):
            build_archive(session, K + 1, CONTEXT)


def test_reading_an_archive_that_is_not_one(tmp_path):
    for content in (b"{not json", b"[1, 2]", b'{"version": 2}', b'{"version": NaN}', b'{"version": 1, "version": 1}'):
        with pytest.raises(ArchiveMalformed):
            parse_archive_bytes(content)
    with pytest.raises(ValueError):
        archive_path(tmp_path, 31337, -1)


def test_context_from_a_deployment():
    deployment = Deployment(
        chain_id=31337,
        deploy_block=1,
        settings={"intervalSeconds": 900},
        contracts={
            "CommunityRegistry": {"address": REGISTRY.lower(), "abi": []},
            "EnergyMarket": {"address": MARKET, "abi": []},
        },
    )
    assert ArchiveContext.from_deployment(deployment) == CONTEXT
    assert ArchiveContext.from_deployment(deployment, interval_seconds=60).interval_seconds == 60
