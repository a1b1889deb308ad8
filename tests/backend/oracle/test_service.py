"""The oracle service on the real broker: persistent session, manual acks."""

from __future__ import annotations

import time
import uuid


from sqlalchemy import func, select

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
