"""Socket.IO rooms, and the emitter that sends live events to them from any process.

Rooms:
  community            everyone; readings (thinned), settled intervals, the order book, forecasts
  household:<address>  only that household signed in (or the admin); its readings, fills, forecasts,
                       its bridge's status
  admin                only the registry's admin; the oracle's rejections

Inside the web process the emitter uses the app's SocketIO
(`LiveEmitter(socketio=...)`); another process (the oracle, the forecaster)
writes to the Redis message queue with a write-only SocketIO
(`LiveEmitter(redis_url, channel=...)`), and every web worker subscribed to
that queue and channel delivers the event.

Readings are thinned here, per household room (at most `readings_per_s` per
second) and for the community room: registers are cumulative, so a skipped
reading loses nothing the next one does not carry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask_socketio import SocketIO

__all__ = ["ADMIN_ROOM", "COMMUNITY_ROOM", "HOUSEHOLD_PREFIX", "LiveEmitter", "Throttle", "household_room"]

COMMUNITY_ROOM = "community"
ADMIN_ROOM = "admin"
HOUSEHOLD_PREFIX = "household:"


def household_room(address: str) -> str:
    """Return the room of one household (EIP-55 address)."""
    from eth_utils import to_checksum_address

    return HOUSEHOLD_PREFIX + to_checksum_address(address)


class Throttle:
    """At most `rate_per_s` passes per key per second; the rest are dropped."""

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic):
        self._gap_s = 1.0 / rate_per_s
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            if now < self._next.get(key, 0.0):
                return False
            self._next[key] = now + self._gap_s
            return True


class LiveEmitter:
    """Emit the live events (payloads.py builds them) to their rooms, through Redis or an in-process SocketIO."""

    def __init__(
        self,
        message_queue: str | None = None,
        *,
        channel: str = "vatio",
        socketio: SocketIO | None = None,
        readings_per_s: float = 2.0,
        community_readings_per_s: float = 20.0,
    ):
        if socketio is None:
            if message_queue is None:
                raise ValueError("give a message queue URL (another process) or the app's SocketIO (same process)")
            socketio = SocketIO(message_queue=message_queue, channel=channel)  # no app: write-only
        self._socketio = socketio
        self._per_household = Throttle(readings_per_s)
        self._community = Throttle(community_readings_per_s)

    def _emit(self, event: str, data: Mapping[str, Any], room: str) -> None:
        self._socketio.emit(event, dict(data), to=room)

    def emit_reading(self, reading: Mapping[str, Any]) -> bool:
        """Push a reading payload to its household's room (and the community's), thinned; False when dropped."""
        room = HOUSEHOLD_PREFIX + reading["household"]  # EIP-55 already (payloads.reading_payload)
        if not self._per_household.allow(room):
            return False
        self._emit("reading", reading, room)
        if self._community.allow(COMMUNITY_ROOM):
            self._emit("reading", reading, COMMUNITY_ROOM)
        return True

    def emit_interval_settled(self, interval: Mapping[str, Any]) -> None:
        """Tell everyone an interval settled."""
        self._emit("interval_settled", interval, COMMUNITY_ROOM)

    def emit_fill(self, household: str, fill: Mapping[str, Any]) -> None:
        """Tell a household one of its orders (or auto orders) was filled."""
        self._emit("fill", fill, household_room(household))

    def emit_order_book(self, book: Mapping[str, Any]) -> None:
        """Push the order book after it changed."""
        self._emit("order_book", book, COMMUNITY_ROOM)

    def emit_forecast(self, forecast: Mapping[str, Any], household: str | None = None) -> None:
        """Push a new forecast: a household's to its room, the community's to everyone."""
        self._emit("forecast", forecast, COMMUNITY_ROOM if household is None else household_room(household))

    def emit_bridge_status(self, status: Mapping[str, Any]) -> None:
        """Tell a household what its meter's bridge reported (payloads.bridge_status_payload)."""
        self._emit("bridge_status", status, household_room(status["household"]))

    def emit_rejection(self, rejection: Mapping[str, Any]) -> None:
        """Tell the admin the oracle rejected a message."""
        self._emit("rejection", rejection, ADMIN_ROOM)
