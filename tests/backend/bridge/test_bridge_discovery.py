"""Home Assistant discovery payloads, validated against ha-mqtt-discoverable's pydantic models."""

from __future__ import annotations

import json

import pytest
from ha_mqtt_discoverable import DeviceInfo
from ha_mqtt_discoverable.sensors import SensorInfo
from pydantic import ValidationError

from backend.bridge.discovery import ENTITIES, HouseholdOutlook, TradeWindow, discovery_messages

# What ha-mqtt-discoverable adds to the model's fields when it writes a config itself.
TOPIC_KEYS = {"state_topic", "json_attributes_topic", "availability_topic"}

OUTLOOK = HouseholdOutlook(
    household="0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
    next_clearing_price_per_kwh=118_500,
    price_outlook=[(1764000000 + 900 * i, 100_000 + 1000 * i) for i in range(96)],
    next_sell=TradeWindow(1764043200, 1764046800, 2400, 95_000),
    next_buy=None,
    kwh_token_wh=12_345,
    euro_units=42_500_000,
    savings_today_units=1_230_000,
)


def configs() -> dict[str, dict]:
    return {
        message.topic: json.loads(message.payload)
        for message in discovery_messages("hh1", OUTLOOK)
        if message.topic.endswith("/config")
    }


def test_every_config_is_a_valid_sensor_info():
    found = configs()
    assert set(found) == {f"homeassistant/sensor/hh1/{object_id}/config" for object_id in ENTITIES}
    for topic, config in found.items():
        unknown = set(config) - set(SensorInfo.model_fields) - TOPIC_KEYS
        assert not unknown, f"{topic}: keys Home Assistant's sensor model does not know: {unknown}"
        info = SensorInfo.model_validate({key: value for key, value in config.items() if key not in TOPIC_KEYS})
        DeviceInfo.model_validate(config["device"])
        # What the library itself would write for this entity equals what we publish.
        assert (
            info.model_dump(exclude_none=True, by_alias=True) | {key: config[key] for key in TOPIC_KEYS & set(config)}
            == config
        )


def test_the_model_catches_a_bad_config():
    config = configs()["homeassistant/sensor/hh1/euro_balance/config"]
    with pytest.raises(ValidationError):
        SensorInfo.model_validate({**config, "name": None})


def test_states_carry_prices_advice_balances_and_savings():
    states = {message.topic: message.payload for message in discovery_messages("hh1", OUTLOOK)}
    assert states["vatio-ha/hh1/next_clearing_price/state"] == "0.1185"
    assert states["vatio-ha/hh1/next_sell_window/state"] == "2025-11-25T04:00:00+00:00"
    assert states["vatio-ha/hh1/next_sell_energy/state"] == "2400"
    assert states["vatio-ha/hh1/next_sell_limit_price/state"] == "0.095"
    assert states["vatio-ha/hh1/next_buy_window/state"] == "None"
    assert states["vatio-ha/hh1/kwh_token_balance/state"] == "12.345"
    assert states["vatio-ha/hh1/euro_balance/state"] == "42.5"
    assert states["vatio-ha/hh1/savings_today/state"] == "1.23"
    outlook = json.loads(states["vatio-ha/hh1/price_outlook_24h/attributes"])["prices"]
    assert len(outlook) == 96 and outlook[0]["eur_per_kwh"] == 0.1
    assert states["vatio-ha/hh1/price_outlook_24h/state"] == "0.1475"  # mean of 0.100 .. 0.195


def test_node_id_must_be_one_topic_level():
    with pytest.raises(ValueError):
        discovery_messages("a/b", OUTLOOK)
