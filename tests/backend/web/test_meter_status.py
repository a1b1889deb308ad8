"""The household's meter on its page: source, last reading's age, the bridge's problems; private; pushed live."""

from __future__ import annotations

import time

from sqlalchemy import update
from web_helpers import add_meter, add_reading, sign_in

from backend.db.models import Meter, MeterStatus
from backend.readmodel.publish import LivePublisher
from backend.web.live_feed import LiveFeed
from backend.web.meter_status import meter_status_json, simulated_meters


def add_status(session, household: str, meter: str, **changes) -> None:
    values = dict(
        meter=meter,
        household=household,
        source="p1",
        status_ts=int(time.time()) - 20,
        last_reading_seq=9,
        last_reading_ts=int(time.time()) - 25,
        queue_depth=3,
        queue_bytes=960,
        counters={"gap": 1, "bad_crc": 4},
        halted=None,
        broker_error="disconnected: keepalive",
        received_at=int(time.time()) - 19,
    )
    session.add(MeterStatus(**{**values, **changes}))
    session.flush()


def test_the_household_detail_shows_its_bridges_source_problems_and_the_last_readings_age(app, sessions, community):
    alice, bob = community.alice.address, community.bob.address
    now = int(time.time())
    with sessions() as session:
        for household in (alice, bob):
            add_meter(session, household, community.meters[household].address)
        add_reading(session, alice, community.meters[alice].address, 1, now - 600, 0, 10)
        session.execute(
            update(Meter)
            .where(Meter.address == community.meters[alice].address)
            .values(last_seq=1, last_ts=now - 600, last_produced_wh=0, last_consumed_wh=10)
        )
        add_status(session, alice, community.meters[alice].address, halted="register_backwards: 1.8.0 went back")
        session.commit()
    client = app.test_client()
    sign_in(client, community.alice)
    status = client.get(f"/api/households/{alice}").get_json()["meterStatus"]
    assert status["source"] == "p1" and status["lastReadingTs"] == now - 600
    assert 600 <= status["lastReadingAgeS"] <= 660
    assert status["bridge"] == {
        "problems": {"bad_crc": 4, "gap": 1},
        "halted": "register_backwards: 1.8.0 went back",
        "brokerError": "disconnected: keepalive",
        "queueDepth": 3,
        "statusTs": status["bridge"]["statusTs"],
    }
    other = app.test_client()
    sign_in(other, community.bob)
    assert other.get(f"/api/households/{alice}").status_code == 403  # private, like the rest of the detail
    mine = other.get(f"/api/households/{bob}").get_json()["meterStatus"]
    assert mine == {"source": None, "lastReadingTs": None, "lastReadingAgeS": None, "bridge": None}


def test_a_demo_meter_without_a_status_is_the_simulator(sessions, community):
    demo_meter = sorted(simulated_meters())[0]
    household = community.carol.address
    with sessions() as session:
        add_meter(session, household, demo_meter)
        assert meter_status_json(session, household, demo_meter, int(time.time()))["source"] == "simulator"
        add_status(session, household, demo_meter, source="shelly")
        assert meter_status_json(session, household, demo_meter, int(time.time()))["source"] == "shelly"
        # another household's status of that meter (it moved) is not this one's bridge
        assert meter_status_json(session, community.alice.address, demo_meter, 0)["bridge"] is None
        session.rollback()


class Recorder:
    """What the feed emits (the emitter's side only; the feed and the publisher are real)."""

    def __init__(self):
        self.statuses = []

    def emit_bridge_status(self, payload):
        self.statuses.append(payload)

    def emit_reading(self, payload):
        pass

    def emit_rejection(self, payload):
        pass


def test_the_web_feed_pushes_a_status_when_it_changes_not_at_every_pass(app, sessions, community):
    alice = community.alice.address
    meter = community.meters[alice].address
    recorder = Recorder()
    feed = LiveFeed(app, LivePublisher(recorder, sessions, 900))
    with sessions() as session:
        add_status(session, alice, meter)
        session.commit()
    feed.start_from_now()
    feed.step()
    assert recorder.statuses == []  # stored before the feed started: the page loads it over HTTP
    with sessions() as session:
        session.execute(
            update(MeterStatus)
            .where(MeterStatus.meter == meter)
            .values(counters={"gap": 2}, status_ts=MeterStatus.status_ts + 60, received_at=MeterStatus.received_at + 60)
        )
        session.commit()
    feed.step()
    feed.step()
    assert [s["bridge"]["problems"] for s in recorder.statuses] == [{"gap": 2}]
    assert recorder.statuses[0]["household"] == alice and recorder.statuses[0]["meter"] == meter
