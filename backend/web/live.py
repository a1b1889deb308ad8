"""Live pushes over Socket.IO, the server side: this app's SocketIO and who joins which room.

A client joins 'community' on connect, plus its own household room and
'admin' when its session cookie says so. Sign in over HTTP first, then
(re)connect: the socket reads the session from its handshake.

The rooms, the emitter and the events' payloads are the read model's
(backend/readmodel): the oracle process emits through the Redis message
queue, and without Redis this app follows the tables itself (live_feed.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_socketio import SocketIO, join_room, leave_room

from backend.readmodel.emitter import ADMIN_ROOM, COMMUNITY_ROOM, HOUSEHOLD_PREFIX, household_room
from backend.web.config import Config

__all__ = ["create_socketio"]


def create_socketio(app: Flask, config: Config) -> SocketIO:
    """Create this app's SocketIO (through Redis when configured), with its handlers."""
    socketio = SocketIO()
    _register_handlers(socketio)
    production = _under_gevent()
    socketio.init_app(
        app,
        message_queue=config.redis_url,
        channel=config.socketio_channel,
        async_mode="gevent" if production else "threading",
        # The production server (gunicorn's gevent workers) takes WebSocket only: a session is then one connection
        # to one worker, which is what Flask-SocketIO's several-workers deployment needs without sticky sessions.
        transports=["websocket"] if production else ["polling", "websocket"],
        cors_allowed_origins=list(config.cors_origins) or None,
    )
    if not production:
        app.wsgi_app = DroppedWebSocketQuiet(app.wsgi_app)
    return socketio


class DroppedWebSocketQuiet:
    """Werkzeug's server logs a traceback for any error but a ConnectionError, its "the client went away".

    A browser that closes a tab while its Socket.IO connection is being upgraded
    to WebSocket ends in Engine.IO as a bare OSError (simple-websocket's
    ConnectionClosed, re-raised): for a WebSocket request that is the same
    dropped connection, so it is passed on as one and Werkzeug logs no traceback.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except ConnectionError:
            raise
        except OSError as error:
            if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
                raise
            raise ConnectionError("the client closed its WebSocket during the upgrade") from error


def _under_gevent() -> bool:
    """True in a gunicorn gevent worker, which patched the standard library before the app was built."""
    import sys

    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


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
            household = household_room(room[len(HOUSEHOLD_PREFIX) :])[len(HOUSEHOLD_PREFIX) :]
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
        socketio.emit("welcome", {"address": None if user is None else user.address, "rooms": rooms}, to=_request_sid())

    @socketio.on("join")
    def on_join(data: Any) -> dict:
        room = data.get("room") if isinstance(data, Mapping) else None
        if not isinstance(room, str) or len(room) > 64:
            return {"ok": False, "error": {"code": "invalid_room", "message": "send {room: <name>}"}}
        if not _may_join(current_user(), room):
            return {"ok": False, "error": {"code": "forbidden", "message": f"you may not join {room}"}}
        if room.startswith(HOUSEHOLD_PREFIX):
            room = household_room(room[len(HOUSEHOLD_PREFIX) :])
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
