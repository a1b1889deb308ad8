"""The readings archive on real databases: built from closed and settled intervals, written
atomically, read back, and re-checked from the JSON alone; every alteration is reported."""

from __future__ import annotations

import math

import copy
import json
from collections import defaultdict

import pytest
from eth_account import Account
from sqlalchemy import delete, select, update

from backend.chain.deploy import Deployment
from backend.db.models import Interval, IntervalEntry, Reading, SettlementOutbox
from backend.meters.simulator import payload, topic
from backend.oracle.archive import (
    ArchiveContext,
    ArchiveError,
    ArchiveNotReady,
    archive_path,
    build_archive,
    check_archive,
    check_leaf,
    load_archive,
    previous_leaf_finder,
    publish_settled,
    write_archive,
)
from backend.oracle.closing import close_due
from backend.oracle.ingest import STORED, Ingester, Message
from backend.oracle.merkle import verify
from backend.oracle.readings import MeterDomain, MeterReading, sign_reading, to_checksum
from backend.oracle.verifier import MeterInfo

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MARKET = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CONTEXT = ArchiveContext(31337, REGISTRY, MARKET, 900)
DOMAIN = CONTEXT.domain
L, GRACE, K = 900, 60, 1_960_000
S0 = K * L
PRICE = 120_000
TOP_KEYS = ["version", "chainId", "registry", "market", "intervalId", "intervalSeconds", "start", "end",
            "readingsRoot", "clearingPrice", "settlementTxs", "leaves"]
LEAF_KEYS = ["household", "meter", "producedWh", "consumedWh", "startRegisters", "endRegisters", "previousInterval",
             "readingsHash", "leaf", "proof", "readings"]


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
def db(sessions):
    yield sessions
    with sessions() as session:
        for table in (IntervalEntry, SettlementOutbox, Interval):
            session.execute(delete(table))
        session.commit()


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
            reading = MeterReading(account.address, seq[account.address], S0 + 130 * step + 7 * i,
                                   1_000 + 11 * step * i, 500 + 5 * step, 100 * i)
            messages.append(Message(topic("archive-test", account.address),
                                    payload(sign_reading(reading, DOMAIN, account.key)), 0))
    assert {o.status for o in ingester.process(messages)} == {STORED}
    closed = close_due(db, L, GRACE, DOMAIN, now=2**40)
    assert [c.interval_id for c in closed] == [K, K + 1, K + 2]
    with db() as session:
        for interval_id in (K, K + 1, K + 2):
            session.execute(update(Interval).where(Interval.interval_id == interval_id).values(
                status="settled", clearing_price=PRICE, settled_tx=tx(interval_id), settled_block=interval_id - K + 10))
        # K was chunked; rows are added out of order, and one chunk failed once before it went through.
        for chunk, kind, status in ((2, "close_interval", "confirmed"), (1, "settle_chunk", "confirmed"),
                                    (0, "settle_chunk", "confirmed")):
            session.add(SettlementOutbox(interval_id=K, chunk_index=chunk, kind=kind, status=status, payload={},
                                         nonce=chunk, tx_hash=tx(100 + chunk)))
        session.commit()
    return closed


def documents(db) -> dict[int, dict]:
    with db() as session:
        return {k: build_archive(session, k, CONTEXT) for k in (K, K + 1, K + 2)}


def test_archive_document_has_the_published_shape(db, settled):
    docs = documents(db)
    doc = docs[K]
    assert list(doc) == TOP_KEYS
    assert (doc["version"], doc["chainId"], doc["registry"], doc["market"]) == (1, 31337, REGISTRY, MARKET)
    assert (doc["intervalId"], doc["intervalSeconds"], doc["start"], doc["end"]) == (K, L, S0, S0 + L)
    assert doc["readingsRoot"] == "0x" + settled[0].readings_root.hex()
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
        assert all(list(r) == ["meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature"]
                   for r in leaf["readings"])
        assert all(r["signature"] == r["signature"].lower() and len(r["signature"]) == 132 for r in leaf["readings"])
        # the proof leads to the root, as OpenZeppelin's MerkleProof would verify it
        assert verify([bytes.fromhex(p[2:]) for p in leaf["proof"]], bytes.fromhex(doc["readingsRoot"][2:]),
                      bytes.fromhex(leaf["leaf"][2:]))
    assert all(leaf["previousInterval"] == K for leaf in docs[K + 1]["leaves"])
    # The same bytes of JSON a reader of docs/mqtt.md expects: ints are numbers.
    assert json.loads(json.dumps(doc)) == doc


def test_honest_archives_check_out_and_round_trip(db, settled, tmp_path):
    docs = documents(db)
    paths = [write_archive(doc, tmp_path) for doc in docs.values()]
    assert paths == [tmp_path / "31337" / f"{k}.json" for k in (K, K + 1, K + 2)]
    assert [p.name for p in (tmp_path / "31337").iterdir() if p.name.startswith(".")] == []  # no temporary left
    for k, doc in docs.items():
        assert load_archive(tmp_path, 31337, k) == doc == load_archive(archive_path(tmp_path, 31337, k))
    previous_leaf = previous_leaf_finder(tmp_path, 31337)
    for doc in docs.values():
        assert check_archive(doc, DOMAIN, previous_leaf) == []
        for leaf in doc["leaves"]:
            previous = previous_leaf(leaf["previousInterval"], leaf["meter"]) if leaf["previousInterval"] else None
            assert check_leaf(leaf, doc, DOMAIN, previous) == []
    # Without the earlier archives a continuing leaf is not passed, only reported unchecked.
    unchecked = check_archive(docs[K + 1], DOMAIN)
    assert len(unchecked) == 3 and all("not available; startRegisters unchecked" in p for p in unchecked)
    # The wrong community's domain: every signature recovers to another key.
    other = MeterDomain(1, REGISTRY)
    assert any("chainId" in p for p in check_archive(docs[K], other))
    assert any("signature recovers to" in p for p in check_archive(docs[K], other))


def _reading(doc, leaf=0, index=-1):
    return doc["leaves"][leaf]["readings"][index]


TAMPERING = {
    "a reading's register": (lambda d: _reading(d).__setitem__("producedWh", _reading(d)["producedWh"] + 1),
                             ["signature recovers to", "readingsHash"]),
    "a signature": (lambda d: _reading(d, index=0).__setitem__(
        "signature", _reading(d, index=0)["signature"][:70] + ("1" if _reading(d, index=0)["signature"][70] != "1"
                                                               else "2") + _reading(d, index=0)["signature"][71:]),
        ["reading seq"]),
    "the start registers": (lambda d: d["leaves"][0]["startRegisters"].__setitem__(
        "consumedWh", d["leaves"][0]["startRegisters"]["consumedWh"] - 1),
        ["startRegisters", "!= endRegisters - startRegisters"]),
    "the end registers": (lambda d: d["leaves"][0]["endRegisters"].__setitem__(
        "producedWh", d["leaves"][0]["endRegisters"]["producedWh"] + 3), ["!= register_at(readings"]),
    "the leaf's energy": (lambda d: d["leaves"][0].__setitem__("producedWh", d["leaves"][0]["producedWh"] + 1),
                          ["!= the hash of its fields", "proof does not lead", "!= the root of the leaves"]),
    "the leaf hash": (lambda d: d["leaves"][0].__setitem__("leaf", "0x" + "ab" * 32), ["!= the hash of its fields"]),
    "a proof node": (lambda d: d["leaves"][0]["proof"].__setitem__(0, "0x" + "cd" * 32), ["proof does not lead"]),
    "the anchor dropped": (lambda d: d["leaves"][0]["readings"].pop(0), ["readingsHash", "exactly one (the anchor)"]),
    "a reading added": (lambda d: d["leaves"][0]["readings"].append(copy.deepcopy(_reading(d))),
                        ["strictly increasing"]),
    "the readings root": (lambda d: d.__setitem__("readingsRoot", "0x" + "ef" * 32),
                          ["proof does not lead", "!= the root of the leaves"]),
    "the leaves' order": (lambda d: d["leaves"].reverse(), ["not sorted"]),
}


@pytest.mark.parametrize("change", TAMPERING, ids=list(TAMPERING))
def test_every_alteration_is_reported_precisely(db, settled, tmp_path, change):
    docs = documents(db)
    for doc in docs.values():
        write_archive(doc, tmp_path)
    altered = copy.deepcopy(docs[K + 1])  # a continuing interval: the previous leaf is checked too
    tamper, expected = TAMPERING[change]
    tamper(altered)
    problems = check_archive(altered, DOMAIN, previous_leaf_finder(tmp_path, 31337))
    for words in expected:
        assert any(words in problem for problem in problems), (words, problems)
    if change not in ("the readings root", "the leaves' order"):  # those concern every leaf
        target = altered["leaves"][0]["household"]
        assert all(p.startswith((f"leaf {target}", "archive:")) for p in problems), problems


def test_a_changed_reading_is_also_caught_by_the_next_leaf(db, settled):
    docs = documents(db)
    meter = docs[K]["leaves"][0]["meter"]
    altered_previous = copy.deepcopy(docs[K])
    altered_previous["leaves"][0]["endRegisters"]["consumedWh"] += 1
    next_leaf = next(leaf for leaf in docs[K + 1]["leaves"] if leaf["meter"] == meter)
    problems = check_leaf(next_leaf, docs[K + 1], DOMAIN, altered_previous["leaves"][0])
    assert any("the previous leaf's endRegisters" in p for p in problems)
    wrong_meter = next(leaf for leaf in docs[K]["leaves"] if leaf["meter"] != meter)
    assert any("is not of meter" in p for p in check_leaf(next_leaf, docs[K + 1], DOMAIN, wrong_meter))


HOSTILE = {
    "not a leaf": "leaf",
    "no readings": {"household": "0x" + "11" * 20},
    "readings not a list": lambda leaf: leaf.__setitem__("readings", {"a": 1}),
    "empty readings": lambda leaf: leaf.__setitem__("readings", []),
    "energy a float": lambda leaf: leaf.__setitem__("producedWh", 1.0),
    "energy a bool": lambda leaf: leaf.__setitem__("consumedWh", True),
    "energy past uint64": lambda leaf: leaf.__setitem__("producedWh", 2**64),
    "hash in upper case": lambda leaf: leaf.__setitem__("readingsHash", leaf["readingsHash"].upper()),
    "meter not EIP-55": lambda leaf: leaf.__setitem__("meter", leaf["meter"].lower()),
    "reading with an extra field": lambda leaf: leaf["readings"][0].__setitem__("note", "hi"),
    "reading power past uint32": lambda leaf: leaf["readings"][0].__setitem__("powerW", 2**32),
    "short signature": lambda leaf: leaf["readings"][0].__setitem__("signature", "0x1234"),
    "previousInterval in the future": lambda leaf: leaf.__setitem__("previousInterval", K + 5),
    "proof not a list": lambda leaf: leaf.__setitem__("proof", "0x00"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_leaves_are_reported_not_raised(db, settled, case):
    doc = documents(db)[K]
    change = HOSTILE[case]
    leaf = copy.deepcopy(doc["leaves"][0])
    if callable(change):
        change(leaf)
    else:
        leaf = change
    assert check_leaf(leaf, doc, DOMAIN) != []
    altered = copy.deepcopy(doc)
    altered["leaves"][0] = leaf
    assert check_archive(altered, DOMAIN) != []


def test_a_hostile_document_is_reported_not_raised(db, settled):
    doc = documents(db)[K]
    for change in ({"leaves": []}, {"version": 2}, {"intervalSeconds": 0}, {"start": 5}, {"registry": "0x12"},
                   {"leaves": "none"}, {"readingsRoot": None}):
        assert check_archive({**doc, **change}, DOMAIN) != []
    assert check_archive([], DOMAIN) != []


def test_only_settled_intervals_are_archived_unless_asked(db, settled):
    with db() as session:
        session.execute(update(Interval).where(Interval.interval_id == K + 2).values(
            status="closed", clearing_price=None, settled_tx=None, settled_block=None))
        session.commit()
        with pytest.raises(ArchiveNotReady, match="closed, not settled"):
            build_archive(session, K + 2, CONTEXT)
        with pytest.raises(ArchiveNotReady, match="not closed"):
            build_archive(session, K + 9, CONTEXT)
        preview = build_archive(session, K + 2, CONTEXT, require_settled=False)
        assert (preview["clearingPrice"], preview["settlementTxs"]) == (None, [])
        assert check_archive(preview, DOMAIN, previous_leaf_finder(None, 31337, documents={
            k: build_archive(session, k, CONTEXT) for k in (K, K + 1)})) == []


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
        session.execute(update(Reading).where(Reading.meter == entry.meter, Reading.seq == entry.last_seq)
                        .values(power_w=7))
        session.commit()
        with pytest.raises(ArchiveError, match="no longer hash"):
            build_archive(session, K + 1, CONTEXT)


def test_reading_an_archive_that_is_missing_or_not_one(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_archive(tmp_path, 31337, K)
    path = archive_path(tmp_path, 31337, K)
    path.parent.mkdir(parents=True)
    for content in (b"{not json", b"[1, 2]", b'{"version": 2}', b'{"version": NaN}'):
        path.write_bytes(content)
        with pytest.raises(ArchiveError):
            load_archive(path)
    with pytest.raises(ValueError):
        archive_path(tmp_path, 31337, -1)


def test_context_from_a_deployment():
    deployment = Deployment(chain_id=31337, deploy_block=1, settings={"intervalSeconds": 900}, contracts={
        "CommunityRegistry": {"address": REGISTRY.lower(), "abi": []},
        "EnergyMarket": {"address": MARKET, "abi": []}})
    assert ArchiveContext.from_deployment(deployment) == CONTEXT
    assert ArchiveContext.from_deployment(deployment, interval_seconds=60).interval_seconds == 60
