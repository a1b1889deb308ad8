"""Settled intervals: the list, one interval with its on-chain events, the archive file, one household's proof."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from web_helpers import add_event, add_meter

from backend.db.models import Interval, IntervalEntry
from backend.protocol.merkle import Leaf, MerkleTree

INTERVAL = 1_958_400
SECONDS = 900


def _leaves(households: list[tuple[str, str]]) -> list[Leaf]:
    return [
        Leaf(household, meter, INTERVAL, 100 * (i + 1), 40 * (i + 1), bytes([i + 1]) * 32)
        for i, (household, meter) in enumerate(households)
    ]


@pytest.fixture
def settled(app, sessions, community):
    """One settled interval in the DB, in chain_events and in the archive folder."""
    pairs = [(h, community.meters[h].address) for h in (community.alice.address, community.bob.address)]
    leaves = _leaves(pairs)
    tree = MerkleTree([leaf.hash() for leaf in leaves])
    root = "0x" + tree.root.hex()
    with sessions() as session:
        for household, meter in pairs:
            add_meter(session, household, meter)
        session.add(
            Interval(
                interval_id=INTERVAL,
                status="settled",
                readings_root=tree.root,
                clearing_price=120_000,
                closed_at=INTERVAL * SECONDS + SECONDS + 30,
                settled_tx="0x" + "ab" * 32,
                settled_block=42,
            )
        )
        session.flush()
        for leaf in leaves:
            session.add(
                IntervalEntry(
                    interval_id=INTERVAL,
                    household=leaf.household,
                    meter=leaf.meter,
                    produced_wh=leaf.produced_wh,
                    consumed_wh=leaf.consumed_wh,
                    readings_hash=leaf.readings_hash,
                    leaf=leaf.hash(),
                    first_seq=1,
                    last_seq=2,
                )
            )
        tx = 7
        add_event(
            session,
            "Filled",
            {
                "intervalId": str(INTERVAL),
                "orderId": "0",
                "household": pairs[0][0],
                "side": "1",
                "amountWh": "60",
                "value": "7200",
            },
            block=42,
            tx=tx,
            log_index=0,
        )
        add_event(
            session,
            "Filled",
            {
                "intervalId": str(INTERVAL),
                "orderId": "0",
                "household": pairs[1][0],
                "side": "0",
                "amountWh": "60",
                "value": "7200",
            },
            block=42,
            tx=tx,
            log_index=1,
        )
        for index, leaf in enumerate(leaves):
            add_event(
                session,
                "HouseholdSettled",
                {
                    "intervalId": str(INTERVAL),
                    "household": leaf.household,
                    "producedWh": str(leaf.produced_wh),
                    "consumedWh": str(leaf.consumed_wh),
                    "creditedWh": "0",
                    "burnedWh": "0",
                    "gridImportWh": "0",
                },
                block=42,
                tx=tx,
                log_index=2 + index,
            )
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": str(INTERVAL),
                "readingsRoot": root,
                "clearingPrice": "120000",
                "surplusWh": "60",
                "coveredWh": "60",
                "tradedWh": "60",
                "gridImportWh": "0",
                "chunks": "1",
            },
            block=42,
            tx=tx,
            log_index=4,
        )
        # another interval's settlement in another tx: must not leak into this one
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": str(INTERVAL - 1),
                "readingsRoot": "0x" + "00" * 32,
                "clearingPrice": "0",
                "surplusWh": "0",
                "coveredWh": "0",
                "tradedWh": "0",
                "gridImportWh": "0",
                "chunks": "1",
            },
            block=41,
            tx=6,
            log_index=0,
        )
        session.commit()
    document = {
        "version": 1,
        "chainId": 31337,
        "intervalId": INTERVAL,
        "intervalSeconds": SECONDS,
        "readingsRoot": root,
        "leaves": [
            {
                "household": leaf.household,
                "meter": leaf.meter,
                "producedWh": leaf.produced_wh,
                "consumedWh": leaf.consumed_wh,
                "readingsHash": "0x" + leaf.readings_hash.hex(),
                "leaf": "0x" + leaf.hash().hex(),
                "proof": ["0x" + p.hex() for p in tree.proof(leaf.hash())],
                "readings": [],
            }
            for leaf in leaves
        ],
    }
    folder = app.extensions["vatio"].config.archive_dir / "31337"
    folder.mkdir(parents=True)
    path = folder / f"{INTERVAL}.json"
    path.write_text(json.dumps(document, indent=1))
    return path, root


def test_archive_is_served_byte_for_byte(client, settled):
    path, _ = settled
    response = client.get(f"/api/intervals/{INTERVAL}/archive")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.data == path.read_bytes()


def test_unknown_or_invalid_interval(client, settled):
    for url in (
        f"/api/intervals/{INTERVAL + 1}/archive",
        f"/api/intervals/{INTERVAL + 1}",
        f"/api/intervals/{INTERVAL + 1}/proof/{Account.create().address}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.get_json()["error"]["code"] == "unknown_interval"
    for bad in ("abc", "-1", "1.5", str(2**63), "0x10"):
        response = client.get(f"/api/intervals/{bad}/archive")
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "invalid_interval_id"


def test_interval_detail_has_the_chain_root_and_only_its_events(client, settled):
    _, root = settled
    body = client.get(f"/api/intervals/{INTERVAL}").get_json()
    assert body["status"] == "settled" and body["households"] == 2
    assert body["readingsRoot"] == root == body["onChain"]["readingsRoot"]
    assert body["onChain"]["clearingPrice"] == 120_000 and body["onChain"]["tradedWh"] == 60
    assert [e["event"] for e in body["events"]] == [
        "Filled",
        "Filled",
        "HouseholdSettled",
        "HouseholdSettled",
        "IntervalSettled",
    ]
    assert body["producedWh"] == 300 and body["archiveAvailable"]


def test_proof_verifies_against_archive_and_chain_root(client, settled, community):
    body = client.get(f"/api/intervals/{INTERVAL}/proof/{community.bob.address.lower()}").get_json()
    assert body["household"] == community.bob.address
    assert body["verified"] and body["matchesChain"]
    assert body["producedWh"] == 200 and len(body["proof"]) == 1


def test_proof_of_a_stranger_and_bad_address(client, settled):
    response = client.get(f"/api/intervals/{INTERVAL}/proof/{Account.create().address}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_household"
    response = client.get(f"/api/intervals/{INTERVAL}/proof/0x1234")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_address"


def test_tampered_archive_proof_does_not_verify(client, settled, community):
    path, _ = settled
    document = json.loads(path.read_text())
    document["leaves"][0]["leaf"] = "0x" + "99" * 32
    path.write_text(json.dumps(document))
    body = client.get(f"/api/intervals/{INTERVAL}/proof/{document['leaves'][0]['household']}").get_json()
    assert body["verified"] is False


def test_interval_list_pages_newest_first(client, sessions, settled):
    with sessions() as session:
        for offset in range(1, 6):
            session.add(Interval(interval_id=INTERVAL + offset, status="open"))
        session.commit()
    first = client.get("/api/intervals?limit=4").get_json()
    assert [i["intervalId"] for i in first["items"]] == [INTERVAL + 5, INTERVAL + 4, INTERVAL + 3, INTERVAL + 2]
    second = client.get(f"/api/intervals?limit=4&cursor={first['nextCursor']}").get_json()
    assert [i["intervalId"] for i in second["items"]] == [INTERVAL + 1, INTERVAL]
    assert second["nextCursor"] is None and second["items"][1]["households"] == 2
    settled_only = client.get("/api/intervals?status=settled").get_json()["items"]
    assert [i["intervalId"] for i in settled_only] == [INTERVAL]
    for query in ("limit=0", "limit=501", "limit=x", "cursor=-1", "status=done"):
        response = client.get(f"/api/intervals?{query}")
        assert response.status_code == 400, query
