"""The bridge for real: a pseudo-terminal feeding a P1 stream, a real Mosquitto, and the signed payloads
parsed and verified by backend.protocol."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from bridge_helpers import DOMAIN, TEST_KEY, TEST_METER, fixture_bytes, make_bridge, p1_telegram

from backend.bridge.publisher import BrokerSettings, ReadingsPublisher
from backend.bridge.samples import MeterSample
from backend.bridge.sources.dsmr import p1_events
from backend.bridge.sources.streams import serial_chunks
from backend.broker import broker_address, start_mosquitto
from backend.paths import REPO_ROOT
from backend.processes import free_port, stop_process_group
from backend.protocol.parser import parse_reading
from backend.protocol.readings import recover_signer
from backend.protocol.topics import meter_from_topic, readings_subscription

pytestmark = pytest.mark.slow
ODD_SPLITS = (1, 7, 2, 13, 1, 1, 31, 5)  # chunk sizes, repeated: a telegram arrives in ragged pieces


def feed_oddly(master: int, data: bytes, pause_s: float = 0.0005) -> None:
    position, turn = 0, 0
    while position < len(data):
        size = ODD_SPLITS[turn % len(ODD_SPLITS)]
        os.write(master, data[position : position + size])
        position += size
        turn += 1
        time.sleep(pause_s)


class Subscriber:
    """A paho subscriber on the community's readings, collecting (topic, payload) in arrival order."""

    def __init__(self, url: str, community: str) -> None:
        host, port = broker_address(url)
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(readings_subscription(community), qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = lambda c, u, message: self.messages.append((message.topic, message.payload))
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "subscriber did not subscribe"

    def wait_for(self, count: int, timeout_s: float = 20) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"got {len(self.messages)} of {count} readings"
        return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def verified(topic: str, payload: bytes, community: str):
    signed = parse_reading(payload)
    assert meter_from_topic(topic, community) == TEST_METER
    assert recover_signer(signed, DOMAIN) == TEST_METER
    return signed.reading


def test_p1_serial_reader_on_a_pty_takes_telegrams_split_at_odd_places():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    stop = threading.Event()
    events = []

    def read():
        for event in p1_events(serial_chunks(path, 115200, stop.is_set)):
            events.append(event)
            if len(events) == 3:
                stop.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # let pyserial open the port and put it in raw mode
    stream = (
        fixture_bytes("dsmr5_two_tariffs.txt")
        + fixture_bytes("dsmr5_bad_crc.txt")
        + fixture_bytes("dsmr5_dst_change.txt")
    )
    feed_oddly(master, stream)
    reader.join(timeout=15)
    stop.set()
    os.close(master)
    os.close(slave)
    assert [getattr(event, "reason", "sample") for event in events] == ["sample", "bad_crc", "sample"]
    assert isinstance(events[0], MeterSample) and events[0].consumed_wh == 7_531_579
    assert events[2].consumed_wh == 7_700_000


@pytest.fixture
def broker(tmp_path):
    started = start_mosquitto(tmp_path / "mosquitto")
    yield started
    started.stop()


def test_vatio_bridge_p1_on_a_pty_publishes_verified_readings(tmp_path, broker):
    """`vatio bridge --p1 /dev/pts/N` as its own process: pty -> bridge -> Mosquitto -> verified payloads."""
    community = "ptyville"
    subscriber = Subscriber(broker.url, community)
    master, slave = os.openpty()
    command = [
        sys.executable,
        "-c",
        "from backend.bridge.cli import bridge; bridge()",
        "--p1",
        os.ttyname(slave),
        "--chain-id",
        str(DOMAIN.chain_id),
        "--registry",
        DOMAIN.verifying_contract,
        "--private-key",
        "0x" + TEST_KEY.hex(),
        "--insecure-key",
        "--community",
        community,
        "--broker",
        broker.url,
        "--every",
        "0.5",
        "--state-dir",
        str(tmp_path / "bridge"),
        "--max-clock-drift-s",
        "1e9",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        time.sleep(1.5)  # the bridge opens the port
        sent = []
        for i in range(6):
            registers = (4_321_123 + i, 3_210_456, 1_234_567, 2_345_678 + i)  # ~1 Wh a telegram: plausible
            sent.append((registers[0] + registers[1], registers[2] + registers[3]))
            feed_oddly(master, p1_telegram(*registers))
            time.sleep(0.5)
        messages = subscriber.wait_for(3)
        status = (tmp_path / "bridge" / "status.json").read_text()
    finally:
        stop_process_group(process)
        output = process.stdout.read().decode()
        os.close(master)
        os.close(slave)
        subscriber.close()
    readings = [verified(topic, payload, community) for topic, payload in messages]
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1)), output
    for reading in readings:
        assert (reading.consumed_wh, reading.produced_wh) in sent
        assert reading.power_w == 452
    assert readings[-1].consumed_wh > readings[0].consumed_wh
    assert '"connected": true' in status and '"source": "p1"' in status


def test_readings_queue_while_the_broker_is_down_and_arrive_in_order(tmp_path):
    port = free_port()
    state = tmp_path / "mosquitto"
    broker = start_mosquitto(state, port=port)
    community = "queueville"
    bridge = make_bridge(tmp_path / "bridge", community=community)
    publisher = ReadingsPublisher(BrokerSettings(url=broker.url, client_id="bridge-test"), bridge.topic)
    subscriber = Subscriber(broker.url, community)
    try:
        for i in range(3):
            bridge.offer(MeterSample(consumed_wh=1000 + i, produced_wh=50, power_w=10), 1_764_000_000 + 10 * i)
        deadline = time.monotonic() + 10
        while len(bridge.outbox) and time.monotonic() < deadline:
            publisher.drain(bridge.outbox)
            time.sleep(0.05)
        subscriber.wait_for(3)
        subscriber.close()
        broker.stop()
        for i in range(3, 10):  # the broker is down: these wait on disk
            bridge.offer(MeterSample(consumed_wh=1000 + i, produced_wh=50, power_w=10), 1_764_000_000 + 10 * i)
            publisher.drain(bridge.outbox)
        assert len(bridge.outbox) == 7 and not publisher.connected
        broker = start_mosquitto(state, port=port)
        subscriber = Subscriber(broker.url, community)
        deadline = time.monotonic() + 30
        while len(bridge.outbox) and time.monotonic() < deadline:
            publisher.drain(bridge.outbox)
            time.sleep(0.05)
        messages = subscriber.wait_for(7)
        assert len(bridge.outbox) == 0
    finally:
        publisher.close()
        subscriber.close()
        broker.stop()
    readings = [verified(topic, payload, community) for topic, payload in messages]
    assert [r.seq for r in readings] == list(range(4, 11))
    assert [r.consumed_wh for r in readings] == list(range(1003, 1010))
