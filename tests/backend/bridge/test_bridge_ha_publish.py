"""`vatio bridge ha-publish`: Vatio's public API and the chain, replayed locally, reach a real Mosquitto as
Home Assistant discovery entities that ha-mqtt-discoverable's models accept."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from bridge_helpers import fixture_json
from broker_helpers import LoggedInSubscriber
from ha_mqtt_discoverable import DeviceInfo
from ha_mqtt_discoverable.sensors import SensorInfo
from vatio_replay import VatioReplay

from backend.bridge.discovery import ENTITIES, TradeWindow
from backend.bridge.ha_publish import HomeAssistantPublisher
from backend.bridge.publisher import BrokerSettings
from backend.bridge.vatio_feed import ChainReader, FeedError, VatioApi, VatioFeed
from backend.broker import start_mosquitto
from backend.paths import REPO_ROOT

pytestmark = pytest.mark.slow
TOPIC_KEYS = {"state_topic", "json_attributes_topic", "availability_topic"}
FIXTURE = fixture_json("vatio_api.json")
HOUSEHOLD = FIXTURE["household"]
NOW = FIXTURE["now"]


@pytest.fixture
def replay():
    server = VatioReplay(FIXTURE)
    yield server
    server.close()


@pytest.fixture
def broker(tmp_path):
    started = start_mosquitto(tmp_path / "mosquitto")
    yield started
    started.stop()


def feed_of(replay: VatioReplay) -> VatioFeed:
    return VatioFeed(VatioApi(replay.url), ChainReader(replay.rpc_url, replay.deployment), HOUSEHOLD, UTC)


def collect(subscriber: LoggedInSubscriber, topics: int, timeout_s: float = 20) -> dict[str, bytes]:
    """The latest payload per topic, once ``topics`` topics have arrived (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while (
        len({t for t, _ in subscriber.messages if not t.endswith("/attributes")}) < topics
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    time.sleep(0.3)  # the attributes that follow the last state
    return dict(subscriber.messages)


def check_configs(received: dict[str, bytes], node: str) -> dict[str, dict]:
    configs = {topic: json.loads(payload) for topic, payload in received.items() if topic.endswith("/config")}
    assert set(configs) == {f"homeassistant/sensor/{node}/{object_id}/config" for object_id in ENTITIES}
    for topic, config in configs.items():
        assert not set(config) - set(SensorInfo.model_fields) - TOPIC_KEYS, topic
        info = SensorInfo.model_validate({k: v for k, v in config.items() if k not in TOPIC_KEYS})
        DeviceInfo.model_validate(config["device"])
        assert (
            info.model_dump(exclude_none=True, by_alias=True) | {k: config[k] for k in TOPIC_KEYS & set(config)}
            == config
        )
        assert config["state_topic"] in received, f"{topic}: no state arrived on {config['state_topic']}"
    return configs


def test_the_feed_reads_prices_windows_balances_and_todays_savings(replay):
    outlook = feed_of(replay).read(NOW)
    assert outlook.household == HOUSEHOLD
    # 06:00 hour: no surplus, 2100 Wh short -> retail; the next interval (06:15) falls in it.
    assert outlook.next_clearing_price_per_kwh == 200_000
    assert outlook.price_outlook[0] == (1764050400, 200_000)
    assert len(outlook.price_outlook) == 24
    # 10:00 hour: 4100 Wh surplus, 0 short -> feed-in; 11:00: 4300 / 0 likewise.
    assert dict(outlook.price_outlook)[1764050400 + 6 * 3600] == 50_000
    assert all(price % 1000 == 0 for _, price in outlook.price_outlook)
    # This household is short 07:00-09:00 (400 + 350 Wh): surplus 500+0 against 2600+1900 there.
    assert outlook.next_buy is not None
    assert (outlook.next_buy.start_ts, outlook.next_buy.end_ts, outlook.next_buy.energy_wh) == (
        1764054000,
        1764061200,
        750,
    )
    assert outlook.next_buy.limit_price_per_kwh == 185_000
    assert outlook.next_sell is None and not outlook.sell_window_known
    assert (outlook.kwh_token_wh, outlook.euro_units, outlook.market_euro_units) == (12345, 42_500_000, 7_250_000)
    # Today (UTC): bought 1500 Wh for 0.195 (0.300 at retail), sold 800 Wh for 0.104 (0.040 at feed-in);
    # yesterday's fill and the other household's do not count.
    assert outlook.savings_today_units == 105_000 + 64_000
    # The newest settled interval traded nothing; the one before cleared at 0.131.
    assert (outlook.last_clearing_price_per_kwh, outlook.last_clearing_interval) == (131_000, 1960054)
    assert ("/api/community/outlook", {"horizon": "24", "limit": "500"}) in replay.queries
    assert "eth_getLogs" in replay.rpc_methods


def test_fills_are_read_once_and_a_dead_api_is_a_feed_error(replay):
    feed = feed_of(replay)
    feed.read(NOW)
    logs_before = replay.rpc_methods.count("eth_getLogs")
    assert feed.read(NOW).savings_today_units == 169_000  # no fill counted twice
    assert replay.rpc_methods.count("eth_getLogs") == logs_before  # no new block: nothing rescanned
    replay.fail_api = True
    with pytest.raises(FeedError, match="503"):
        feed.read(NOW)


def test_ha_publish_once_reaches_home_assistant_topics_and_validates(tmp_path, replay, broker):
    subscriber = LoggedInSubscriber(broker.url, "unused", username=None, topic_filter="homeassistant/#")
    states = LoggedInSubscriber(broker.url, "unused", username=None, topic_filter="vatio-ha/#")
    deployment = replay.write_deployment(tmp_path / "deployment.json")
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "bridge",
                "ha-publish",
                "--vatio-url",
                replay.url,
                "--household",
                HOUSEHOLD.lower(),
                "--deployment",
                str(deployment),
                "--rpc-url",
                replay.rpc_url,
                "--broker",
                broker.url,
                "--timezone",
                "UTC",
                "--once",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        node = "vatio_" + HOUSEHOLD[2:10].lower()
        received = collect(subscriber, len(ENTITIES)) | collect(states, len(ENTITIES))
    finally:
        subscriber.close()
        states.close()
    check_configs(received, node)
    # The command runs on the wall clock, long after the recorded forecast: its hours are over, so the
    # outlook, the next price and the buy window are unknown rather than stale; none of the fills is today's.
    assert received[f"vatio-ha/{node}/price_outlook_24h/state"] == b"None"
    assert received[f"vatio-ha/{node}/next_clearing_price/state"] == b"None"
    assert received[f"vatio-ha/{node}/next_buy_window/state"] == b"None"
    assert received[f"vatio-ha/{node}/savings_today/state"] == b"0.0"
    assert received[f"vatio-ha/{node}/next_sell_window/state"] == b"None"
    assert json.loads(received[f"vatio-ha/{node}/next_sell_window/attributes"]) == {"window": "unknown"}
    assert received[f"vatio-ha/{node}/kwh_token_balance/state"] == b"12.345"
    assert received[f"vatio-ha/{node}/euro_balance/state"] == b"42.5"
    assert received[f"vatio-ha/{node}/market_euro_balance/state"] == b"7.25"
    assert received[f"vatio-ha/{node}/last_clearing_price/state"] == b"0.131"


TOKEN = "vatio_hh_" + "T" * 43
RECOMMENDATIONS = f"/api/households/{HOUSEHOLD}/recommendations"


def with_recommendations(replay: VatioReplay, sell_windows: list[dict], price: int = 143_000) -> None:
    """The household's private recommendations (the documented shape), readable with TOKEN only."""
    body = {
        "household": HOUSEHOLD,
        "issuedAt": NOW - 600,
        "horizonH": 24,
        "asOf": NOW,
        "orders": [],
        "advice": {
            "hourStarts": [],
            "netP50Wh": [],
            "netLowWh": [],
            "netHighWh": [],
            "buyWindows": [],
            "sellWindows": sell_windows,
            "sellLimitPricePerKwh": price,
            "buyLimitPricePerKwh": 185_000,
        },
    }
    replay.fixture = {**FIXTURE, "api": {**FIXTURE["api"], RECOMMENDATIONS: body}}
    replay.private[RECOMMENDATIONS] = TOKEN


def test_with_a_token_the_feed_reads_the_next_sell_window(replay):
    over = {"side": "sell", "start": NOW - 7200, "end": NOW - 3600, "energyWh": 900, "confidentWh": 700}
    later = {"side": "sell", "start": NOW + 14_400, "end": NOW + 21_600, "energyWh": 2_400, "confidentWh": 2_000}
    soon = {"side": "sell", "start": NOW + 3_600, "end": NOW + 7_200, "energyWh": 1_250, "confidentWh": 1_000}
    with_recommendations(replay, [later, over, soon])
    feed = VatioFeed(VatioApi(replay.url, token=TOKEN), ChainReader(replay.rpc_url, replay.deployment), HOUSEHOLD, UTC)
    outlook = feed.read(NOW)
    assert outlook.sell_window_known
    assert outlook.next_sell == TradeWindow(NOW + 3_600, NOW + 7_200, 1_250, 143_000)
    # The token goes to the private endpoint only, never to the public ones.
    sent = dict(replay.authorizations)
    assert sent[RECOMMENDATIONS] == f"Bearer {TOKEN}"
    assert sent["/api/community/outlook"] is None and sent["/api/market/clearing"] is None
    # No window left in the advice: known to be none.
    with_recommendations(replay, [over])
    assert feed.read(NOW).next_sell is None and feed.read(NOW).sell_window_known
    # A refused (revoked) token leaves the window unknown, and everything else is published as before.
    wrong = VatioFeed(
        VatioApi(replay.url, token="vatio_hh_" + "W" * 43),
        ChainReader(replay.rpc_url, replay.deployment),
        HOUSEHOLD,
        UTC,
    ).read(NOW)
    assert wrong.next_sell is None and not wrong.sell_window_known and wrong.next_buy is not None
    with pytest.raises(ValueError, match="one word"):
        VatioApi(replay.url, token="two words")


def test_ha_publish_with_a_token_file_publishes_the_sell_window(tmp_path, replay, broker):
    start = (int(time.time()) // 3600 + 2) * 3600  # the command runs on the wall clock
    with_recommendations(
        replay,
        [{"side": "sell", "start": start, "end": start + 7200, "energyWh": 3_100, "confidentWh": 2_500}],
        price=152_000,
    )
    token_file = tmp_path / "vatio.token"
    token_file.write_text(TOKEN + "\n")
    states = LoggedInSubscriber(broker.url, "unused", username=None, topic_filter="vatio-ha/#")
    deployment = replay.write_deployment(tmp_path / "deployment.json")
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "bridge",
                "ha-publish",
                "--vatio-url",
                replay.url,
                "--household",
                HOUSEHOLD,
                "--deployment",
                str(deployment),
                "--rpc-url",
                replay.rpc_url,
                "--broker",
                broker.url,
                "--timezone",
                "UTC",
                "--token-file",
                str(token_file),
                "--once",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        node = "vatio_" + HOUSEHOLD[2:10].lower()
        received = collect(states, len(ENTITIES))
    finally:
        states.close()
    assert TOKEN not in completed.stdout + completed.stderr
    window = datetime.fromtimestamp(start, UTC).isoformat()
    assert received[f"vatio-ha/{node}/next_sell_window/state"].decode() == window
    attributes = json.loads(received[f"vatio-ha/{node}/next_sell_window/attributes"])
    assert attributes["energy_wh"] == 3_100 and attributes["limit_eur_per_kwh"] == 0.152
    assert received[f"vatio-ha/{node}/next_sell_energy/state"] == b"3100"
    assert received[f"vatio-ha/{node}/next_sell_limit_price/state"] == b"0.152"


def test_the_loop_publishes_the_recorded_day_as_home_assistant_states(replay, broker):
    states = LoggedInSubscriber(broker.url, "unused", username=None, topic_filter="vatio-ha/#")
    publisher = HomeAssistantPublisher(
        BrokerSettings(url=broker.url, client_id="ha-pub-states"),
        "hh1",
        lambda now: feed_of(replay).read(NOW),
        every_s=60,
    )
    try:
        assert publisher.connected.wait(10)
        publisher.publish_once()
        received = collect(states, len(ENTITIES))
    finally:
        publisher.close()
        states.close()
    assert received["vatio-ha/hh1/next_clearing_price/state"] == b"0.2"
    assert received["vatio-ha/hh1/next_buy_window/state"] == b"2025-11-25T07:00:00+00:00"
    assert json.loads(received["vatio-ha/hh1/next_buy_window/attributes"]) == {
        "end": "2025-11-25T09:00:00+00:00",
        "energy_wh": 750,
        "limit_eur_per_kwh": 0.185,
    }
    assert received["vatio-ha/hh1/next_buy_energy/state"] == b"750"
    assert received["vatio-ha/hh1/next_buy_limit_price/state"] == b"0.185"
    assert received["vatio-ha/hh1/savings_today/state"] == b"0.169"
    prices = json.loads(received["vatio-ha/hh1/price_outlook_24h/attributes"])["prices"]
    assert len(prices) == 24 and prices[0] == {"start": "2025-11-25T06:00:00+00:00", "eur_per_kwh": 0.2}


def test_a_late_subscriber_gets_the_retained_configs_and_a_restarted_home_assistant_gets_them_again(replay, broker):
    """The loop publishes every period; configs are retained; "online" on homeassistant/status sends them again."""
    publisher = HomeAssistantPublisher(
        BrokerSettings(url=broker.url, client_id="ha-pub-test"),
        "hh1",
        lambda now: feed_of(replay).read(NOW),
        every_s=0.5,
    )
    stop = threading.Event()
    loop = threading.Thread(target=publisher.run, args=(stop,), daemon=True)
    loop.start()
    late = None
    try:
        deadline = time.monotonic() + 20
        while publisher.published < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publisher.published >= 2, publisher.last_error
        late = LoggedInSubscriber(broker.url, "unused", username=None, topic_filter="homeassistant/sensor/#")
        retained = collect(late, len(ENTITIES))
        check_configs(retained | {f"vatio-ha/hh1/{object_id}/state": b"" for object_id in ENTITIES}, "hh1")
        # No period for an hour now: what arrives next answers Home Assistant's "online". A period already
        # scheduled at the old pace may still come, so wait until nothing is published or received for 1 s.
        publisher.every_s = 3600
        seen, quiet_since, deadline = None, time.monotonic(), time.monotonic() + 20
        while time.monotonic() - quiet_since < 1.0 and time.monotonic() < deadline:
            if (now_seen := (publisher.published, len(late.messages))) != seen:
                seen, quiet_since = now_seen, time.monotonic()
            time.sleep(0.05)
        late.messages.clear()
        announcer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        host, port = broker.url.removeprefix("mqtt://").split(":")
        announcer.connect(host, int(port))
        announcer.loop_start()
        announcer.publish("homeassistant/status", "offline", qos=1).wait_for_publish(5)
        time.sleep(0.5)
        assert late.messages == []  # "offline" asks for nothing
        announcer.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        again = collect(late, len(ENTITIES), timeout_s=10)
        announcer.disconnect()
        announcer.loop_stop()
        assert again == retained
    finally:
        stop.set()
        loop.join(5)
        if late is not None:
            late.close()
        publisher.close()


def test_a_bad_household_or_node_id_is_refused(replay):
    with pytest.raises(ValueError, match="wallet address"):
        VatioFeed(VatioApi(replay.url), ChainReader(replay.rpc_url, replay.deployment), "0x1234")
    with pytest.raises(ValueError, match="node id"):
        HomeAssistantPublisher(BrokerSettings(), "a/b", lambda now: None)
    with pytest.raises(ValueError, match="Vatio URL"):
        VatioApi("ftp://example.org")
