"""One live-event contract: the oracle's pushes through Redis and the web app's table feed send the same bytes.

Each case stores rows as the oracle and the indexer do (a real ingest commit;
chain events with the indexer's argument encoding), then runs both producers
over them:

  oracle  ReadingPusher on the ingest's (messages, outcomes), EventPusher on the
          indexer's records of the stored events, StatusPusher on the bridge
          statuses just stored (backend/oracle/pushes.py)
  web     LiveFeed following the same tables, emitting through the app's own
          SocketIO (backend/web/live_feed.py)

Both write to the Socket.IO message queue in Redis; a subscriber captures
what each published (event, room, payload JSON), and the two must be equal.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
import redis
from web_helpers import REDIS_URL

from backend.chain.indexer import event_record, json_value
from backend.db.models import ChainEvent
from backend.db.session import session_factory
from backend.meters.simulator import payload, topic
from backend.oracle.bridge_status import BridgeStatusStore
from backend.oracle.ingest import Ingester, Message
from backend.oracle.pushes import EventPusher, ReadingPusher, StatusPusher
from backend.oracle.registry_cache import RegistryCache
from backend.protocol.bridge_status import BridgeStatus, encode_bridge_status
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading
from backend.protocol.topics import status_topic
from backend.readmodel.emitter import LiveEmitter
from backend.readmodel.publish import LivePublisher
from backend.web.app import socketio_of
from backend.web.live_feed import LiveFeed

COMMUNITY = "producers"
INTERVAL_S = 900
NOW_S = 1_800_000_123  # both producers' clock: the order book is for the same interval
COMMUNITY_READINGS_PER_S = 0.01  # the community room gets each producer's first reading only, whatever the timing
ASK, BID = 1, 0


def _events(community, seller: str, buyer: str) -> list[tuple[str, dict]]:
    """A resting ask, an auto bid filling part of it, and the interval's settlement, as decoded from the chain."""
    return [
        (
            "OrderPlaced",
            {
                "orderId": 3,
                "owner": seller,
                "side": ASK,
                "limitPrice": 80_000,
                "amountWh": 50,
                "validFrom": 0,
                "validTo": 2**39,
                "escrow": 50,
            },
        ),
        ("Filled", {"intervalId": 7, "orderId": 3, "household": seller, "side": ASK, "amountWh": 20, "value": 1_600}),
        ("Filled", {"intervalId": 7, "orderId": 0, "household": buyer, "side": BID, "amountWh": 20, "value": 1_600}),
        (
            "IntervalSettled",
            {
                "intervalId": 7,
                "readingsRoot": bytes.fromhex("ab" * 32),
                "clearingPrice": 80_000,
                "surplusWh": 20,
                "coveredWh": 20,
                "tradedWh": 20,
                "gridImportWh": 5,
                "chunks": 1,
            },
        ),
    ]


def _store_events(sessions, community, decoded: list[tuple[str, dict]]) -> list[ChainEvent]:
    """Store events as the indexer does (json_value: integers as decimal strings, bytes as 0x hex)."""
    market = community.deployment.address("EnergyMarket")
    with sessions() as session:
        rows = [
            ChainEvent(
                block_number=40,
                block_hash="0x" + "40" * 32,
                tx_hash="0x" + "77" * 32,
                log_index=index,
                contract=market,
                event=name,
                args=json_value(args),
            )
            for index, (name, args) in enumerate(decoded)
        ]
        session.add_all(rows)
        session.commit()
    return rows


def _ingest(sessions, community) -> tuple[list[Message], list, RegistryCache]:
    """Commit two honest readings of Alice's meter, one of Bob's, and a forgery, through the real ingester."""
    domain = MeterDomain(community.deployment.chain_id, community.deployment.address("CommunityRegistry"))
    registry = RegistryCache(community.web3, community.deployment)
    ingester = Ingester(sessions, domain, COMMUNITY, registry.lookup)
    alice = community.meters[community.alice.address]
    bob = community.meters[community.bob.address]
    now = int(time.time())
    signed = [
        (alice, sign_reading(MeterReading(alice.address, 1, now - 9, 100, 40, 1_200), domain, alice.key)),
        (alice, sign_reading(MeterReading(alice.address, 2, now - 4, 104, 41, 1_500), domain, alice.key)),
        (bob, sign_reading(MeterReading(bob.address, 1, now - 4, 0, 70, 2_500), domain, bob.key)),
        (bob, sign_reading(MeterReading(bob.address, 2, now - 2, 0, 72, 2_400), domain, alice.key)),  # forged
    ]
    messages = [Message(topic(COMMUNITY, meter.address), payload(reading), now - 1) for meter, reading in signed]
    outcomes = ingester.process(messages)
    assert [o.status for o in outcomes] == ["stored", "stored", "stored", "rejected"]
    return messages, outcomes, registry


def _store_statuses(sessions, community) -> list:
    """Store a bridge status of Alice's and Bob's meters through the oracle's store; the rows as committed."""
    registry = RegistryCache(community.web3, community.deployment)
    store = BridgeStatusStore(sessions, COMMUNITY, registry.lookup)
    now = int(time.time())
    messages = []
    for index, household in enumerate((community.alice.address, community.bob.address)):
        meter = community.meters[household].address
        status = BridgeStatus(
            meter=meter,
            source=("p1", "shelly")[index],
            ts=now - 5,
            last_reading_seq=7,
            last_reading_ts=now - 10,
            queue_depth=index,
            queue_bytes=300 * index,
            counters=(("bad_crc", 2),) if index == 0 else (),
            halted=None,
            broker_error="disconnected: keepalive" if index else None,
        )
        messages.append(Message(status_topic(COMMUNITY, meter), encode_bridge_status(status), now - 1))
    outcomes = store.process(messages)
    assert [o.status for o in outcomes] == ["stored", "stored"]
    return [outcome.row for outcome in outcomes]


class Capture:
    """Subscribe to a Socket.IO channel in Redis; collect what emitters publish on it as (event, room, JSON)."""

    def __init__(self):
        self.channel = f"vatio-test-{secrets.token_hex(4)}"
        self._pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(self.channel)

    def collect(self, settle_s: float = 0.5, timeout_s: float = 10.0) -> list[tuple[str, str, str]]:
        """Read until nothing new came for settle_s."""
        got: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle_s:
            message = self._pubsub.get_message(timeout=0.05)
            if message is None:
                continue
            packet = json.loads(message["data"])
            if packet.get("method") == "emit":
                [data] = packet["data"]  # the emit's arguments: the payload alone
                got.append((packet["event"], packet["room"], json.dumps(data)))
                quiet_since = time.monotonic()
        return got

    def close(self) -> None:
        self._pubsub.close()


def _oracle_pushes(sessions, messages, outcomes, registry, stored_events, statuses) -> list[tuple[str, str, str]]:
    capture = Capture()
    try:
        emitter = LiveEmitter(REDIS_URL, channel=capture.channel, community_readings_per_s=COMMUNITY_READINGS_PER_S)
        publisher = LivePublisher(emitter, sessions, INTERVAL_S, clock=lambda: NOW_S)
        ReadingPusher(publisher, registry.lookup)(messages, outcomes)
        EventPusher(publisher)([event_record(row, "EnergyMarket") for row in stored_events])
        StatusPusher(publisher)(statuses)
        return capture.collect()
    finally:
        capture.close()


def _web_feed(make_app) -> list[tuple[str, str, str]]:
    capture = Capture()
    try:
        app = make_app(redis_url=REDIS_URL, socketio_channel=capture.channel, secret_key="k" * 40)
        feed = LiveFeed.for_app(
            app, LiveEmitter(socketio=socketio_of(app), community_readings_per_s=COMMUNITY_READINGS_PER_S)
        )
        feed.publisher.clock = lambda: NOW_S
        assert feed.step() > 0  # from the first row: everything stored above is new to it
        return capture.collect()
    finally:
        capture.close()


CASES = {
    "readings and rejections": dict(readings=True, events=False, statuses=False),
    "fills, a settled interval and the book": dict(readings=False, events=True, statuses=False),
    "bridge statuses": dict(readings=False, events=False, statuses=True),
    "everything at once": dict(readings=True, events=True, statuses=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_producers_send_the_same_bytes(case, make_app, community, migrated_engine):
    sessions = session_factory(migrated_engine)
    messages, outcomes, registry = ([], [], RegistryCache(community.web3, community.deployment))
    if CASES[case]["readings"]:
        messages, outcomes, registry = _ingest(sessions, community)
    stored_events = []
    if CASES[case]["events"]:
        stored_events = _store_events(
            sessions, community, _events(community, community.alice.address, community.bob.address)
        )

    statuses = _store_statuses(sessions, community) if CASES[case]["statuses"] else []

    from_oracle = _oracle_pushes(sessions, messages, outcomes, registry, stored_events, statuses)
    from_web = _web_feed(make_app)

    assert from_oracle == from_web
    assert from_oracle  # something was pushed at all
    # ... and it is the browser's shape (docs/api.md), not the indexer's records.
    by_event: dict[str, list] = {}
    for event, room, data in from_oracle:
        by_event.setdefault(event, []).append((room, json.loads(data)))
    if CASES[case]["readings"]:
        alice, bob = community.alice.address, community.bob.address
        readings = {(room, data["household"], data["seq"]) for room, data in by_event["reading"]}
        # each household's newest stored reading, to its room; the community room's thinning lets the first through
        assert readings == {(f"household:{alice}", alice, 2), (f"household:{bob}", bob, 1), ("community", alice, 2)}
        bob_meter = community.meters[bob].address
        [(room, rejection)] = by_event["rejection"]
        assert room == "admin" and rejection["detail"]
        assert rejection == {
            "reason": "wrong_signer",
            "meter": bob_meter,
            "topic": topic(COMMUNITY, bob_meter),
            "detail": rejection["detail"],
            "receivedAt": int(messages[3].received_at),
        }
    if CASES[case]["events"]:
        fills = {room: data for room, data in by_event["fill"]}
        assert fills[f"household:{community.alice.address}"] == {
            "intervalId": 7,
            "orderId": 3,
            "auto": False,
            "side": "ask",
            "amountWh": 20,
            "value": 1_600,
            "blockNumber": 40,
            "txHash": "0x" + "77" * 32,
        }
        assert fills[f"household:{community.bob.address}"]["side"] == "bid"
        assert fills[f"household:{community.bob.address}"]["auto"] is True
        [(room, settled)] = by_event["interval_settled"]
        assert room == "community" and settled["readingsRoot"] == "0x" + "ab" * 32 and settled["gridImportWh"] == 5
        [(room, book)] = by_event["order_book"]
        assert book == {
            "intervalId": NOW_S // INTERVAL_S,
            "bids": [],
            "asks": [{"price": 80_000, "amountWh": 30, "orders": 1}],
        }
    if CASES[case]["statuses"]:
        alice, bob = community.alice.address, community.bob.address
        pushed = {room: data for room, data in by_event["bridge_status"]}
        assert set(pushed) == {f"household:{alice}", f"household:{bob}"}  # each to its own household only
        assert pushed[f"household:{alice}"] == {
            "household": alice,
            "meter": community.meters[alice].address,
            "source": "p1",
            "bridge": {
                "problems": {"bad_crc": 2},
                "halted": None,
                "brokerError": None,
                "queueDepth": 0,
                "statusTs": statuses[0].status_ts,
            },
        }
        assert pushed[f"household:{bob}"]["bridge"]["brokerError"] == "disconnected: keepalive"
