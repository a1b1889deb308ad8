"""The oracle service on the real broker: persistent session, manual acks."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from backend.broker import start_mosquitto
from backend.db.models import Reading, Rejection
from backend.meters.mqtt import MeterPublisher
from backend.meters.simulator import make_meters, payload, topic
from backend.oracle.ingest import STORED, Ingester, Outcome
from backend.oracle.service import OracleService
from backend.oracle.verifier import MeterInfo
from backend.protocol.readings import MeterDomain

pytestmark = pytest.mark.slow  # a private Mosquitto and the oracle's MQTT client, restarted

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
        return OracleService(
            Ingester(sessions, DOMAIN, community, registry.get),
            broker.url,
            client_id=f"oracle-{community}",
            batch_size=300,
            on_committed=lambda batch, outcomes: sizes.append(len(batch)),
        )

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
    service = OracleService(
        Ingester(sessions, DOMAIN, community, registry.get),
        broker.url,
        client_id=f"oracle-{community}",
        batch_wait_s=0.01,
    )
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


def test_acks_reach_the_broker_so_a_restarted_oracle_gets_nothing_again(sessions):
    # A burst many packets long, so that one socket read holds many readings and
    # the acks of a batch leave together; had any ack not arrived, the broker
    # would deliver its reading again to the same session.
    community = f"svc-{uuid.uuid4().hex[:8]}"
    meters = make_meters(5, seed=15)
    registry = {m.meter: MeterInfo(m.meter, m.household, 10_000, True) for m in meters}
    received = []

    def make_service():
        return OracleService(
            Ingester(sessions, DOMAIN, community, registry.get),
            BROKER,
            client_id=f"oracle-{community}",
            batch_size=100,
            on_committed=lambda batch, outcomes: received.extend(batch),
        )

    service = make_service()
    service.start()
    try:
        assert service.subscribed.wait(10)
        publish_all(BROKER, signed_stream(community, meters, 200, int(time.time()) - 7_200))
        assert wait_for(lambda: service.stored == 1_000), service.stored
    finally:
        service.stop()
    assert len(received) == 1_000 and service.duplicates == 0
    received.clear()
    service = make_service()
    service.start()
    try:
        assert service.subscribed.wait(10)
        time.sleep(1.0)
    finally:
        service.stop()
    assert received == [] and service.stored == service.duplicates == 0
    assert count(sessions, Reading) == 1_000


# --- the receive path against a broker that sends hand-made packets ----------------------------


def _vbi(value: int) -> bytes:
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _publish_packet(topic_name: str, payload_bytes: bytes, qos: int, mid: int, properties: bytes = b"") -> bytes:
    topic_bytes = topic_name.encode()
    body = len(topic_bytes).to_bytes(2, "big") + topic_bytes
    if qos:
        body += mid.to_bytes(2, "big")
    body += _vbi(len(properties)) + properties + payload_bytes
    return bytes([0x30 | qos << 1]) + _vbi(len(body)) + body


def _read_packets(connection) -> list[tuple[int, bytes]]:
    """(type, body) of every packet the client sent until it closed the connection."""
    data = bytearray()
    while chunk := connection.recv(65536):
        data += chunk
    packets, position = [], 0
    while position < len(data):
        kind, length, shift = data[position], 0, 0
        position += 1
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        packets.append((kind & 0xF0, bytes(data[position : position + length])))
        position += length
    return packets


class _RecordingIngester:
    """Stores nothing: records each message the service hands over."""

    def __init__(self, community):
        self.community = community
        self.messages = []

    def process(self, batch):
        self.messages.extend(batch)
        return [Outcome(STORED) for _ in batch]


def test_every_publish_shape_reaches_the_ingester_whole_and_qos_1_is_acked_once(tmp_path):
    import socket
    import threading

    community = "receive-test"
    readings_topic = f"vatio/{community}/meters/0x{'ab' * 20}/readings"
    # (qos, mid, properties, payload): the plain QoS 1 readings take the short path,
    # the others paho's own decoder; payloads of every size class of the length field.
    shapes = [(1, mid, b"", f'{{"n":{mid}}}'.encode() * (mid % 7 + 1)) for mid in range(1, 400)]
    shapes += [
        (1, 400, b"\x26" + b"\x00\x01k\x00\x01v", b"with a user property"),
        (1, 401, b"\x02\x00\x00\x0e\x10", b"with a message expiry"),
        (0, 0, b"", b"at QoS 0"),
        (1, 402, b"", b"x" * 20_000),  # remaining length in three bytes, read over several recv() calls
        (1, 65_535, b"", b"the largest packet id"),
    ]
    stream = b"".join(_publish_packet(readings_topic, body, qos, mid, props) for qos, mid, props, body in shapes)
    server = socket.create_server(("127.0.0.1", 0))
    client_packets = []

    def broker():
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)  # CONNECT
            connection.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK, MQTT 5, success, no properties
            # Odd chunk sizes: packets split anywhere, several packets per read.
            for start in range(0, len(stream), 1_337):
                connection.sendall(stream[start : start + 1_337])
                time.sleep(0.001)
            client_packets.extend(_read_packets(connection))

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    ingester = _RecordingIngester(community)
    service = OracleService(
        ingester,
        f"mqtt://127.0.0.1:{server.getsockname()[1]}",
        client_id="receive-test",
        batch_size=64,
        batch_wait_s=0.01,
    )
    service.start()
    try:
        assert wait_for(lambda: len(ingester.messages) == len(shapes)), len(ingester.messages)
        time.sleep(0.2)  # the last acks
    finally:
        service.stop()
        thread.join(10)
        server.close()
    assert [(m.topic, m.payload) for m in ingester.messages] == [(readings_topic, body) for *_, body in shapes]
    acked = [int.from_bytes(body[:2], "big") for kind, body in client_packets if kind == 0x40]
    assert acked == [mid for qos, mid, *_ in shapes if qos == 1]
