"""Readings history, the community summary and households: numbers, privacy, range limits, pagination."""

from __future__ import annotations

import csv
import io
import time

import pytest
from eth_account import Account
from web_helpers import add_event, add_meter, add_reading, sign_in

from backend.db.models import Interval, IntervalEntry

HOUR = 3600


@pytest.fixture
def history(sessions, community):
    """Alice produces 1 Wh/min and consumes 2 Wh/min for two hours; Bob consumes 3 Wh/min for the last hour."""
    alice, bob = community.alice.address, community.bob.address
    now = int(time.time())
    start = (now - 2 * HOUR) // 900 * 900
    with sessions() as session:
        add_meter(session, alice, community.meters[alice].address)
        add_meter(session, bob, community.meters[bob].address)
        for minute in range(0, 121):
            add_reading(
                session,
                alice,
                community.meters[alice].address,
                minute,
                start + 60 * minute,
                produced_wh=1000 + minute,
                consumed_wh=5000 + 2 * minute,
                power_w=60,
            )
        for minute in range(60, 121):
            add_reading(
                session,
                bob,
                community.meters[bob].address,
                minute,
                start + 60 * minute,
                produced_wh=0,
                consumed_wh=3 * minute,
                power_w=180,
            )
        session.commit()
    return start


def test_household_series_sums_register_deltas(client, community, history):
    sign_in(client, community.alice)
    body = client.get(
        f"/api/households/{community.alice.address}/readings?from={history}&to={history + 2 * HOUR}&resolution=1h"
    ).get_json()
    points = body["points"]
    assert [p["start"] for p in points] == [history, history + HOUR]
    # first bucket: no reading before the range, so it counts from its own first reading (minutes 0..59)
    assert (points[0]["producedWh"], points[0]["consumedWh"], points[0]["readings"]) == (59, 118, 60)
    # second bucket: from minute 59's registers to minute 119's
    assert (points[1]["producedWh"], points[1]["consumedWh"]) == (60, 120)
    assert points[1]["deficitWh"] == 60 and points[1]["surplusWh"] == 0 and points[1]["powerW"] == 60


def test_series_carries_energy_across_empty_buckets(client, community, history):
    sign_in(client, community.alice)
    body = client.get(
        f"/api/households/{community.alice.address}/readings"
        f"?from={history + 30 * 60}&to={history + 90 * 60}&resolution=15m"
    ).get_json()
    assert [p["producedWh"] for p in body["points"]] == [15, 15, 15, 15]  # anchored on minute 29


def test_raw_readings_page_through_a_range(client, community, history):
    sign_in(client, community.alice)
    url = f"/api/households/{community.alice.address}/readings?from={history}&to={history + 600}&resolution=raw"
    seen, cursor = [], None
    while True:
        body = client.get(url + ("" if cursor is None else f"&cursor={cursor}") + "&limit=4").get_json()
        seen += [r["seq"] for r in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == list(range(10))
    assert set(body["items"][0]) == {"meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature"}


def test_csv_export(client, community, history):
    sign_in(client, community.alice)
    response = client.get(f"/api/households/{community.alice.address}/readings.csv?from={history}&to={history + 300}")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [int(r["seq"]) for r in rows] == [0, 1, 2, 3, 4]


def test_private_data_needs_the_household_or_the_admin(app, community, history):
    alice_url = f"/api/households/{community.alice.address}"
    anonymous = app.test_client()
    for suffix in ("", "/readings", "/readings.csv", "/intervals", "/fills", "/orders"):
        response = anonymous.get(alice_url + suffix)
        assert response.status_code == 401, suffix
    bob = app.test_client()
    sign_in(bob, community.bob)
    for suffix in ("", "/readings", "/readings.csv", "/intervals", "/fills", "/orders"):
        response = bob.get(alice_url + suffix)
        assert response.status_code == 403, suffix
        assert response.get_json()["error"]["code"] == "forbidden"
    admin = app.test_client()
    sign_in(admin, community.admin)
    assert admin.get(alice_url + "/readings").status_code == 200
    assert bob.get(f"/api/households/{community.bob.address.lower()}/readings").status_code == 200


def test_range_limits_and_bad_parameters(client, community, history):
    sign_in(client, community.alice)
    url = f"/api/households/{community.alice.address}/readings"
    cases = {
        "from=10&to=5": "invalid_range",
        "from=abc": "invalid_range",
        "from=-5": "invalid_range",
        "from=0&to=86400000&resolution=1m": "range_too_large",
        "from=0&to=864000&resolution=raw": "range_too_large",
        "from=0&to=100000000&resolution=1d": "range_too_large",
        "resolution=7x": "invalid_resolution",
        "resolution=0": "invalid_resolution",
        "resolution=raw&limit=0": "invalid_pagination",
        "resolution=raw&limit=100000": "invalid_pagination",
        "resolution=raw&cursor=x": "invalid_pagination",
    }
    for query, code in cases.items():
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == code, query
    for address in ("0x123", "alice", "0x" + "g" * 40, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2"):
        response = client.get(f"/api/households/{address}/readings")
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_address", address


def test_community_series_from_readings_and_from_intervals(client, sessions, community, history):
    body = client.get(
        f"/api/community/readings?from={history + HOUR}&to={history + 2 * HOUR}&resolution=1h&source=readings"
    ).get_json()
    assert body["source"] == "readings"
    point = body["points"][0]
    assert point["producedWh"] == 60 and point["consumedWh"] == 120 + 177  # Bob: from his first reading
    with sessions() as session:
        interval = history // 900
        session.add(Interval(interval_id=interval, status="closed", closed_at=history + 1000))
        session.flush()
        for household, produced, consumed in ((community.alice.address, 15, 30), (community.bob.address, 50, 10)):
            session.add(
                IntervalEntry(
                    interval_id=interval,
                    household=household,
                    meter=community.meters[household].address,
                    produced_wh=produced,
                    consumed_wh=consumed,
                    readings_hash=b"\x00" * 32,
                    leaf=bytes([produced]) * 32,
                    first_seq=0,
                    last_seq=1,
                )
            )
        session.commit()
    body = client.get(f"/api/community/readings?from={history}&to={history + HOUR}&resolution=1h").get_json()
    assert body["source"] == "intervals"
    assert body["points"][0]["producedWh"] == 65 and body["points"][0]["surplusWh"] == 40
    assert body["points"][0]["deficitWh"] == 15
    assert client.get("/api/community/readings?resolution=raw").status_code == 400


def test_summary_numbers(client, sessions, community, history):
    with sessions() as session:
        add_event(
            session,
            "OrderPlaced",
            {
                "orderId": "1",
                "owner": community.alice.address,
                "side": "1",
                "limitPrice": "100000",
                "amountWh": "500",
                "validFrom": "0",
                "validTo": str(2**40 - 1),
                "escrow": "0",
            },
            block=5,
            tx=1,
            log_index=0,
        )
        session.commit()
    body = client.get("/api/community/summary").get_json()
    assert body["households"] == 2 and body["reporting"] == 2
    assert body["now"]["productionW"] == 60 and body["now"]["consumptionW"] == 120 + 180
    assert body["now"]["deficitW"] == 60 + 180
    current = body["currentInterval"]
    assert current["start"] == body["asOf"] // 900 * 900
    assert body["availableForSale"]["openAsksWh"] == 500
    assert body["availableForSale"]["creditsWh"] == 0  # nothing minted on this chain yet
    assert body["averageConsumption"]["households"] == 0  # no reading a day back


def test_households_list_and_detail(client, community, history):
    listing = client.get("/api/households?limit=1").get_json()
    assert len(listing["items"]) == 1
    rest = client.get(f"/api/households?cursor={listing['nextCursor']}").get_json()
    assert {h["address"] for h in listing["items"] + rest["items"]} == {community.alice.address, community.bob.address}
    assert client.get("/api/households?cursor=nope").status_code == 400
    sign_in(client, community.alice)
    detail = client.get(f"/api/households/{community.alice.address}").get_json()
    assert detail["meter"] == community.meters[community.alice.address].address
    assert detail["live"]["productionW"] == 60 and detail["live"]["consumptionW"] == 120
    assert detail["balances"]["energyWh"] == 0 and "savings" not in detail


def test_admin_reads_an_unknown_household_as_404(app, community):
    admin = app.test_client()
    sign_in(admin, community.admin)
    response = admin.get(f"/api/households/{Account.create().address}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_household"
