"""The household page shows its meter's source, the last reading's age and the bridge's problems once the bridge
reports (its status through the broker, the oracle and the live push), and the admin page shows how to set up a
bridge for the meter being registered."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from e2e_pages import go, sign_in
from e2e_stack import BROKER_URL
from playwright.sync_api import expect

from backend.broker import broker_address
from backend.protocol.topics import status_topic


def _publish_status(topic_name: str, body: bytes) -> None:
    """Publish as a bridge does: retained, QoS 1 (an empty body clears the retained one)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-bridge-{time.time_ns()}")
    client.connect(*broker_address(BROKER_URL))
    client.loop_start()
    try:
        client.publish(topic_name, body, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_household_page_shows_the_bridges_source_and_problems(open_page, stack):
    meter = stack.meters.meters[stack.alice.address].key.address
    topic_name = status_topic(stack.meters.community, meter)
    page, _ = open_page(stack.alice, path="/")
    sign_in(page)
    go(page, "Mi hogar")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "connected")
    # The stack's meters sign their readings themselves: no bridge status yet.
    expect(page.get_by_test_id("meter-source")).to_contain_text("desconocido (sin estado del puente)")
    expect(page.get_by_test_id("meter-age")).to_contain_text("hace")
    status = {
        "schema": "vatio-bridge-status/1",
        "meter": meter,
        "source": "p1",
        "ts": int(time.time()),
        "lastReading": {"seq": 1, "ts": int(time.time()) - 5},
        "queueDepth": 2,
        "queueBytes": 640,
        "counters": {"bad_crc": 3, "gap": 1},
        "halted": None,
        "brokerError": None,
    }
    try:
        _publish_status(topic_name, json.dumps(status).encode())
        # Pushed live (oracle -> Redis -> this page), no reload.
        expect(page.get_by_test_id("meter-source")).to_contain_text("P1 (DSMR)")
        problems = page.get_by_test_id("meter-problems")
        expect(problems).to_contain_text("Telegramas con suma de control errónea: 3")
        expect(problems).to_contain_text("Huecos sin lecturas: 1")
        expect(problems).to_contain_text("2 lecturas esperando al bróker")
        # And from the stored status after a reload (GET /api/households/<a>).
        page.reload()
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        expect(page.get_by_test_id("meter-source")).to_contain_text("P1 (DSMR)")
        expect(page.get_by_test_id("meter-problems")).to_contain_text("Telegramas con suma de control errónea: 3")
    finally:
        _publish_status(topic_name, b"")


def test_the_admin_page_shows_the_bridge_setup_commands_for_the_meter_it_registers(open_page, stack):
    page, _ = open_page(stack.admin, path="/")
    sign_in(page, role_text="administración")
    go(page, "Administración")
    setup = page.get_by_test_id("bridge-setup")
    expect(setup).to_be_visible()
    expect(page.get_by_test_id("setup-command-1")).to_have_text("vatio bridge keygen --keystore ~/.vatio/meter.json")
    meter = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    checksummed = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    page.get_by_test_id("admin-meter").fill(meter)
    expect(page.get_by_test_id("setup-command-2")).to_have_text(
        f"vatio meter credentials {checksummed} --community demo --out broker.password"
    )
    run = page.get_by_test_id("setup-command-3")
    expect(run).to_contain_text("vatio bridge --p1 /dev/ttyUSB0 --keystore ~/.vatio/meter.json")
    expect(run).to_contain_text(f"--deployment deployments/{stack.deployment.chain_id}.json")
    expect(page.get_by_test_id("setup-address")).to_contain_text(checksummed)
