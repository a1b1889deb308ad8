"""Socket.IO rooms: who hears what, joins that are refused, emits from another process through Redis."""

from __future__ import annotations

import secrets
import time

from web_helpers import REDIS_URL, sign_in, signed_in_socket

from backend.readmodel.emitter import LiveEmitter, Throttle, household_room
from backend.web.app import socketio_of


def _events(client, name: str) -> list:
    """Return the payloads of `name` events received (drains everything received so far)."""
    return [packet["args"][0] for packet in client.get_received() if packet["name"] == name]


def _by_name(client) -> dict[str, list]:
    received: dict[str, list] = {}
    for packet in client.get_received():
        received.setdefault(packet["name"], []).append(packet["args"][0])
    return received


def _connect(app, community_account=None):
    http = app.test_client()
    if community_account is not None:
        assert sign_in(http, community_account).status_code == 200
    return socketio_of(app).test_client(app, flask_test_client=http)


def test_rooms_follow_the_signed_in_roles(app, community):
    anonymous, alice, admin = _connect(app), _connect(app, community.alice), _connect(app, community.admin)
    assert _events(anonymous, "welcome")[0]["rooms"] == ["community"]
    assert _events(alice, "welcome")[0]["rooms"] == ["community", household_room(community.alice.address)]
    assert _events(admin, "welcome")[0]["rooms"] == ["community", "admin"]


def test_a_household_hears_its_own_room_only(app, community):
    alice, bob, admin = _connect(app, community.alice), _connect(app, community.bob), _connect(app, community.admin)
    for client in (alice, bob, admin):
        client.get_received()
    live = LiveEmitter(socketio=socketio_of(app))
    live.emit_fill(community.alice.address.lower(), {"intervalId": 7, "amountWh": 60})
    live.emit_rejection({"reason": "bad_signature"})
    live.emit_interval_settled({"intervalId": 7})
    heard = {name: _by_name(client) for name, client in (("alice", alice), ("bob", bob), ("admin", admin))}
    assert heard["alice"] == {"fill": [{"intervalId": 7, "amountWh": 60}], "interval_settled": [{"intervalId": 7}]}
    assert heard["bob"] == {"interval_settled": [{"intervalId": 7}]}
    assert heard["admin"] == {"rejection": [{"reason": "bad_signature"}], "interval_settled": [{"intervalId": 7}]}


def test_joining_another_households_room_is_refused(app, community):
    bob = _connect(app, community.bob)
    anonymous = _connect(app)
    alice_room = household_room(community.alice.address)
    assert bob.emit("join", {"room": alice_room}, callback=True)["ok"] is False
    assert bob.emit("join", {"room": "admin"}, callback=True)["error"]["code"] == "forbidden"
    assert anonymous.emit("join", {"room": household_room(community.bob.address)}, callback=True)["ok"] is False
    assert anonymous.emit("join", {"room": "household:0xnope"}, callback=True)["ok"] is False
    assert anonymous.emit("join", "community", callback=True)["error"]["code"] == "invalid_room"
    bob.get_received()
    LiveEmitter(socketio=socketio_of(app)).emit_fill(community.alice.address, {"amountWh": 1})
    assert _events(bob, "fill") == []
    admin = _connect(app, community.admin)
    assert admin.emit("join", {"room": alice_room.lower()}, callback=True) == {"ok": True, "room": alice_room}


def test_readings_are_thinned_per_household_room(app, community):
    alice = _connect(app, community.alice)
    alice.get_received()
    live = LiveEmitter(socketio=socketio_of(app), readings_per_s=2)
    sent = [live.emit_reading({"household": community.alice.address, "seq": seq, "powerW": 5}) for seq in range(5)]
    assert sent == [True, False, False, False, False]
    time.sleep(0.55)
    assert live.emit_reading({"household": community.alice.address, "seq": 9, "powerW": 5})
    readings = _events(alice, "reading")
    # each passing reading reaches Alice twice: in her household room and in the community room
    assert [r["seq"] for r in readings] == [0, 0, 9, 9]
    assert {r["household"] for r in readings} == {community.alice.address}


def test_throttle_is_per_key():
    clock = [0.0]
    throttle = Throttle(2.0, clock=lambda: clock[0])
    assert throttle.allow("a") and throttle.allow("b") and not throttle.allow("a")
    clock[0] = 0.5
    assert throttle.allow("a")


def test_an_emit_from_another_process_reaches_clients_through_redis(redis_server, community):
    base_url, channel = redis_server
    alice, alice_heard = signed_in_socket(base_url, community.alice)
    bob, bob_heard = signed_in_socket(base_url, community.bob)
    try:
        emitter = LiveEmitter(REDIS_URL, channel=channel)  # write-only, as the oracle and the indexer use it
        emitter.emit_order_book({"bids": [], "asks": [{"price": 100_000, "amountWh": 5, "orders": 1}]})
        emitter.emit_fill(community.alice.address, {"intervalId": 1, "amountWh": 5})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len([e for e, _ in alice_heard if e != "welcome"]) < 2:
            time.sleep(0.05)
        time.sleep(0.3)  # anything Bob should not get would have arrived by now
        assert [(e, d) for e, d in alice_heard if e != "welcome"] == [
            ("order_book", {"bids": [], "asks": [{"price": 100_000, "amountWh": 5, "orders": 1}]}),
            ("fill", {"intervalId": 1, "amountWh": 5}),
        ]
        assert [e for e, _ in bob_heard if e != "welcome"] == ["order_book"]
        assert dict(alice_heard)["welcome"]["address"] == community.alice.address
    finally:
        alice.disconnect()
        bob.disconnect()


def test_sessions_and_nonces_live_in_redis_for_several_workers(make_app, community):
    settings = dict(redis_url=REDIS_URL, secret_key="s" * 40, redis_prefix=f"vatio:test:{secrets.token_hex(4)}:")
    first, second = make_app(**settings), make_app(**settings)  # two workers sharing Redis and the key
    browser = first.test_client()
    assert sign_in(browser, community.alice).status_code == 200
    cookie = browser.get_cookie("vatio_session").value
    other_worker = second.test_client()
    other_worker.set_cookie("vatio_session", cookie)
    assert other_worker.get("/api/auth/me").get_json()["address"] == community.alice.address
    other_worker.post("/api/auth/logout")
    assert browser.get("/api/auth/me").get_json() == {"signedIn": False}  # logged out on every worker
