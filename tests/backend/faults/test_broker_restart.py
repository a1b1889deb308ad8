"""A broker restart while meters publish: nothing lost, nothing settled twice.

The private Mosquitto (backend.broker.start_mosquitto: the repo's config,
persistence, unbounded QoS 1 queues) is stopped cleanly and started again on
the same port and persistence folder while the meters keep publishing.
Readings the broker acknowledged before it stopped wait in the oracle's
persistent session (the broker saves it on the way out); readings signed
during the outage wait in the meters' paho client, which reconnects and sends
them again. The oracle reconnects by itself and settles on. Runs on
PostgreSQL (the crash test covers SQLite too).

Two narrower tests pin down the two halves: the broker keeps a persistent
session over a clean restart, and the meters' MeterPublisher keeps (and
survives) readings handed to it while its connection is down.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from fault_helpers import (
    ReconnectingPublisher,
    assert_archived,
    assert_contiguous,
    assert_no_reading_lost,
    assert_settled_once,
    start_publishing,
    wait_until,
    wait_until_drained,
)
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.meters.mqtt import MeterPublisher

OUTAGE_S = 3


def test_broker_restart_loses_no_reading(make_community, broker, make_database, make_oracle, make_fleet):
    community = make_community(households=6, traders=2)
    database = make_database("postgresql")
    oracle = make_oracle(community, broker, database)
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)
    first_settled = wait_until(database.settled_ids, 45, "a first interval to settle", oracle.tail)[0]

    broker.stop()
    time.sleep(OUTAGE_S)  # the meters keep signing readings; their client queues them
    broker.start()
    back_at = time.time()

    # The oracle reconnects by itself, stores what was queued and what comes, and settles on.
    wait_until(
        lambda: database.newest_reading_ts() > back_at,
        45,
        "the oracle to store readings taken after the broker came back",
        oracle.tail,
    )
    back_interval = int(back_at) // community.interval_s
    wait_until(
        lambda: any(i >= back_interval for i in database.settled_ids()),
        45,
        f"interval {back_interval}, in which the broker came back, to settle",
        oracle.tail,
    )
    fleet.stop()

    assert_no_reading_lost(fleet, database, oracle)
    wait_until_drained(community, database, oracle)
    settled = assert_settled_once(community, database)
    assert_contiguous([i for i in settled if i >= first_settled], "settled")
    assert_archived(oracle, settled)
    assert oracle.alive(), "the oracle survived the broker restart"
    assert "reconnected to the broker" in oracle.all_logs()


def test_private_broker_keeps_a_persistent_session_across_a_clean_restart(broker):
    """What the oracle relies on: its subscription, and the messages queued for it, survive a broker restart."""
    received: list[bytes] = []
    session_present: list[bool] = []
    subscribed = threading.Event()
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="faults-session-probe", protocol=mqtt.MQTTv5)
    probe.on_connect = lambda client, userdata, flags, reason, properties: session_present.append(flags.session_present)
    probe.on_subscribe = lambda *args: subscribed.set()
    probe.on_message = lambda client, userdata, message: received.append(message.payload)
    expiry = Properties(PacketTypes.CONNECT)
    expiry.SessionExpiryInterval = 3600

    def connect() -> None:
        probe.connect("127.0.0.1", broker.port, clean_start=False, properties=expiry)
        probe.loop_start()

    connect()
    wait_until(lambda: session_present, 10, "the probe to connect")
    probe.subscribe("faults/probe", qos=1)  # once: a kept session must remember it
    wait_until(subscribed.is_set, 10, "the subscription")
    probe.disconnect()
    probe.loop_stop()

    publisher = ReconnectingPublisher(broker.url)
    mid = publisher.publish("faults/probe", b"queued while the subscriber is away")
    wait_until(lambda: mid in publisher.acked_mids, 10, "the broker to take the message")
    publisher.close()

    broker.stop()
    broker.start()
    connect()
    try:
        wait_until(lambda: len(session_present) == 2, 10, "the probe to reconnect")
        log = (broker.state_dir / "mosquitto.log").read_text(errors="replace").splitlines()
        assert session_present[1], (
            "the broker forgot the persistent session over a clean restart; its log:\n"
            + "\n".join(line for line in log if "rror" in line or "aving" in line)
        )
        wait_until(lambda: received, 10, "the message queued for the probe before the restart")
    finally:
        probe.disconnect()
        probe.loop_stop()


def test_meter_publisher_keeps_readings_handed_over_while_disconnected(broker):
    """A meter whose connection drops must not lose (or crash on) the readings it publishes meanwhile.

    The connection is dropped by a session takeover (another client with the
    publisher's client id), so the broker and the subscriber stay up. paho
    queues what is published while it is disconnected and sends it after it
    reconnects (by itself, from its loop_start thread).
    """
    received: list[bytes] = []
    subscriber = ReconnectingPublisher(broker.url)  # a plain paho client; it only subscribes here
    subscriber.client.on_message = lambda client, userdata, message: received.append(message.payload)
    subscribed = subscriber.client.subscribe("faults/meter/#", qos=1)
    assert subscribed[0] == mqtt.MQTT_ERR_SUCCESS
    time.sleep(0.3)

    publisher = MeterPublisher(broker.url, client_id="faults-meter-publisher")
    publisher.publish("faults/meter/readings", b"before")
    intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="faults-meter-publisher")
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    wait_until(
        lambda: not publisher.client.is_connected(), 10, "the takeover to drop the publisher's connection", poll_s=0.01
    )
    intruder.disconnect()
    intruder.loop_stop()
    try:
        publisher.publish("faults/meter/readings", b"while disconnected")
    except ConnectionError as error:
        pytest.fail(
            f"MeterPublisher.publish raised {error!r} for a reading paho has queued for after the "
            "reconnection: `vatio simulate` stops at the first connection loss"
        )
    finally:
        wait_until(publisher.client.is_connected, 15, "the publisher to reconnect by itself")
    publisher.publish("faults/meter/readings", b"after")
    publisher.close()
    wait_until(lambda: len(received) >= 3, 10, "the subscriber to get every reading", lambda: f"received {received}")
    assert sorted(received) == sorted([b"before", b"while disconnected", b"after"])
    subscriber.close()
