"""The admin page's meter logins: POST /api/admin/meters/<address>/credentials against a real Mosquitto with auth."""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from eth_account import Account
from web_helpers import sign_in

from backend.broker import broker_address, start_mosquitto
from backend.broker_auth import BrokerAuth

pytestmark = pytest.mark.slow
COMMUNITY = "adminville"


def _login(url: str, username: str, password: str) -> bool:
    """Whether the broker accepts this login (a fresh connection each time)."""
    host, port = broker_address(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(username, password)
    outcome: list[bool] = []
    done = threading.Event()

    def on_connect(c, userdata, flags, reason, properties):
        outcome.append(not reason.is_failure)
        done.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=10)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()
    return bool(outcome and outcome[0])


def _eventually(check, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto whose auth folder is tmp/broker/auth and pid file tmp/broker/mosquitto.pid, as the demo's."""
    auth = BrokerAuth(tmp_path / "broker" / "auth", COMMUNITY)
    auth.ensure([])
    started = start_mosquitto(tmp_path / "broker", auth=auth)
    yield auth, started
    started.stop()


def test_only_the_admin_makes_logins(make_app, community, broker):
    auth, _ = broker
    app = make_app(broker_auth_dir=auth.directory)
    anonymous, household = app.test_client(), app.test_client()
    sign_in(household, community.alice)
    meter = Account.create().address
    before = auth.password_file.read_text()
    assert anonymous.post(f"/api/admin/meters/{meter}/credentials", json={}).status_code == 401
    response = household.post(f"/api/admin/meters/{meter}/credentials", json={})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert auth.password_file.read_text() == before


def test_create_then_rotate_refuses_the_old_password(make_app, community, broker, caplog):
    auth, started = broker
    client = make_app(broker_auth_dir=auth.directory).test_client()
    sign_in(client, community.admin)
    meter = Account.create().address
    with caplog.at_level(logging.DEBUG):
        created = client.post(f"/api/admin/meters/{meter.lower()}/credentials", json={})
    assert created.status_code == 200, created.get_json()
    assert created.headers["Cache-Control"] == "no-store"
    first = created.get_json()
    assert first["username"] == meter and first["rotated"] is False and first["brokerReloaded"] is True
    assert first["topic"] == f"vatio/{COMMUNITY}/meters/{meter}/readings"
    assert not auth.user_password_file(meter).exists()  # the clear password is only in the answer
    assert _eventually(lambda: _login(started.url, meter, first["password"]))

    file_before = auth.password_file.read_text()
    with caplog.at_level(logging.DEBUG):
        rotated = client.post(f"/api/admin/meters/{meter}/credentials", json={})
    second = rotated.get_json()
    assert rotated.status_code == 200 and second["rotated"] is True
    assert second["password"] != first["password"]
    assert auth.password_file.read_text() != file_before
    assert _eventually(lambda: _login(started.url, meter, second["password"]))
    assert not _login(started.url, meter, first["password"])
    assert first["password"] not in caplog.text and second["password"] not in caplog.text


def test_bad_meter_and_unmanaged_broker(make_app, community, tmp_path):
    unmanaged = make_app(broker_auth_dir=None).test_client()
    sign_in(unmanaged, community.admin)
    response = unmanaged.post(f"/api/admin/meters/{Account.create().address}/credentials", json={})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "broker_auth_not_configured"
    assert "VATIO_BROKER_AUTH_DIR" in response.get_json()["error"]["message"]
    empty = tmp_path / "empty-auth"
    empty.mkdir()
    no_acl = make_app(broker_auth_dir=empty).test_client()
    sign_in(no_acl, community.admin)
    response = no_acl.post(f"/api/admin/meters/{Account.create().address}/credentials", json={})
    assert response.status_code == 409 and "no ACL" in response.get_json()["error"]["message"]
    response = no_acl.post("/api/admin/meters/0x1234/credentials", json={})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_address"
    response = no_acl.post(
        f"/api/admin/meters/{Account.create().address}/credentials", data="x", content_type="text/plain"
    )
    assert response.status_code == 415


def test_the_auth_folder_setting(tmp_path):
    from test_config import _env

    from backend.web.config import Config, ConfigError

    with pytest.raises(ConfigError, match="VATIO_BROKER_AUTH_DIR"):
        Config.from_env(_env(tmp_path, VATIO_BROKER_AUTH_DIR=str(tmp_path / "missing")))
    assert Config.from_env(_env(tmp_path, VATIO_VAR_DIR=str(tmp_path / "var"))).broker_auth_dir is None
    demo = tmp_path / "var" / "broker" / "auth"
    demo.mkdir(parents=True)
    assert Config.from_env(_env(tmp_path, VATIO_VAR_DIR=str(tmp_path / "var"))).broker_auth_dir == demo
    named = tmp_path / "elsewhere"
    named.mkdir()
    assert Config.from_env(_env(tmp_path, VATIO_BROKER_AUTH_DIR=str(named))).broker_auth_dir == named.resolve()
