"""One source of truth per dashboard figure (issue 13, items 4 and 7).

- The last settled interval is the chain's newest IntervalSettled, in the summary as in the clearing history,
  with the interval's household count as /api/intervals gives it and the chain's price (0 when nothing traded).
- Every household the registry registered is listed and counted, marked while its meter has not reported yet.
"""

from __future__ import annotations

import time

from eth_account import Account
from web_helpers import add_event, add_meter, add_reading

from backend.db.models import Interval, IntervalEntry


def _settled(session, interval_id: int, price: int, traded_wh: int, *, block: int) -> None:
    add_event(
        session,
        "IntervalSettled",
        {
            "intervalId": str(interval_id),
            "readingsRoot": "0x" + "01" * 32,
            "clearingPrice": str(price),
            "surplusWh": "0",
            "coveredWh": "0",
            "tradedWh": str(traded_wh),
            "gridImportWh": "5",
            "chunks": "1",
        },
        block=block,
        tx=block,
        log_index=0,
    )


def test_last_settled_is_the_clearing_historys_newest_with_its_households(client, sessions, community):
    alice, bob = community.alice.address, community.bob.address
    meters = {alice: community.meters[alice].address, bob: community.meters[bob].address}
    with sessions() as session:
        for household, meter in meters.items():
            add_meter(session, household, meter)
        for interval_id, status, price in ((500, "settled", 120_000), (501, "settled", 0), (502, "settling", 90_000)):
            settled = status == "settled"
            session.add(
                Interval(
                    interval_id=interval_id,
                    status=status,
                    clearing_price=price,
                    closed_at=1,
                    readings_root=b"\x01" * 32,
                    settled_tx="0x" + "ab" * 32 if settled else None,
                    settled_block=interval_id if settled else None,
                )
            )
        session.flush()
        for interval_id in (500, 501):
            for household in (alice, bob):
                session.add(
                    IntervalEntry(
                        interval_id=interval_id,
                        household=household,
                        meter=meters[household],
                        produced_wh=1,
                        consumed_wh=2,
                        readings_hash=b"\x03" * 32,
                        leaf=b"\x04" * 32,
                    )
                )
        _settled(session, 500, 120_000, 300, block=10)
        _settled(session, 501, 0, 0, block=11)  # nothing traded: the chain's price is 0
        session.commit()

    summary = client.get("/api/community/summary").get_json()["lastSettled"]
    clearing = client.get("/api/market/clearing?limit=5").get_json()["items"]
    listed = {i["intervalId"]: i for i in client.get("/api/intervals").get_json()["items"]}
    assert summary["intervalId"] == clearing[0]["intervalId"] == 501  # not 502: planned, not on-chain yet
    assert summary["clearingPrice"] == clearing[0]["clearingPrice"] == 0
    assert summary["tradedWh"] == 0
    assert summary["households"] == listed[501]["households"] == 2


def test_no_settled_interval_on_chain_means_none_in_the_summary(client, sessions):
    with sessions() as session:
        # The oracle's row only (the indexer has not stored the event yet): the clearing history lists nothing.
        session.add(
            Interval(
                interval_id=600,
                status="settled",
                clearing_price=1,
                closed_at=1,
                readings_root=b"\x01" * 32,
                settled_tx="0x" + "ab" * 32,
                settled_block=7,
            )
        )
        session.commit()
    assert client.get("/api/community/summary").get_json()["lastSettled"] is None
    assert client.get("/api/market/clearing").get_json()["items"] == []


def test_every_registered_household_is_listed_and_counted_before_its_meter_reports(client, sessions, community):
    reporting, silent, leaving = community.alice.address, Account.create().address, Account.create().address
    meters = {household: Account.create().address for household in (reporting, silent, leaving)}
    now = int(time.time())
    with sessions() as session:
        for block, household in enumerate((reporting, silent, leaving), start=1):
            add_event(
                session,
                "HouseholdRegistered",
                {"household": household, "meter": meters[household], "capacityW": "7000"},
                block=block,
                tx=block,
                log_index=0,
            )
        add_event(session, "HouseholdActiveSet", {"household": leaving, "active": False}, block=9, tx=9, log_index=0)
        add_meter(session, reporting, meters[reporting])  # the oracle's row: made on a first accepted reading
        add_reading(session, reporting, meters[reporting], 0, now - 60, 0, 0)
        session.commit()

    items = {item["address"]: item for item in client.get("/api/households").get_json()["items"]}
    assert set(items) == {reporting, silent, leaving}
    assert items[silent] == {
        "address": silent,
        "meter": meters[silent],
        "capacityW": 7000,
        "active": True,
        "hasReading": False,
    }
    assert items[reporting]["hasReading"] is True
    assert items[leaving]["active"] is False
    assert client.get("/api/community/summary").get_json()["households"] == 2  # the active ones

    first = client.get("/api/households?limit=1").get_json()
    second = client.get(f"/api/households?limit=5&cursor={first['nextCursor']}").get_json()
    assert [i["address"] for i in first["items"] + second["items"]] == sorted(items, key=str.lower)


def test_the_summary_says_when_settlement_replays_history(make_app, sessions, community):
    client = make_app(summary_cache_s=0).test_client()
    seconds = client.get("/api/community/summary").get_json()["intervalSeconds"]
    current = int(time.time()) // seconds
    first = current - 100  # a replay that started 100 intervals ago
    with sessions() as session:
        for interval_id in range(first, first + 10):
            session.add(
                Interval(
                    interval_id=interval_id,
                    status="settled",
                    clearing_price=0,
                    closed_at=1,
                    readings_root=b"\x01" * 32,
                    settled_tx="0x" + "ab" * 32,
                    settled_block=interval_id,
                )
            )
            _settled(session, interval_id, 0, 0, block=interval_id)
        session.commit()
    catch_up = client.get("/api/community/summary").get_json()["catchUp"]
    assert catch_up["settled"] == 10 and catch_up["total"] == 100 and catch_up["behind"] == 90
    assert catch_up["replaying"] is True and catch_up["lastSettledStart"] == (first + 9) * seconds

    with sessions() as session:
        for interval_id in range(first + 10, current):
            _settled(session, interval_id, 0, 0, block=interval_id)
        session.commit()
    catch_up = client.get("/api/community/summary").get_json()["catchUp"]
    assert catch_up["behind"] == 0 and catch_up["replaying"] is False and catch_up["settled"] == catch_up["total"]
