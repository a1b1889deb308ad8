"""Live pushes over Socket.IO: rooms, the connection handlers, and an emitter for other processes.

Rooms:
  community            everyone; readings (thinned), settled intervals, the order book, forecasts
  household:<address>  only that household signed in (or the admin); its readings, fills, forecasts
  admin                only the registry's admin; the oracle's rejections

A client joins 'community' on connect, plus its own household room and
'admin' when its session cookie says so. Sign in over HTTP first, then
(re)connect: the socket reads the session from its handshake.

The oracle and the indexer run in other processes. They emit through the
Redis message queue with a write-only SocketIO (`LiveEmitter(redis_url)`),
and every web worker subscribed to the same queue and channel delivers the
event. Without Redis, only code inside the web process can emit
(`LiveEmitter(socketio=app.extensions["socketio"])`).

Readings are thinned at the emitter, per household room (at most
`readings_per_s` per second) and for the community room: registers are
cumulative, so a skipped reading loses nothing the next one does not carry.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_socketio import SocketIO, join_room, leave_room

from backend.web.config import Config

__all__ = [
    "ADMIN_ROOM",
    "COMMUNITY_ROOM",
    "LiveEmitter",
    "Throttle",
    "create_socketio",
    "emit_fill",
    "emit_forecast",
    "emit_interval_settled",
    "emit_order_book",
    "emit_reading",
    "emit_rejection",
    "household_room",
    "set_default_emitter",
]

log = logging.getLogger(__name__)

COMMUNITY_ROOM = "community"
ADMIN_ROOM = "admin"
HOUSEHOLD_PREFIX = "household:"


def household_room(address: str) -> str:
    """Return the room of one household (EIP-55 address)."""
    from eth_utils import to_checksum_address

    return HOUSEHOLD_PREFIX + to_checksum_address(address)


# --- the server side: handlers bound to one app's SocketIO ---


def create_socketio(app: Flask, config: Config) -> SocketIO:
    """Create this app's SocketIO (through Redis when configured), with its handlers."""
    socketio = SocketIO()
    _register_handlers(socketio)
    socketio.init_app(
        app,
        message_queue=config.redis_url,
        channel=config.socketio_channel,
        async_mode="threading",
        cors_allowed_origins=list(config.cors_origins) or None,
    )
    return socketio


def _rooms_for(user) -> list[str]:
    rooms = [COMMUNITY_ROOM]
    if user is not None:
        if user.roles.household:
            rooms.append(household_room(user.address))
        if user.roles.admin:
            rooms.append(ADMIN_ROOM)
    return rooms


def _may_join(user, room: str) -> bool:
    if room == COMMUNITY_ROOM:
        return True
    if user is None:
        return False
    if room == ADMIN_ROOM:
        return user.roles.admin
    if room.startswith(HOUSEHOLD_PREFIX):
        try:
            household = household_room(room[len(HOUSEHOLD_PREFIX):])[len(HOUSEHOLD_PREFIX):]
        except ValueError:
            return False
        return user.may_read(household)
    return False


def _register_handlers(socketio: SocketIO) -> None:
    from backend.web.access import current_user

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        user = current_user()
        rooms = _rooms_for(user)
        for room in rooms:
            join_room(room)
        socketio.emit("welcome", {"address": None if user is None else user.address, "rooms": rooms},
                      to=_request_sid())

    @socketio.on("join")
    def on_join(data: Any) -> dict:
        room = data.get("room") if isinstance(data, Mapping) else None
        if not isinstance(room, str) or len(room) > 64:
            return {"ok": False, "error": {"code": "invalid_room", "message": "send {room: <name>}"}}
        if not _may_join(current_user(), room):
            return {"ok": False, "error": {"code": "forbidden", "message": f"you may not join {room}"}}
        if room.startswith(HOUSEHOLD_PREFIX):
            room = household_room(room[len(HOUSEHOLD_PREFIX):])
        join_room(room)
        return {"ok": True, "room": room}

    @socketio.on("leave")
    def on_leave(data: Any) -> dict:
        room = data.get("room") if isinstance(data, Mapping) else None
        if not isinstance(room, str):
            return {"ok": False, "error": {"code": "invalid_room", "message": "send {room: <name>}"}}
        leave_room(room)
        return {"ok": True, "room": room}


def _request_sid() -> str:
    from flask import request

    return request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO


# --- the emitting side: usable from any process ---


class Throttle:
    """At most `rate_per_s` passes per key per second; the rest are dropped."""

    def __init__(self, rate_per_s: float, clock=time.monotonic):
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
    """Emit the live events to the rooms, through Redis or an in-process SocketIO."""

    def __init__(self, message_queue: str | None = None, *, channel: str = "vatio",
                 socketio: SocketIO | None = None, readings_per_s: float = 2.0,
                 community_readings_per_s: float = 20.0):
        if socketio is None:
            if message_queue is None:
                raise ValueError("give a message queue URL (another process) or the app's SocketIO (same process)")
            socketio = SocketIO(message_queue=message_queue, channel=channel)  # no app: write-only
        self._socketio = socketio
        self._per_household = Throttle(readings_per_s)
        self._community = Throttle(community_readings_per_s)

    def _emit(self, event: str, data: Mapping[str, Any], room: str) -> None:
        self._socketio.emit(event, dict(data), to=room)

    def emit_reading(self, household: str, reading: Mapping[str, Any]) -> bool:
        """Push a stored reading (MQTT field names) to its household room, thinned; False when dropped."""
        room = household_room(household)
        if not self._per_household.allow(room):
            return False
        payload = {"household": room[len(HOUSEHOLD_PREFIX):], **reading}
        self._emit("reading", payload, room)
        if self._community.allow(COMMUNITY_ROOM):
            self._emit("reading", payload, COMMUNITY_ROOM)
        return True

    def emit_interval_settled(self, interval: Mapping[str, Any]) -> None:
        """Tell everyone an interval settled (intervalId, clearingPrice, volumes, txHash)."""
        self._emit("interval_settled", interval, COMMUNITY_ROOM)

    def emit_fill(self, household: str, fill: Mapping[str, Any]) -> None:
        """Tell a household one of its orders (or auto orders) was filled."""
        self._emit("fill", fill, household_room(household))

    def emit_order_book(self, book: Mapping[str, Any]) -> None:
        """Push the order book after it changed (bids, asks by price level)."""
        self._emit("order_book", book, COMMUNITY_ROOM)

    def emit_forecast(self, forecast: Mapping[str, Any], household: str | None = None) -> None:
        """Push a new forecast: a household's to its room, the community's to everyone."""
        self._emit("forecast", forecast, COMMUNITY_ROOM if household is None else household_room(household))

    def emit_rejection(self, rejection: Mapping[str, Any]) -> None:
        """Tell the admin the oracle rejected a message (reason, meter, topic)."""
        self._emit("rejection", rejection, ADMIN_ROOM)


_default: LiveEmitter | None = None
_default_lock = threading.Lock()


def set_default_emitter(emitter: LiveEmitter | None) -> None:
    """Choose the emitter the module-level emit_* functions use."""
    global _default
    with _default_lock:
        _default = emitter


def default_emitter() -> LiveEmitter | None:
    """Return the chosen emitter, else one on $VATIO_REDIS_URL, else None (nothing to emit to)."""
    global _default
    with _default_lock:
        if _default is None and (url := os.environ.get("VATIO_REDIS_URL", "").strip()):
            _default = LiveEmitter(url, channel=os.environ.get("VATIO_SOCKETIO_CHANNEL", "vatio"))
        return _default


def _with_default(method: str, *args: Any, **kwargs: Any) -> Any:
    emitter = default_emitter()
    if emitter is None:
        log.debug("no live emitter configured: %s dropped", method)
        return None
    return getattr(emitter, method)(*args, **kwargs)


def emit_reading(household: str, reading: Mapping[str, Any]) -> bool | None:
    return _with_default("emit_reading", household, reading)


def emit_interval_settled(interval: Mapping[str, Any]) -> None:
    _with_default("emit_interval_settled", interval)


def emit_fill(household: str, fill: Mapping[str, Any]) -> None:
    _with_default("emit_fill", household, fill)


def emit_order_book(book: Mapping[str, Any]) -> None:
    _with_default("emit_order_book", book)


def emit_forecast(forecast: Mapping[str, Any], household: str | None = None) -> None:
    _with_default("emit_forecast", forecast, household)


def emit_rejection(rejection: Mapping[str, Any]) -> None:
    _with_default("emit_rejection", rejection)
