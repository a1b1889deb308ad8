"""The oracle process's live pushes reach browsers through Redis: readings and
rejections from a real ingest commit, settlements and fills from indexed events."""

from __future__ import annotations

import time

from web_helpers import REDIS_URL, signed_in_socket

from backend.db.session import session_factory
from backend.meters.simulator import payload, topic
from backend.oracle.ingest import Ingester, Message
from backend.oracle.pushes import live_pushers
from backend.oracle.registry_cache import RegistryCache
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading

COMMUNITY = "pushes"


def _wait_for(received: list, event: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [data for name, data in received if name == event]
        if found:
            return found
        time.sleep(0.05)
    return []


def test_stored_readings_and_rejections_reach_the_right_rooms(redis_server, community, migrated_engine):
    base_url, channel = redis_server
    alice, alice_heard = signed_in_socket(base_url, community.alice)
    admin, admin_heard = signed_in_socket(base_url, community.admin)
    try:
        domain = MeterDomain(community.deployment.chain_id, community.deployment.address("CommunityRegistry"))
        registry = RegistryCache(community.web3, community.deployment)
        ingester = Ingester(session_factory(migrated_engine), domain, COMMUNITY, registry.lookup)
        meter = community.meters[community.alice.address]
        now = int(time.time())
        honest = sign_reading(MeterReading(meter.address, 1, now - 5, 10, 20, 300), domain, meter.key)
        forged = sign_reading(MeterReading(meter.address, 2, now, 11, 21, 300), domain, community.bob.key)
        messages = [
            Message(topic(COMMUNITY, meter.address), payload(signed), time.time()) for signed in (honest, forged)
        ]
        outcomes = ingester.process(messages)
        assert [o.status for o in outcomes] == ["stored", "rejected"]

        reading_pusher, _ = live_pushers(
            REDIS_URL, channel, 2.0, session_factory(migrated_engine), 900, registry.lookup
        )
        reading_pusher(messages, outcomes)

        readings = _wait_for(alice_heard, "reading")
        assert readings[0]["household"] == community.alice.address
        assert (readings[0]["seq"], readings[0]["producedWh"], readings[0]["consumedWh"]) == (1, 10, 20)
        rejections = _wait_for(admin_heard, "rejection")
        assert rejections[0]["reason"] == "wrong_signer" and rejections[0]["meter"] == meter.address
        assert not [e for e, _ in alice_heard if e == "rejection"]  # the admin room only
    finally:
        alice.disconnect()
        admin.disconnect()


def test_settled_intervals_fills_and_the_order_book_follow_indexed_events(redis_server, community, migrated_engine):
    base_url, channel = redis_server
    alice, alice_heard = signed_in_socket(base_url, community.alice)
    bob, bob_heard = signed_in_socket(base_url, community.bob)
    try:
        _, pusher = live_pushers(REDIS_URL, channel, 2.0, session_factory(migrated_engine), 900, lambda meter: None)
        record = {
            "blockNumber": 7,
            "blockHash": "0x" + "11" * 32,
            "txHash": "0x" + "22" * 32,
            "logIndex": 0,
            "contract": community.deployment.address("EnergyMarket"),
            "contractName": "EnergyMarket",
        }
        pusher(
            [
                {
                    **record,
                    "event": "Filled",
                    "args": {
                        "intervalId": "5",
                        "orderId": "0",
                        "household": community.alice.address,
                        "side": "1",
                        "amountWh": "40",
                        "value": "4000",
                    },
                },
                {
                    **record,
                    "logIndex": 1,
                    "event": "IntervalSettled",
                    "args": {"intervalId": "5", "clearingPrice": "100000", "tradedWh": "40"},
                },
            ]
        )
        settled = _wait_for(bob_heard, "interval_settled")
        assert settled[0]["intervalId"] == 5 and settled[0]["txHash"] == record["txHash"]  # numbers, not strings
        fill = _wait_for(alice_heard, "fill")[0]
        assert (fill["side"], fill["amountWh"], fill["value"], fill["auto"]) == ("ask", 40, 4000, True)
        assert _wait_for(bob_heard, "order_book")[0]["intervalId"] == int(time.time()) // 900  # the fill moved it
        time.sleep(0.3)
        assert not [e for e, _ in bob_heard if e == "fill"]  # Alice's fill stays in Alice's room
    finally:
        alice.disconnect()
        bob.disconnect()
