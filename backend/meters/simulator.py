"""Simulated smart meters: real household profiles, signed like real meters.

Each simulated household has a wallet key and a meter key (both derived from
the seed, so a restarted simulation is the same community). Its meter keeps
cumulative registers fed by the 15-minute profiles of
backend.simulation.profiles (Sceaux load, pvlib PV) and publishes an
EIP-712-signed reading every `reading_seconds` over MQTT, exactly as
docs/mqtt.md describes for real meters.

Faster than real time means replaying the past: the simulated clock starts
`days` before now and runs `speed` times faster until it reaches the present
(readings from the future would rightly be rejected by the oracle), then
follows the wall clock.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_account import Account
from eth_utils import keccak

from backend.protocol.parser import encode_reading
from backend.protocol.readings import MeterDomain, MeterReading, SignedReading, sign_reading
from backend.protocol.topics import readings_topic


@dataclass
class SimulatedMeter:
    index: int
    household_key: str
    meter_key: str
    produced_wh: int = 0
    consumed_wh: int = 0
    seq: int = 0
    # Fractions of a Wh not yet on the registers (registers are whole Wh).
    _produced_rest: float = field(default=0.0, repr=False)
    _consumed_rest: float = field(default=0.0, repr=False)

    @property
    def household(self) -> str:
        return Account.from_key(self.household_key).address

    @property
    def meter(self) -> str:
        return Account.from_key(self.meter_key).address

    def advance(
        self, produced_wh: float, consumed_wh: float, ts: int, seconds: int, domain: MeterDomain
    ) -> SignedReading:
        """Adds energy to the registers and returns the next signed reading."""
        self._produced_rest += produced_wh
        self._consumed_rest += consumed_wh
        produced_step, consumed_step = int(self._produced_rest), int(self._consumed_rest)
        self._produced_rest -= produced_step
        self._consumed_rest -= consumed_step
        self.produced_wh += produced_step
        self.consumed_wh += consumed_step
        self.seq += 1
        power_w = round(abs(produced_wh - consumed_wh) * 3600 / seconds)
        reading = MeterReading(
            meter=self.meter,
            seq=self.seq,
            ts=ts,
            produced_wh=self.produced_wh,
            consumed_wh=self.consumed_wh,
            power_w=power_w,
        )
        return sign_reading(reading, domain, self.meter_key)

    def state(self) -> dict:
        """What a real meter keeps in non-volatile memory across a power cut."""
        return {
            "seq": self.seq,
            "producedWh": self.produced_wh,
            "consumedWh": self.consumed_wh,
            "producedRest": self._produced_rest,
            "consumedRest": self._consumed_rest,
        }

    def restore(self, state: dict) -> None:
        self.seq, self.produced_wh, self.consumed_wh = state["seq"], state["producedWh"], state["consumedWh"]
        self._produced_rest, self._consumed_rest = state["producedRest"], state["consumedRest"]


class MeterStateFile:
    """The simulated meters' registers and sequence numbers, saved so that a
    restarted simulation (a restarted demo) continues where it stopped
    instead of sending seq 1 again, which the oracle would rightly reject.

    The file may lag what was published (it is saved at most every
    `every_s`); the steps replayed after a restart then produce byte-identical
    signed readings (same registers, same ts, deterministic signatures), which
    the oracle acknowledges as duplicates."""

    def __init__(self, path: Path, every_s: float = 1.0):
        self.path = path
        self.every_s = every_s
        self._saved_at = 0.0

    def load(self, meters: list[SimulatedMeter]) -> int | None:
        """Restores the meters it knows; returns the ts of the last saved step."""
        if not self.path.exists():
            return None
        data = json.loads(self.path.read_text())
        for meter in meters:
            if meter.meter in data["meters"]:
                meter.restore(data["meters"][meter.meter])
        return data["lastTs"]

    def save(self, meters: list[SimulatedMeter], last_ts: int, force: bool = False) -> None:
        if not force and time.monotonic() - self._saved_at < self.every_s:
            return
        self._saved_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"lastTs": last_ts, "meters": {m.meter: m.state() for m in meters}}))
        os.replace(temporary, self.path)


def simulated_keys(seed: int, index: int) -> tuple[str, str]:
    """(household key, meter key) for household `index` of a simulation seed."""
    household = "0x" + keccak(text=f"vatio simulated household {seed} {index}").hex()
    meter = "0x" + keccak(text=f"vatio simulated meter {seed} {index}").hex()
    return household, meter


def make_meters(households: int, seed: int) -> list[SimulatedMeter]:
    return [SimulatedMeter(i, *simulated_keys(seed, i)) for i in range(households)]


def payload(signed: SignedReading) -> bytes:
    """The MQTT payload (docs/mqtt.md)."""
    return encode_reading(signed)


def topic(community: str, meter: str) -> str:
    """The topic the meter publishes on (docs/mqtt.md)."""
    return readings_topic(community, meter)


@dataclass
class ProfileClock:
    """The simulated time of each reading and the energy each meter adds by then."""

    interval_starts: np.ndarray  # unix seconds of each profile interval
    produced: np.ndarray  # Wh, shape (intervals, households)
    consumed: np.ndarray
    interval_seconds: int
    reading_seconds: int

    def steps(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(reading ts, Wh produced per meter, Wh consumed per meter) since the last reading."""
        per_interval = self.interval_seconds // self.reading_seconds
        for row, start in enumerate(self.interval_starts):
            produced = self.produced[row] / per_interval
            consumed = self.consumed[row] / per_interval
            for step in range(1, per_interval + 1):
                yield int(start) + step * self.reading_seconds, produced, consumed


def profile_clock(
    households: int, start_ts: int, days: int, seed: int, interval_seconds: int = 900, reading_seconds: int = 60
) -> ProfileClock:
    from backend.simulation.profiles import community_profiles  # pandas and pvlib: only when simulating

    if interval_seconds % reading_seconds:
        raise ValueError("reading_seconds must divide the interval")
    start = time.strftime("%Y-%m-%d", time.gmtime(start_ts))
    frame = community_profiles(households, start=start, days=days, seed=seed, interval_seconds=interval_seconds)
    starts = frame["interval_id"].unique() * interval_seconds
    produced = frame["produced_wh"].to_numpy().reshape(len(starts), households)
    consumed = frame["consumed_wh"].to_numpy().reshape(len(starts), households)
    return ProfileClock(starts, produced, consumed, interval_seconds, reading_seconds)


class SimulationProgress:
    """What the simulator says as it goes: a progress bar while it replays the past, one line per interval after.

    In real time a bar's rate and time left mean nothing (the pace is the
    clock's and there is no end), so once the readings are due no earlier
    than the clock, the bar closes and a status line is written as each
    interval ends.
    """

    def __init__(
        self,
        interval_seconds: int,
        reading_seconds: int,
        meters: int,
        bar=None,
        write: Callable[[str], None] = print,
        now: Callable[[], float] = time.time,
    ):
        self.interval_seconds = interval_seconds
        self.reading_seconds = reading_seconds
        self.meters = meters
        self.bar = bar  # tqdm-like (update, close), sized to the replayed steps; None: no bar
        self.write = write
        self.now = now
        self.following = False
        self._interval: int | None = None

    def __call__(self, step: int, ts: int, sent: int) -> None:
        if not self.following and self.now() - ts > 2 * self.reading_seconds:  # still replaying the past
            if self.bar is not None:
                self.bar.update(1)
            return
        interval = ts // self.interval_seconds
        if not self.following:
            self.following = True
            self.close()
            self.write(
                f"caught up with the clock at {_utc(ts)} UTC after {step} steps ({sent} readings); "
                f"now following it, one line per interval"
            )
        elif ts % self.interval_seconds == 0 and interval != self._interval:
            self.write(
                f"{_utc(ts)} UTC: interval #{interval - 1} ended; {self.meters} meters, {sent} readings published"
            )
        self._interval = interval

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def replay_steps(clock: ProfileClock, now_ts: float, resume_after_ts: int | None = None) -> int:
    """How many steps lie in the past (after `resume_after_ts`): the replay's length, for its progress bar."""
    after = -1 if resume_after_ts is None else resume_after_ts
    return sum(1 for ts, _, _ in clock.steps() if after < ts <= now_ts)


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def run_simulation(
    meters: list[SimulatedMeter],
    clock: ProfileClock,
    domain: MeterDomain,
    publish: Callable[[str, bytes], None],
    community: str,
    speed: float = 1.0,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int, int], None] | None = None,
    follow: bool = True,
    resume_after_ts: int | None = None,
    state_file: MeterStateFile | None = None,
) -> int:
    """Publishes every reading whose time has come; returns how many were sent.

    Readings for the past go out `speed` times faster than real time; a
    reading is never published before its own timestamp. Without `follow`,
    it stops once it has caught up with the present. `progress(step, ts,
    sent)` follows each step (SimulationProgress). Steps at or before
    `resume_after_ts` were published by an earlier run and are skipped (the
    meters' registers were restored from `state_file`)."""
    sent = 0
    wall_start, sim_start, last_ts = now(), None, None
    try:
        for step, (ts, produced, consumed) in enumerate(clock.steps()):
            if resume_after_ts is not None and ts <= resume_after_ts:
                continue
            if sim_start is None:
                sim_start = ts
            if not follow and ts > now():
                break
            due_wall = wall_start + (ts - sim_start) / speed
            wait = max(due_wall - now(), ts - now())
            if wait > 0.001:
                sleep(wait)
            # Every meter advances before any publishes, so the saved state is
            # always a whole step; a reading lost in a failed publish loses no
            # energy (the registers are cumulative), only its seq.
            step_readings = [
                meter.advance(
                    float(produced[meter.index]), float(consumed[meter.index]), ts, clock.reading_seconds, domain
                )
                for meter in meters
            ]
            last_ts = ts
            for signed in step_readings:
                publish(topic(community, signed.reading.meter), payload(signed))
                sent += 1
            if state_file is not None:
                state_file.save(meters, ts)
            if progress:
                progress(step + 1, ts, sent)
    finally:
        if state_file is not None and last_ts is not None:
            state_file.save(meters, last_ts, force=True)
    return sent
