"""The oracle reads bridge statuses on the real Mosquitto with auth: same connection and login as the readings,
retained statuses at subscribe time, stored per meter, never through the readings ingester."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from backend.bridge.status import status_payload
from backend.broker import broker_address, start_mosquitto
from backend.broker_auth import ORACLE_USER, BrokerAuth
from backend.db.models import MeterStatus, Reading, Rejection
from backend.meters.simulator import make_meters, payload, topic
from backend.oracle.bridge_status import BridgeStatusStore
from backend.oracle.ingest import Ingester
from backend.oracle.service import OracleService
from backend.oracle.verifier import MeterInfo
from backend.protocol.readings import MeterDomain
from backend.protocol.topics import status_topic

pytestmark = pytest.mark.slow  # a private Mosquitto with the repo's auth config and ACL

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def count(sessions, table):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def stored_status(sessions, meter):
    with sessions() as session:
        return session.get(MeterStatus, meter)


class MeterLogin:
    """A meter's (or its bridge's) own broker login, publishing QoS 1 and waiting for each PUBACK."""

    def __init__(self, url: str, auth: BrokerAuth, meter: str):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bridge-{meter[:10]}")
        self.client.username_pw_set(meter, auth.password_of(meter))
        self.client.connect(*broker_address(url))
        self.client.loop_start()

    def publish(self, topic_name: str, body: bytes, retain: bool = False) -> None:
        self.client.publish(topic_name, body, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def bridge_status(meter: str, updated_at: float, **snapshot) -> bytes:
    """What `vatio bridge` publishes (backend.bridge.status.status_payload of its snapshot)."""
    base = {
        "meter": meter,
        "source": "p1",
        "updated_at": updated_at,
        "last_reading": None,
        "queue_depth": 0,
        "queue_bytes": 0,
        "counters": {},
        "halted": None,
        "broker": {},
    }
    return json.dumps(status_payload({**base, **snapshot}), separators=(",", ":")).encode()


def test_the_oracle_stores_retained_and_live_bridge_statuses_apart_from_readings(sessions, tmp_path):
    community = f"st-{uuid.uuid4().hex[:8]}"
    registered, stranger = make_meters(2, seed=21)  # the stranger has a broker login but no registration
    registry = {registered.meter: MeterInfo(registered.meter, registered.household, 10_000, True)}
    auth = BrokerAuth(tmp_path / "auth", community)
    auth.ensure([registered.meter, stranger.meter])
    broker = start_mosquitto(tmp_path / "broker", auth=auth)
    pushed = []
    service = None
    bridge = other = None
    try:
        now = int(time.time())
        bridge = MeterLogin(broker.url, auth, registered.meter)
        other = MeterLogin(broker.url, auth, stranger.meter)
        # Published before the oracle runs: retained, so the oracle gets it when it subscribes.
        bridge.publish(
            status_topic(community, registered.meter),
            bridge_status(registered.meter, now - 30, counters={"bad_crc": 2}),
            retain=True,
        )
        other.publish(status_topic(community, stranger.meter), bridge_status(stranger.meter, now - 30), retain=True)

        store = BridgeStatusStore(sessions, community, registry.get)
        service = OracleService(
            Ingester(sessions, DOMAIN, community, registry.get),
            broker.url,
            client_id=f"oracle-{community}",
            batch_wait_s=0.01,
            username=ORACLE_USER,
            password=auth.password_of(ORACLE_USER),
            statuses=store,
            on_statuses=pushed.extend,
        )
        service.start()
        assert service.subscribed.wait(10)
        assert wait_for(lambda: stored_status(sessions, registered.meter) is not None)
        row = stored_status(sessions, registered.meter)
        assert row.source == "p1" and row.counters == {"bad_crc": 2} and row.household == registered.household
        assert row.last_reading_seq is None and row.status_ts == now - 30

        # Readings go on as before, on the same connection.
        signed = registered.advance(5.0, 7.0, now - 20, 10, DOMAIN)
        bridge.publish(topic(community, registered.meter), payload(signed))
        # A hostile status, then a halted bridge's newer one.
        bridge.publish(
            status_topic(community, registered.meter), b'{"schema": "vatio-bridge-status/1", "ts": [[[', retain=True
        )
        bridge.publish(
            status_topic(community, registered.meter),
            bridge_status(
                registered.meter,
                now - 5,
                last_reading={"seq": signed.reading.seq, "ts": signed.reading.ts},
                counters={"bad_crc": 2, "register_backwards": 1},
                halted="register_backwards: 1.8.0 went from 9 to 8",
                broker={"last_error": "disconnected: keepalive timeout"},
            ),
            retain=True,
        )
        assert wait_for(lambda: stored_status(sessions, registered.meter).status_ts == now - 5)
        assert wait_for(lambda: count(sessions, Reading) == 1)
        row = stored_status(sessions, registered.meter)
        assert row.counters == {"bad_crc": 2, "register_backwards": 1} and row.halted.startswith("register_backwards")
        assert row.last_reading_seq == signed.reading.seq and row.broker_error == "disconnected: keepalive timeout"
        time.sleep(0.5)
        assert count(sessions, MeterStatus) == 1  # nothing of the unregistered meter
        assert count(sessions, Rejection) == 0  # statuses never reach the readings ingester
        assert store.counts["bad_json"] == 1 and store.counts["unknown_meter"] == 1
        assert [(r.meter, r.status_ts) for r in pushed] == [(registered.meter, now - 30), (registered.meter, now - 5)]
        assert service.stored == 1 and service.rejected == 0 and service.statuses_stored == 2
    finally:
        for client in (bridge, other):
            if client is not None:
                client.close()
        if service is not None:
            service.stop()
        broker.stop()


def test_without_a_status_store_the_oracle_does_not_subscribe_to_statuses(sessions, tmp_path):
    """A status published to a broker without auth never reaches the ingester of an oracle that stores none."""
    community = f"st-{uuid.uuid4().hex[:8]}"
    [meter] = make_meters(1, seed=22)
    registry = {meter.meter: MeterInfo(meter.meter, meter.household, 10_000, True)}
    broker = start_mosquitto(tmp_path / "broker")
    service = OracleService(
        Ingester(sessions, DOMAIN, community, registry.get),
        broker.url,
        client_id=f"oracle-{community}",
        batch_wait_s=0.01,
    )
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        service.start()
        assert service.subscribed.wait(10)
        publisher.connect(*broker_address(broker.url))
        publisher.loop_start()
        publisher.publish(
            status_topic(community, meter.meter), bridge_status(meter.meter, time.time()), qos=1
        ).wait_for_publish(10)
        signed = meter.advance(5.0, 7.0, int(time.time()) - 20, 10, DOMAIN)
        publisher.publish(topic(community, meter.meter), payload(signed), qos=1).wait_for_publish(10)
        assert wait_for(lambda: count(sessions, Reading) == 1)
        time.sleep(0.3)
        assert count(sessions, Rejection) == 0 and count(sessions, MeterStatus) == 0
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        service.stop()
        broker.stop()
