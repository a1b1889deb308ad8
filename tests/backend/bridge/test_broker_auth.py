"""The broker authenticates and authorises every meter: a real Mosquitto with config/mosquitto-auth.conf
(password file, the per-meter ACL of config/mosquitto.acl) and the optional TLS listener, on free ports."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from bridge_helpers import DOMAIN, TEST_KEY, TEST_METER, make_bridge
from broker_helpers import LoggedInSubscriber, auth_folder, connect_outcome, make_test_ca

from backend.bridge.publisher import BrokerSettings, ReadingsPublisher
from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem
from backend.bridge.status import STATUS_SCHEMA, status_topic
from backend.broker import broker_address, start_mosquitto
from backend.broker_auth import ORACLE_USER, BrokerAuth, CredentialsError, canonical_meter_user
from backend.meters.mqtt import MeterPublisher, PerMeterPublishers
from backend.paths import REPO_ROOT
from backend.protocol.parser import encode_reading, parse_reading
from backend.protocol.readings import MeterReading, sign_reading
from backend.protocol.topics import readings_topic

pytestmark = pytest.mark.slow
COMMUNITY = "authville"
OTHER_METER = "0x1111111111111111111111111111111111111111"


def signed_payload(seq: int) -> bytes:
    reading = MeterReading(
        meter=TEST_METER, seq=seq, ts=1_764_000_000 + seq, produced_wh=0, consumed_wh=100 + seq, power_w=0
    )
    return encode_reading(sign_reading(reading, DOMAIN, TEST_KEY))


@pytest.fixture
def auth(tmp_path) -> BrokerAuth:
    return auth_folder(tmp_path / "auth", COMMUNITY, [TEST_METER, OTHER_METER])


@pytest.fixture
def broker(tmp_path, auth):
    started = start_mosquitto(tmp_path / "mosquitto", auth=auth)
    yield started
    started.stop()


def test_the_auth_folder_is_private_and_names_each_meter_by_its_checksummed_address(auth):
    users = [line.split(":", 1)[0] for line in auth.password_file.read_text().splitlines()]
    assert users == [ORACLE_USER, TEST_METER, canonical_meter_user(OTHER_METER)]
    acl = auth.acl_file.read_text()
    assert "pattern write vatio/authville/meters/%u/readings" in acl
    assert "pattern write vatio/authville/meters/%u/status" in acl
    assert "topic read vatio/authville/meters/+/status" in acl
    assert auth.acl_community() == COMMUNITY
    for path in (auth.password_file, auth.acl_file, auth.user_password_file(TEST_METER)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(auth.user_password_file(TEST_METER).parent.stat().st_mode) == 0o700
    assert canonical_meter_user(TEST_METER.lower()) == TEST_METER
    with pytest.raises(CredentialsError):
        canonical_meter_user("0x123")
    with pytest.raises(CredentialsError):
        BrokerAuth(auth.directory, "two/levels")
    before = auth.password_file.read_text()
    assert not auth.ensure([TEST_METER])  # a second run keeps every password
    assert auth.password_file.read_text() == before


def test_ensure_brings_an_older_acl_up_to_the_template_and_refuses_another_communitys(tmp_path, auth):
    """An auth folder of an older Vatio (readings only, no status lines) gets the template's ACL back."""
    older = "\n".join(line for line in auth.acl_file.read_text().splitlines() if not line.endswith("/status"))
    auth.acl_file.write_text(older + "\n")
    passwords_before = auth.password_file.read_text()
    assert auth.ensure([TEST_METER])  # rewritten, so reported as a change
    assert auth.acl_file.read_text() == auth.rendered_acl()
    assert "pattern write vatio/authville/meters/%u/status" in auth.acl_file.read_text()
    assert stat.S_IMODE(auth.acl_file.stat().st_mode) == 0o600
    assert auth.password_file.read_text() == passwords_before  # nobody's password changed
    assert not auth.ensure([TEST_METER])  # up to date: nothing to do
    elsewhere = BrokerAuth(auth.directory, "elsewhere")
    with pytest.raises(CredentialsError, match="community 'authville'"):
        elsewhere.ensure([TEST_METER])
    assert auth.acl_file.read_text() == auth.rendered_acl()  # left as it was


def test_a_wrong_password_or_no_login_is_refused(broker, auth):
    assert connect_outcome(broker.url, TEST_METER, auth.password_of(TEST_METER)) == "accepted"
    assert connect_outcome(broker.url, ORACLE_USER, auth.password_of(ORACLE_USER)) == "accepted"
    assert connect_outcome(broker.url, TEST_METER, "not-the-password").startswith("refused")
    assert connect_outcome(broker.url, TEST_METER, auth.password_of(ORACLE_USER)).startswith("refused")
    assert connect_outcome(broker.url, None, None).startswith("refused")
    with pytest.raises(ConnectionError, match="refused"):
        MeterPublisher(broker.url, username=TEST_METER, password="not-the-password")


def test_a_meter_publishing_to_another_meters_topic_is_dropped_by_the_broker(broker, auth):
    oracle = LoggedInSubscriber(broker.url, COMMUNITY, password=auth.password_of(ORACLE_USER))
    shared = LoggedInSubscriber(
        broker.url,
        COMMUNITY,
        password=auth.password_of(ORACLE_USER),
        topic_filter=f"$share/oracles/vatio/{COMMUNITY}/meters/+/readings",
    )
    meter = MeterPublisher(broker.url, username=TEST_METER, password=auth.password_of(TEST_METER))
    try:
        forged_topic = readings_topic(COMMUNITY, canonical_meter_user(OTHER_METER))
        meter.publish(forged_topic, signed_payload(1))  # the broker acks it (MQTT 3.1.1) and drops it
        meter.publish(readings_topic(COMMUNITY, TEST_METER.lower()), signed_payload(2))  # not the canonical form
        meter.publish(f"vatio/othertown/meters/{TEST_METER}/readings", signed_payload(3))  # another community
        meter.publish(readings_topic(COMMUNITY, TEST_METER), signed_payload(4))
        meter.close()  # waits for every PUBACK
        messages = oracle.wait_for(1)
        shared.wait_for(1)
        time.sleep(0.5)  # room for anything else to arrive, were it let through
    finally:
        oracle.close()
        shared.close()
    assert [topic for topic, _ in oracle.messages] == [readings_topic(COMMUNITY, TEST_METER)]
    assert parse_reading(messages[0][1]).reading.seq == 4
    assert [parse_reading(payload).reading.seq for _, payload in shared.messages] == [4]


def test_a_meter_cannot_read_the_others_readings(broker, auth):
    """Only the oracle may read: Mosquitto 2.0's acl_file grants a meter's SUBSCRIBE but delivers it nothing."""
    spy = LoggedInSubscriber(
        broker.url,
        COMMUNITY,
        username=canonical_meter_user(OTHER_METER),
        password=auth.password_of(canonical_meter_user(OTHER_METER)),
    )
    oracle = LoggedInSubscriber(broker.url, COMMUNITY, password=auth.password_of(ORACLE_USER))
    meter = MeterPublisher(broker.url, username=TEST_METER, password=auth.password_of(TEST_METER))
    try:
        meter.publish(readings_topic(COMMUNITY, TEST_METER), signed_payload(1))
        meter.close()
        oracle.wait_for(1)
        time.sleep(0.5)
    finally:
        spy.close()
        oracle.close()
    assert spy.messages == []


def test_per_meter_publishers_log_in_as_their_meter(broker, auth):
    oracle = LoggedInSubscriber(broker.url, COMMUNITY, password=auth.password_of(ORACLE_USER))
    publishers = PerMeterPublishers(broker.url, auth.user_password_file(ORACLE_USER).parent)
    try:
        publishers.publish(readings_topic(COMMUNITY, TEST_METER), signed_payload(5))
        with pytest.raises(ConnectionError, match="no broker password"):
            publishers.publish(readings_topic(COMMUNITY, "0x" + "22" * 20), signed_payload(6))
        publishers.close()
        assert [parse_reading(p).reading.seq for _, p in oracle.wait_for(1)] == [5]
    finally:
        oracle.close()


def test_vatio_meter_credentials_rotates_a_login_and_the_running_broker_reloads_it(tmp_path, auth, broker):
    """The CLI's new password works at once (SIGHUP to the broker's pid) and the old one no longer does."""
    old = auth.password_of(TEST_METER)
    out = tmp_path / "meter.password"
    pid_file = tmp_path / "mosquitto" / "mosquitto.pid"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "meter",
            "credentials",
            TEST_METER.lower(),
            "--community",
            COMMUNITY,
            "--auth-dir",
            str(auth.directory),
            "--out",
            str(out),
            "--broker-pid-file",
            str(pid_file),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"rotated the broker login of meter {TEST_METER}" in completed.stdout
    assert f"pid {broker.process.pid}" in completed.stdout
    new = out.read_text().strip()
    assert new != old and new not in completed.stdout and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert auth.password_of(TEST_METER) == new  # the demo's kept copy follows
    deadline = time.monotonic() + 10
    while connect_outcome(broker.url, TEST_METER, new) != "accepted" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert connect_outcome(broker.url, TEST_METER, new) == "accepted"
    assert connect_outcome(broker.url, TEST_METER, old).startswith("refused")


def test_vatio_meter_credentials_refuses_a_bad_address_or_another_communitys_acl(tmp_path, auth):
    base = [sys.executable, "-m", "backend.cli", "meter", "credentials"]
    bad = subprocess.run(
        [*base, "0xnothex", "--auth-dir", str(auth.directory)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "0x address" in bad.stderr
    other = subprocess.run(
        [*base, TEST_METER, "--community", "elsewhere", "--auth-dir", str(auth.directory)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode != 0 and "community 'authville'" in other.stderr


def test_tls_with_the_tests_ca_connects_and_plain_mqtt_on_the_tls_port_is_refused(tmp_path, auth):
    tls = make_test_ca(tmp_path / "ca")
    broker = start_mosquitto(tmp_path / "mosquitto", auth=auth, tls=tls)
    try:
        assert broker.tls_url.startswith("mqtts://127.0.0.1:")
        password = auth.password_of(TEST_METER)
        assert connect_outcome(broker.tls_url, TEST_METER, password, ca_file=tls.cafile) == "accepted"
        plain = connect_outcome(broker.tls_url, TEST_METER, password)
        assert plain != "accepted", plain
        assert connect_outcome(broker.tls_url, TEST_METER, "wrong", ca_file=tls.cafile).startswith("refused")
        # A CA the broker's certificate does not chain to: the client refuses the broker.
        stranger = make_test_ca(tmp_path / "other-ca")
        assert connect_outcome(broker.tls_url, TEST_METER, password, ca_file=stranger.cafile).startswith("failed")
        # The bridge over mqtts:// with --broker-ca: a reading arrives through TLS.
        oracle = LoggedInSubscriber(
            broker.tls_url, COMMUNITY, password=auth.password_of(ORACLE_USER), ca_file=tls.cafile
        )
        publisher = ReadingsPublisher(
            BrokerSettings(
                url=broker.tls_url, username=TEST_METER, password=password, ca_file=tls.cafile, client_id="tls-bridge"
            ),
            readings_topic(COMMUNITY, TEST_METER),
        )
        try:
            deadline = time.monotonic() + 10
            while not publisher.connected and time.monotonic() < deadline:
                time.sleep(0.05)
            assert publisher.connected, publisher.last_error
            info = publisher.client.publish(publisher.topic, signed_payload(7), qos=1)
            info.wait_for_publish(10)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS
            assert [parse_reading(p).reading.seq for _, p in oracle.wait_for(1)] == [7]
        finally:
            publisher.close()
            oracle.close()
    finally:
        broker.stop()
    assert os.path.exists(tmp_path / "mosquitto" / "mosquitto.pid")


def test_a_bridge_reports_its_status_retained_and_only_on_its_own_status_topic(tmp_path, broker, auth):
    """The bridge's status (counters, queue, source, last reading) reaches the oracle's login, retained;
    a meter cannot write another meter's status, and a meter cannot read the status topics."""
    status_filter = f"vatio/{COMMUNITY}/meters/+/status"
    spy = LoggedInSubscriber(
        broker.url,
        COMMUNITY,
        username=canonical_meter_user(OTHER_METER),
        password=auth.password_of(canonical_meter_user(OTHER_METER)),
        topic_filter=status_filter,
    )
    bridge = make_bridge(tmp_path / "bridge", community=COMMUNITY)
    bridge.config = dataclasses.replace(bridge.config, source="p1")
    publisher = ReadingsPublisher(
        BrokerSettings(
            url=broker.url, username=TEST_METER, password=auth.password_of(TEST_METER), client_id="status-bridge"
        ),
        bridge.topic,
    )
    forger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    forger.username_pw_set(TEST_METER, auth.password_of(TEST_METER))
    samples = iter(
        [
            SourceProblem(BridgeReason.BAD_CRC, "telegram CRC mismatch"),
            MeterSample(consumed_wh=1000, produced_wh=5, power_w=300),
            MeterSample(consumed_wh=900, produced_wh=5, power_w=300),
        ]
    )  # backwards: halts

    def events(stop_requested):
        for event in samples:
            yield event
            time.sleep(1.5)  # longer than the bridge's 1 s tick: each sample is signed (or refused) on its own
        while not stop_requested():
            time.sleep(0.05)

    stop = threading.Event()
    runner = threading.Thread(target=bridge.run, args=(events, publisher, stop), daemon=True)
    try:
        deadline = time.monotonic() + 10
        while not publisher.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.start()
        deadline = time.monotonic() + 20
        while not bridge.state.halted and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the tick after the halt writes the status
        forger.connect(*broker_address(broker.url))
        forger.loop_start()
        forger.publish(
            status_topic(COMMUNITY, canonical_meter_user(OTHER_METER)), b'{"forged": true}', qos=1, retain=True
        ).wait_for_publish(10)
        forger.disconnect()
        forger.loop_stop()
        stop.set()
        runner.join(10)
        # A late reader, as the oracle after a restart: the retained status of each meter that may write one.
        oracle = LoggedInSubscriber(
            broker.url, COMMUNITY, password=auth.password_of(ORACLE_USER), topic_filter=status_filter
        )
        try:
            ((topic, payload),) = oracle.wait_for(1)
            time.sleep(0.5)
            assert len(oracle.messages) == 1, oracle.messages  # no forged status of the other meter
        finally:
            oracle.close()
    finally:
        stop.set()
        publisher.close()
        spy.close()
    assert topic == status_topic(COMMUNITY, TEST_METER) == f"vatio/{COMMUNITY}/meters/{TEST_METER}/status"
    status = json.loads(payload)
    assert status["schema"] == STATUS_SCHEMA and status["meter"] == TEST_METER and status["source"] == "p1"
    assert status["counters"] == {"bad_crc": 1, "register_backwards": 1}
    assert status["halted"].startswith("register_backwards")
    assert status["lastReading"]["seq"] == 1 and status["queueDepth"] == 0
    assert spy.messages == []
