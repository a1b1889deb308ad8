"""Simulated meters publish properly signed, monotone readings through the real broker."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from eth_account import Account

from backend.meters.mqtt import MeterPublisher
from backend.meters.simulator import (
    ProfileClock,
    SimulationProgress,
    make_meters,
    profile_clock,
    replay_steps,
    run_simulation,
    topic,
)
from backend.protocol.parser import parse_reading
from backend.protocol.readings import MeterDomain, recover_signer

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
BROKER = "mqtt://127.0.0.1:1883"


def small_clock(households: int, intervals: int = 4, reading_seconds: int = 300) -> ProfileClock:
    starts = np.arange(intervals) * 900 + 1_700_000_100 // 900 * 900
    rng = np.random.default_rng(3)
    return ProfileClock(
        starts,
        rng.integers(0, 400, (intervals, households)),
        rng.integers(0, 400, (intervals, households)),
        900,
        reading_seconds,
    )


def test_registers_accumulate_the_profile_exactly_and_signatures_verify():
    meters = make_meters(3, seed=9)
    clock = small_clock(3)
    published: list[tuple[str, bytes]] = []
    sent = run_simulation(
        meters,
        clock,
        DOMAIN,
        lambda t, p: published.append((t, p)),
        "unit",
        speed=1e9,
        now=lambda: 2e9,
        sleep=lambda s: pytest.fail("must not wait for the past"),
    )
    assert sent == 3 * 4 * 3
    last = {}
    for message_topic, body in published:
        signed = parse_reading(body)
        assert message_topic == topic("unit", signed.reading.meter)
        assert recover_signer(signed, DOMAIN) == signed.reading.meter
        previous = last.get(signed.reading.meter)
        if previous:
            assert signed.reading.seq == previous.seq + 1
            assert signed.reading.produced_wh >= previous.produced_wh
            assert signed.reading.consumed_wh >= previous.consumed_wh
            assert signed.reading.ts > previous.ts
        last[signed.reading.meter] = signed.reading
    for meter in meters:
        reading = last[meter.meter]
        # Registers hold whole Wh: at most one Wh of the profile is still pending.
        assert clock.produced[:, meter.index].sum() - reading.produced_wh in (0, 1)
        assert clock.consumed[:, meter.index].sum() - reading.consumed_wh in (0, 1)


def test_keys_are_deterministic_per_seed():
    assert [m.meter for m in make_meters(2, seed=1)] == [m.meter for m in make_meters(2, seed=1)]
    assert make_meters(1, seed=1)[0].meter != make_meters(1, seed=2)[0].meter
    assert make_meters(1, seed=1)[0].household == Account.from_key(make_meters(1, seed=1)[0].household_key).address


def test_never_publishes_a_reading_before_its_time():
    meters = make_meters(1, seed=1)
    clock = small_clock(1, intervals=1, reading_seconds=900)
    waits = []
    fake_now = float(clock.interval_starts[0])  # the reading is due 900 s from "now"
    run_simulation(
        meters, clock, DOMAIN, lambda t, p: None, "unit", speed=1e9, now=lambda: fake_now, sleep=waits.append
    )
    assert waits and waits[0] == pytest.approx(900, abs=1)


def test_readings_from_real_profiles_cross_the_real_broker():
    community = f"test-{uuid.uuid4().hex[:8]}"
    meters = make_meters(2, seed=4)
    clock = profile_clock(2, start_ts=1_717_200_000, days=1, seed=4, reading_seconds=900)
    received: list[bytes] = []
    done = threading.Event()
    expected = 2 * len(clock.interval_starts)

    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()

    def on_message(client, userdata, message):
        received.append(message.payload)
        if len(received) >= expected:
            done.set()

    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", 1883)
    subscriber.subscribe(f"vatio/{community}/meters/+/readings", qos=1)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        publisher = MeterPublisher(BROKER)
        run_simulation(meters, clock, DOMAIN, publisher.publish, community, speed=1e9)
        publisher.close()
        assert done.wait(20), f"received {len(received)} of {expected}"
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    parsed = [parse_reading(body) for body in received]
    assert {p.reading.meter for p in parsed} == {m.meter for m in meters}
    assert all(recover_signer(p, DOMAIN) == p.reading.meter for p in parsed)
    final = {}
    for p in parsed:
        if p.reading.seq > final.get(p.reading.meter, (0, None))[0]:
            final[p.reading.meter] = (p.reading.seq, p.reading)
    for meter in meters:
        reading = final[meter.meter][1]
        assert clock.consumed[:, meter.index].sum() - reading.consumed_wh in (0, 1)
        assert clock.produced[:, meter.index].sum() - reading.produced_wh in (0, 1)


def test_bad_broker_url_is_refused():
    with pytest.raises(ValueError):
        MeterPublisher("http://127.0.0.1:1883")
    with pytest.raises((ConnectionError, OSError)):
        MeterPublisher("mqtt://127.0.0.1:9")


def test_a_restarted_simulation_continues_registers_and_seq(tmp_path):
    """Stopped halfway (the sleep raises, as Ctrl-C would) and restarted from its
    state file, the meters send exactly what one uninterrupted run sends."""
    from backend.meters.simulator import MeterStateFile

    clock = small_clock(2, intervals=4)
    uninterrupted: list[bytes] = []
    run_simulation(
        make_meters(2, seed=7),
        clock,
        DOMAIN,
        lambda t, p: uninterrupted.append(p),
        "unit",
        speed=1e9,
        now=lambda: 2e9,
        sleep=lambda s: None,
    )

    state = MeterStateFile(tmp_path / "meters.json", every_s=3600)  # only the final, forced save
    first_run: list[bytes] = []

    def publish_until_stopped(topic_name, body):
        if len(first_run) == 10:
            raise KeyboardInterrupt
        first_run.append(body)

    with pytest.raises(KeyboardInterrupt):
        run_simulation(
            make_meters(2, seed=7),
            clock,
            DOMAIN,
            publish_until_stopped,
            "unit",
            speed=1e9,
            now=lambda: 2e9,
            sleep=lambda s: None,
            state_file=state,
        )
    restarted_meters = make_meters(2, seed=7)
    resume_after = state.load(restarted_meters)
    second_run: list[bytes] = []
    run_simulation(
        restarted_meters,
        clock,
        DOMAIN,
        lambda t, p: second_run.append(p),
        "unit",
        speed=1e9,
        now=lambda: 2e9,
        sleep=lambda s: None,
        resume_after_ts=resume_after,
        state_file=state,
    )
    # The step interrupted mid-publish (the 6th: readings 11 and 12) is not sent
    # again: its energy rides on the next reading's cumulative registers, and
    # seq stays strictly increasing; everything else is identical.
    combined = [parse_reading(body).reading for body in first_run + second_run]
    expected = [parse_reading(body).reading for body in uninterrupted]
    assert combined == expected[:10] + expected[12:]


class CountingBar:
    def __init__(self):
        self.updates, self.closed = 0, False

    def update(self, steps: int) -> None:
        assert not self.closed, "the replay bar moved after it closed"
        self.updates += steps

    def close(self) -> None:
        self.closed = True


def test_in_real_time_the_progress_is_one_line_per_interval_not_a_bar():
    """Issue 13 item 11: a bar while the past replays, then one status line per interval (no endless bar, no ETA)."""
    meters = make_meters(2, seed=1)
    clock = small_clock(2, intervals=5, reading_seconds=300)
    start = int(clock.interval_starts[0])
    fake = {"now": float(start + 1805)}  # two intervals in the past, three to come

    def sleep(seconds: float) -> None:
        fake["now"] += seconds

    bar, lines = CountingBar(), []
    report = SimulationProgress(900, 300, len(meters), bar=bar, write=lines.append, now=lambda: fake["now"])
    assert replay_steps(clock, fake["now"]) == 6
    sent = run_simulation(
        meters,
        clock,
        DOMAIN,
        lambda t, p: None,
        "unit",
        speed=1e9,
        now=lambda: fake["now"],
        sleep=sleep,
        progress=report,
    )
    assert sent == 2 * 15
    assert bar.updates == 4 and bar.closed  # the steps more than two readings behind the clock
    assert lines[0].startswith("caught up with the clock at ") and "after 5 steps (10 readings)" in lines[0]
    ended = [line for line in lines[1:] if "ended" in line]
    assert len(lines) == 5 and len(ended) == 4  # the intervals ending at +1800, +2700, +3600 and +4500 s
    assert f"interval #{start // 900 + 4}" in lines[-1] and "30 readings published" in lines[-1]
