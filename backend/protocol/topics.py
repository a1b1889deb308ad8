"""MQTT topics of meters (docs/mqtt.md): the oracle's subscriptions and the meter a topic names.

``vatio/<community>/meters/<meterAddress>/readings``, and beside it a bridge's retained
``.../status`` (optional, additive); pure, no I/O.
"""

from __future__ import annotations

import re

from backend.protocol.parser import Reason, RejectedReading
from backend.protocol.readings import MeterReading, SignedReading, to_checksum

__all__ = [
    "check_topic_matches",
    "is_status_topic",
    "meter_from_topic",
    "readings_subscription",
    "readings_topic",
    "status_meter",
    "status_subscription",
    "status_topic",
]

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_TOPIC_LEVEL_FORBIDDEN = re.compile(r"[/+#\x00]")


def readings_topic(community: str, meter: str) -> str:
    """Return the topic a meter publishes its readings on."""
    return f"vatio/{community}/meters/{meter}/readings"


def status_topic(community: str, meter: str) -> str:
    """Return the retained topic a bridge reports its status on, next to its readings."""
    return f"vatio/{community}/meters/{meter}/status"


def _check_community(community: str) -> None:
    if not isinstance(community, str) or not community or _TOPIC_LEVEL_FORBIDDEN.search(community):
        raise ValueError(f"community must be one non-empty MQTT topic level, got {community!r}")


def readings_subscription(community: str, share_group: str | None = None) -> str:
    """Return the topic filter for all meters of a community, optionally as a shared subscription."""
    _check_community(community)
    topic_filter = f"vatio/{community}/meters/+/readings"
    if share_group is None:
        return topic_filter
    _check_community(share_group)
    # MQTT 5 shared subscription: the broker spreads the meters over the group's oracles.
    return f"$share/{share_group}/{topic_filter}"


def status_subscription(community: str) -> str:
    """Return the topic filter for every bridge status of a community.

    Never shared: a broker sends retained messages to a plain subscription only, and every
    oracle may store a status (an upsert: the same status twice is one row).
    """
    _check_community(community)
    return f"vatio/{community}/meters/+/status"


def is_status_topic(topic: str) -> bool:
    """True for a topic of the shape ``vatio/<any>/meters/<any>/status`` (what the oracle routes to statuses)."""
    levels = topic.split("/") if isinstance(topic, str) else []
    return len(levels) == 5 and levels[0] == "vatio" and levels[2] == "meters" and levels[4] == "status"


def status_meter(topic: str, community: str) -> str | None:
    """Return the checksummed meter address of ``vatio/<community>/meters/<meter>/status``; None for another topic."""
    _check_community(community)
    levels = topic.split("/") if isinstance(topic, str) else []
    if (
        len(levels) != 5
        or levels[0] != "vatio"
        or levels[1] != community
        or levels[2] != "meters"
        or levels[4] != "status"
        or not _ADDRESS_RE.fullmatch(levels[3])
    ):
        return None
    return to_checksum(levels[3])


def meter_from_topic(topic: str, community: str) -> str:
    """Return the checksummed meter address named by ``vatio/<community>/meters/<meter>/readings``.

    A ``$share/<group>/`` prefix belongs to subscriptions only; brokers
    deliver messages on the plain topic, so a message topic carrying it is
    rejected like any other foreign topic.
    """
    _check_community(community)
    levels = topic.split("/") if isinstance(topic, str) else []
    if (
        len(levels) != 5
        or levels[0] != "vatio"
        or levels[1] != community
        or levels[2] != "meters"
        or levels[4] != "readings"
        or not _ADDRESS_RE.fullmatch(levels[3])
    ):
        raise RejectedReading(Reason.WRONG_TOPIC, f"not a readings topic of community {community!r}: {topic!r:.120}")
    return to_checksum(levels[3])


def check_topic_matches(topic_meter: str, reading: SignedReading | MeterReading) -> None:
    """Reject a reading whose payload names a meter other than its topic's."""
    payload_meter = reading.reading.meter if isinstance(reading, SignedReading) else reading.meter
    if payload_meter.lower() != topic_meter.lower():
        raise RejectedReading(Reason.WRONG_TOPIC, f"topic names meter {topic_meter}, payload {payload_meter}")
