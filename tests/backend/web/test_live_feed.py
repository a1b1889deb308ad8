"""The live feed follows the oracle's tables and pushes what is new (a web app without Redis)."""

from __future__ import annotations

from web_helpers import add_event, add_meter, add_reading, sign_in

from backend.db.models import Rejection
from backend.readmodel.emitter import LiveEmitter
from backend.web.app import socketio_of
from backend.web.live_feed import LiveFeed


def _connect(app, account=None):
    http = app.test_client()
    if account is not None:
        assert sign_in(http, account).status_code == 200
    client = socketio_of(app).test_client(app, flask_test_client=http)
    client.get_received()
    return client


def _heard(client) -> dict[str, list]:
    received: dict[str, list] = {}
    for packet in client.get_received():
        received.setdefault(packet["name"], []).append(packet["args"][0])
    return received


def test_new_rows_are_pushed_once_and_history_is_not_replayed(app, community, sessions):
    alice, meter = community.alice.address, community.meters[community.alice.address].address
    with sessions() as session:
        add_meter(session, alice, meter)
        add_reading(session, alice, meter, 1, 1_000, 10, 20)  # before the feed started: not pushed
        session.commit()
    feed = LiveFeed.for_app(app, LiveEmitter(socketio=socketio_of(app), readings_per_s=1000))
    feed.start_from_now()
    anonymous, household, admin = _connect(app), _connect(app, community.alice), _connect(app, community.admin)

    with sessions() as session:
        add_reading(session, alice, meter, 2, 1_060, 15, 22, power_w=300)
        add_reading(session, alice, meter, 3, 1_120, 18, 30, power_w=480)
        session.add(
            Rejection(
                received_at=1_121,
                topic="vatio/x/meters/y/readings",
                meter=None,
                reason="bad_json",
                detail="not JSON",
                payload=b"{",
                payload_size=1,
            )
        )
        add_event(
            session,
            "OrderPlaced",
            {
                "orderId": 1,
                "owner": alice,
                "side": 1,
                "limitPrice": 80_000,
                "amountWh": 50,
                "validFrom": 0,
                "validTo": 2**39,
                "escrow": 0,
            },
            block=5,
            tx=1,
            log_index=0,
        )
        add_event(
            session,
            "Filled",
            {"intervalId": 7, "orderId": 1, "household": alice, "side": 1, "amountWh": 20, "value": "1600"},
            block=6,
            tx=2,
            log_index=0,
        )
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": 7,
                "readingsRoot": "0x" + "ab" * 32,
                "clearingPrice": 80_000,
                "surplusWh": 20,
                "coveredWh": 20,
                "tradedWh": 20,
                "gridImportWh": 0,
                "chunks": 1,
            },
            block=6,
            tx=2,
            log_index=1,
        )
        session.commit()
    assert feed.step() == 6

    heard = {
        name: _heard(client) for name, client in (("anonymous", anonymous), ("alice", household), ("admin", admin))
    }
    newest = {
        "household": alice,
        "meter": meter,
        "seq": 3,
        "ts": 1_120,
        "producedWh": 18,
        "consumedWh": 30,
        "powerW": 480,
    }
    assert heard["anonymous"]["reading"] == [newest]  # a burst sends each household's newest reading
    assert heard["anonymous"]["interval_settled"][0]["clearingPrice"] == 80_000
    assert heard["anonymous"]["order_book"][-1]["asks"] == [{"price": 80_000, "amountWh": 30, "orders": 1}]
    assert "fill" not in heard["anonymous"] and "rejection" not in heard["anonymous"]
    assert heard["alice"]["fill"] == [
        {
            "intervalId": 7,
            "orderId": 1,
            "auto": False,
            "side": "ask",
            "amountWh": 20,
            "value": 1600,
            "blockNumber": 6,
            "txHash": "0x" + f"{2:064x}",
        }
    ]
    assert heard["admin"]["rejection"] == [
        {
            "reason": "bad_json",
            "meter": None,
            "topic": "vatio/x/meters/y/readings",
            "detail": "not JSON",
            "receivedAt": 1_121,
        }
    ]

    assert feed.step() == 0  # nothing new: nothing pushed again
    assert _heard(anonymous) == {}


def test_create_app_starts_the_feed_only_for_a_served_app_without_redis(make_app, community):
    from web_helpers import REDIS_URL

    tested = make_app()
    tested.test_client().get("/config.json")
    assert "vatio_live_feed" not in tested.extensions  # app.testing: tests drive the feed themselves

    served = make_app()
    served.testing = False
    served.test_client().get("/config.json")
    feed = served.extensions["vatio_live_feed"]
    assert feed["thread"].is_alive()
    feed["stop"].set()
    feed["thread"].join(5)

    with_queue = make_app(redis_url=REDIS_URL, secret_key="k" * 40)
    with_queue.testing = False
    with_queue.test_client().get("/config.json")
    assert "vatio_live_feed" not in with_queue.extensions  # the oracle pushes through Redis itself
