"""Home Assistant MQTT discovery for what Vatio knows about a household: prices, advice, balances, savings.

Each entity is a sensor with a retained config on ``homeassistant/sensor/<node>/<object>/config``
and its state (and, where useful, JSON attributes) on ``vatio-ha/<node>/<object>/state`` and
``.../attributes``. The config keys are those of Home Assistant's MQTT sensor, the same that
``ha-mqtt-discoverable``'s ``SensorInfo`` model describes; the tests validate every config
against that model. The payloads are built here; any MQTT client publishes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

__all__ = [
    "DISCOVERY_PREFIX",
    "DiscoveryMessage",
    "HouseholdOutlook",
    "TradeWindow",
    "check_node_id",
    "discovery_messages",
    "publish_discovery",
]

DISCOVERY_PREFIX = "homeassistant"
STATE_PREFIX = "vatio-ha"
PRICE_UNITS_PER_EURO = 1_000_000  # the payment token has 6 decimals; prices are base units per kWh
_NODE_RE = re.compile(r"[a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class TradeWindow:
    """A recommended sell or buy window: when, how much, at what limit price."""

    start_ts: int
    end_ts: int
    energy_wh: int
    limit_price_per_kwh: int  # payment base units per kWh


@dataclass(frozen=True)
class HouseholdOutlook:
    """What Vatio tells one household: next price, 24 h outlook, advice, balances, today's savings."""

    household: str
    next_clearing_price_per_kwh: int | None  # payment base units per kWh
    price_outlook: list[tuple[int, int]] = field(default_factory=list)  # (interval start ts, price per kWh)
    next_sell: TradeWindow | None = None
    next_buy: TradeWindow | None = None
    kwh_token_wh: int = 0  # kWh token balance in base units (1 = 1 Wh)
    euro_units: int = 0  # payment token balance in the wallet, base units
    market_euro_units: int = 0  # euros in the household's market account (escrow-free balance), base units
    savings_today_units: int = 0  # against the grid tariff, payment base units
    last_clearing_price_per_kwh: int | None = None  # the newest settled interval that traded
    last_clearing_interval: int | None = None
    sell_window_known: bool = True  # False: the window is private advice the feed cannot read (unknown)
    buy_window_known: bool = True
    forecast_issued_at: int | None = None  # the forecast run behind the outlook and the windows


@dataclass(frozen=True)
class DiscoveryMessage:
    topic: str
    payload: str
    retain: bool


def _euros(units: int | None) -> float | None:
    return None if units is None else round(units / PRICE_UNITS_PER_EURO, 6)


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


# object id -> (name, unit, device_class, state_class, icon)
ENTITIES = {
    "next_clearing_price": ("Next clearing price", "EUR/kWh", None, "measurement", "mdi:cash-clock"),
    "last_clearing_price": ("Last clearing price", "EUR/kWh", None, "measurement", "mdi:cash-check"),
    "price_outlook_24h": ("Price outlook 24 h (mean)", "EUR/kWh", None, "measurement", "mdi:chart-line"),
    "next_sell_window": ("Next sell window", None, "timestamp", None, "mdi:transmission-tower-export"),
    "next_sell_energy": ("Next sell energy", "Wh", "energy", "total", "mdi:solar-power"),
    "next_sell_limit_price": ("Next sell limit price", "EUR/kWh", None, "measurement", "mdi:cash-plus"),
    "next_buy_window": ("Next buy window", None, "timestamp", None, "mdi:transmission-tower-import"),
    "next_buy_energy": ("Next buy energy", "Wh", "energy", "total", "mdi:home-lightning-bolt"),
    "next_buy_limit_price": ("Next buy limit price", "EUR/kWh", None, "measurement", "mdi:cash-minus"),
    "kwh_token_balance": ("kWh token balance", "kWh", "energy", "total", "mdi:battery-charging"),
    "euro_balance": ("Euro balance", "EUR", "monetary", "total", "mdi:currency-eur"),
    "market_euro_balance": ("Euro in the market", "EUR", "monetary", "total", "mdi:bank"),
    "savings_today": ("Savings today", "EUR", "monetary", "total", "mdi:piggy-bank"),
}


def _states(outlook: HouseholdOutlook) -> dict[str, tuple[object, dict | None]]:
    outlook_prices = [price for _, price in outlook.price_outlook]
    mean = sum(outlook_prices) / len(outlook_prices) if outlook_prices else None
    issued = None if outlook.forecast_issued_at is None else _iso(outlook.forecast_issued_at)
    states: dict[str, tuple[object, dict | None]] = {
        "next_clearing_price": (_euros(outlook.next_clearing_price_per_kwh), {"forecast_issued_at": issued}),
        "last_clearing_price": (
            _euros(outlook.last_clearing_price_per_kwh),
            {"interval_id": outlook.last_clearing_interval},
        ),
        "price_outlook_24h": (
            None if mean is None else _euros(round(mean)),
            {
                "forecast_issued_at": issued,
                "prices": [{"start": _iso(ts), "eur_per_kwh": _euros(price)} for ts, price in outlook.price_outlook],
            },
        ),
        "kwh_token_balance": (outlook.kwh_token_wh / 1000, None),
        "euro_balance": (_euros(outlook.euro_units), None),
        "market_euro_balance": (_euros(outlook.market_euro_units), None),
        "savings_today": (_euros(outlook.savings_today_units), None),
    }
    for side, window, known in (
        ("sell", outlook.next_sell, outlook.sell_window_known),
        ("buy", outlook.next_buy, outlook.buy_window_known),
    ):
        if window is None:
            # No window (known) is "none"; a window this feed cannot read stays unknown (HA's "None").
            note = {"window": "none" if known else "unknown"}
            states[f"next_{side}_window"] = (None, note)
            states[f"next_{side}_energy"] = (None, None)
            states[f"next_{side}_limit_price"] = (None, None)
            continue
        states[f"next_{side}_window"] = (
            _iso(window.start_ts),
            {
                "end": _iso(window.end_ts),
                "energy_wh": window.energy_wh,
                "limit_eur_per_kwh": _euros(window.limit_price_per_kwh),
            },
        )
        states[f"next_{side}_energy"] = (window.energy_wh, None)
        states[f"next_{side}_limit_price"] = (_euros(window.limit_price_per_kwh), None)
    return states


def entity_config(node_id: str, object_id: str, household: str) -> dict:
    """The discovery config of one entity (Home Assistant's MQTT sensor keys)."""
    name, unit, device_class, state_class, icon = ENTITIES[object_id]
    base = f"{STATE_PREFIX}/{node_id}/{object_id}"
    config = {
        "component": "sensor",
        "name": name,
        "object_id": f"vatio_{node_id}_{object_id}",
        "unique_id": f"vatio_{node_id}_{object_id}",
        "icon": icon,
        "state_topic": f"{base}/state",
        "json_attributes_topic": f"{base}/attributes",
        "device": {
            "name": f"Vatio {household[:10]}",
            "identifiers": [f"vatio_{node_id}"],
            "manufacturer": "Vatio",
            "model": "Energy community household",
        },
    }
    if unit is not None:
        config["unit_of_measurement"] = unit
    if device_class is not None:
        config["device_class"] = device_class
    if state_class is not None:
        config["state_class"] = state_class
    return config


def check_node_id(node_id: str) -> str:
    """The node id, when it is one topic level Home Assistant accepts (letters, digits, _ or -)."""
    if not isinstance(node_id, str) or not _NODE_RE.fullmatch(node_id):
        raise ValueError(f"node id must be letters, digits, _ or -: {node_id!r}")
    return node_id


def discovery_messages(node_id: str, outlook: HouseholdOutlook) -> list[DiscoveryMessage]:
    """Retained configs for every entity, then their states and attributes ("None" for unknown)."""
    check_node_id(node_id)
    messages = []
    states = _states(outlook)
    for object_id in ENTITIES:
        config = entity_config(node_id, object_id, outlook.household)
        messages.append(
            DiscoveryMessage(f"{DISCOVERY_PREFIX}/sensor/{node_id}/{object_id}/config", json.dumps(config), retain=True)
        )
    for object_id in ENTITIES:
        value, attributes = states[object_id]
        base = f"{STATE_PREFIX}/{node_id}/{object_id}"
        # Home Assistant reads the literal "None" as an unknown state for a sensor.
        messages.append(DiscoveryMessage(f"{base}/state", "None" if value is None else str(value), retain=True))
        if attributes is not None:
            messages.append(DiscoveryMessage(f"{base}/attributes", json.dumps(attributes), retain=True))
    return messages


def publish_discovery(client, messages: list[DiscoveryMessage]) -> None:
    """Publish the messages through a connected paho client at QoS 1 and wait for the broker's acks."""
    infos = [client.publish(message.topic, message.payload, qos=1, retain=message.retain) for message in messages]
    for info in infos:
        info.wait_for_publish(timeout=10)
