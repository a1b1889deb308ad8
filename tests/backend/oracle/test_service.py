"""The oracle service on the real broker: persistent session, manual acks."""

from __future__ import annotations

import time
import uuid


from sqlalchemy import func, select

from backend.broker import start_mosquitto
from backend.db.models import Reading, Rejection
from backend.meters.mqtt import MeterPublisher
from backend.meters.simulator import make_meters, payload, topic
from backend.oracle.ingest import Ingester
from backend.oracle.readings import MeterDomain
from backend.oracle.service import OracleService
from backend.oracle.verifier import MeterInfo

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
BROKER = "mqtt://127.0.0.1:1883"



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


def test_readings_sent_while_the_oracle_is_down_arrive_when_it_returns(sessions):
    community = f"svc-{uuid.uuid4().hex[:8]}"
    meters = make_meters(3, seed=11)
    registry = {m.meter: MeterInfo(m.meter, m.household, 10_000, True) for m in meters}
    client_id = f"oracle-{community}"
    start_ts = int(time.time()) - 3_600

    def make_service():
        ingester = Ingester(sessions, DOMAIN, community, registry.get)
        return OracleService(ingester, BROKER, client_id=client_id, batch_wait_s=0.01)

    def publish(publisher, steps, offset):
        for step in range(steps):
            for meter in meters:
                signed = meter.advance(5.0, 7.0, start_ts + (offset + step) * 10, 10, DOMAIN)
                publisher.publish(topic(community, meter.meter), payload(signed))

    service = make_service()
    service.start()
    assert service.subscribed.wait(10)
    publisher = MeterPublisher(BROKER)
    publish(publisher, 20, 0)
    publisher.publish(topic(community, meters[0].meter), b"garbage")
    assert wait_for(lambda: count(sessions, Reading) == 60 and count(sessions, Rejection) == 1)
    service.stop()

    publish(publisher, 30, 20)  # the oracle is down: the broker keeps these for its session
    publisher.close()
    time.sleep(0.5)
    assert count(sessions, Reading) == 60

    service = make_service()
    service.start()
    try:
        assert wait_for(lambda: count(sessions, Reading) == 150), count(sessions, Reading)
        time.sleep(0.5)
        assert count(sessions, Reading) == 150 and count(sessions, Rejection) == 1
    finally:
        service.stop()
    with sessions() as session:
        for meter in meters:
            seqs = session.scalars(select(Reading.seq).where(Reading.meter == meter.meter)).all()
            assert sorted(seqs) == list(range(1, 51))


def signed_stream(community, meters, steps, start_ts):
    """(topic, payload) for `steps` readings of each meter, 10 s apart."""
    messages = []
    for step in range(steps):
        for meter in meters:
            signed = meter.advance(5.0, 7.0, start_ts + step * 10, 10, DOMAIN)
            messages.append((topic(community, meter.meter), payload(signed)))
    return messages


def publish_all(broker_url, messages):
    publisher = MeterPublisher(broker_url)
    for message_topic, body in messages:
        publisher.publish(message_topic, body)
    publisher.close()


def test_a_batch_is_not_capped_by_the_brokers_inflight_limit(sessions, tmp_path):
    # The repo's Mosquitto lets 100 messages wait for their ack; the service
    # announces a Receive Maximum of two batches, so a backlog comes in full batches.
    broker = start_mosquitto(tmp_path / "broker")
    community = f"svc-{uuid.uuid4().hex[:8]}"
    meters = make_meters(3, seed=12)
    registry = {m.meter: MeterInfo(m.meter, m.household, 10_000, True) for m in meters}
    sizes = []

    def make_service():
        return OracleService(Ingester(sessions, DOMAIN, community, registry.get), broker.url,
                             client_id=f"oracle-{community}", batch_size=300,
                             on_committed=lambda batch, outcomes: sizes.append(len(batch)))

    try:
        service = make_service()
        service.start()
        assert service.subscribed.wait(10)
        service.stop()  # the session stays: the backlog below queues for it
        publish_all(broker.url, signed_stream(community, meters, 200, int(time.time()) - 7_200))
        service = make_service()
        service.start()
        try:
            assert wait_for(lambda: service.stored == 600), service.stored
        finally:
            service.stop()
    finally:
        broker.stop()
    assert max(sizes) == 300 and sum(sizes) == 600
    assert count(sessions, Reading) == 600


def test_the_service_reconnects_after_the_broker_restarts(sessions, tmp_path):
    broker = start_mosquitto(tmp_path / "broker")
    port = int(broker.url.rsplit(":", 1)[1])
    community = f"svc-{uuid.uuid4().hex[:8]}"
    meters = make_meters(2, seed=13)
    registry = {m.meter: MeterInfo(m.meter, m.household, 10_000, True) for m in meters}
    messages = signed_stream(community, meters, 20, int(time.time()) - 3_600)
    service = OracleService(Ingester(sessions, DOMAIN, community, registry.get), broker.url,
                            client_id=f"oracle-{community}", batch_wait_s=0.01)
    service.start()
    try:
        assert service.subscribed.wait(10)
        publish_all(broker.url, messages[:20])
        assert wait_for(lambda: service.stored == 20)
        service.subscribed.clear()
        broker.stop()
        broker = start_mosquitto(tmp_path / "broker", port=port)
        # Publish once the service is back: run as root, Mosquitto drops to its
        # own user and cannot persist the session into tmp_path.
        assert service.subscribed.wait(15)
        publish_all(broker.url, messages[20:])
        assert wait_for(lambda: service.stored == 40), service.stored
    finally:
        service.stop()
        broker.stop()
    assert count(sessions, Reading) == 40


class FlakyIngester(Ingester):
    """A database that fails the first commits (a restart): the real ingester after that."""

    def __init__(self, *args, failures: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = failures

    def process(self, batch):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        return super().process(batch)


def test_a_batch_that_cannot_commit_is_retried_and_nothing_is_lost(sessions):
    community = f"svc-{uuid.uuid4().hex[:8]}"
    meters = make_meters(2, seed=14)
    registry = {m.meter: MeterInfo(m.meter, m.household, 10_000, True) for m in meters}
    ingester = FlakyIngester(sessions, DOMAIN, community, registry.get, failures=2)
    service = OracleService(ingester, BROKER, client_id=f"oracle-{community}", batch_wait_s=0.01)
    service.start()
    try:
        assert service.subscribed.wait(10)
        publish_all(BROKER, signed_stream(community, meters, 10, int(time.time()) - 3_600))
        assert wait_for(lambda: service.stored == 20), service.stored
        assert ingester.failures == 0 and service.rejected == 0 and service.duplicates == 0
    finally:
        service.stop()
    assert count(sessions, Reading) == 20
