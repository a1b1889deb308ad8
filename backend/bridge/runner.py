"""The bridge loop: latest sample every N seconds -> rules -> sign -> outbox -> broker, and a status snapshot.

The source runs in its own thread and only replaces "the latest sample"; every ``every_s`` seconds
the bridge signs that sample if it is new, whatever the meter's own rate (a P1 port sends one
telegram a second; a reading every 10 s is plenty for 15-minute intervals). A reading's ``ts`` is the
bridge clock when the sample arrived.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.bridge.outbox import Outbox
from backend.bridge.publisher import ReadingsPublisher
from backend.bridge.rules import LastAccepted, RegisterRules, Rejected
from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem
from backend.bridge.state import BridgeState, load_state, save_state
from backend.bridge.status import status_payload, status_topic, write_status
from backend.protocol.parser import encode_reading
from backend.protocol.readings import MAX_POWER_W, MeterDomain, MeterReading, SignedReading, sign_reading
from backend.protocol.topics import readings_topic

__all__ = ["Bridge", "BridgeConfig"]

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
STATUS_REPEAT_S = 60.0  # an unchanged status is sent again this often, so its ts shows the bridge is alive
OUTBOX_DIR = "outbox"


@dataclass(frozen=True)
class BridgeConfig:
    community: str
    domain: MeterDomain
    state_dir: Path
    source: str = ""
    every_s: float = 10.0
    rules: RegisterRules = RegisterRules()
    queue_max_bytes: int = 16 * 1024 * 1024


class Bridge:
    """One meter key, one source, one broker."""

    def __init__(self, config: BridgeConfig, private_key: bytes, meter: str) -> None:
        if config.every_s <= 0:
            raise ValueError("the reading period must be positive")
        self.config = config
        self.private_key = private_key
        self.meter = meter
        self.state_dir = Path(config.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.state_dir / STATE_FILE
        self.state: BridgeState = load_state(self.state_path)
        if self.state.meter is not None and self.state.meter != meter:
            raise ValueError(
                f"state folder {self.state_dir} belongs to meter {self.state.meter}, not {meter}: "
                "give each meter key its own --state-dir"
            )
        self.state.meter = meter
        self.outbox = Outbox(self.state_dir / OUTBOX_DIR, config.queue_max_bytes)
        highest = self.outbox.highest_seq()
        if highest is not None and highest >= self.state.next_seq:
            self.state.next_seq = highest + 1  # never reuse a seq that has content on disk
        save_state(self.state_path, self.state)
        self.topic = readings_topic(config.community, meter)
        self.status_topic = status_topic(config.community, meter)
        self._status_sent: tuple[dict, float] | None = None  # (payload without ts, monotonic time sent)
        self.last_reading: SignedReading | None = None
        self._lock = threading.Lock()
        self._latest: tuple[MeterSample, float] | None = None
        self._latest_used = True
        self.publisher: ReadingsPublisher | None = None

    # --- what the source thread calls -----------------------------------------------------------
    def on_event(self, event: MeterSample | SourceProblem, received_ts: float | None = None) -> None:
        """Take one source event: a sample becomes the latest; a problem is counted and logged."""
        with self._lock:
            if isinstance(event, SourceProblem):
                self._count(event.reason, event.detail)
                return
            self._latest = (event, time.time() if received_ts is None else received_ts)
            self._latest_used = False

    # --- the signing step ---------------------------------------------------------------------
    def tick(self) -> SignedReading | None:
        """Sign the latest sample if it is new; return the reading queued, or None."""
        with self._lock:
            if self._latest is None or self._latest_used:
                return None
            sample, received_ts = self._latest
            self._latest_used = True
            return self.offer(sample, received_ts)

    def offer(self, sample: MeterSample, bridge_ts: float) -> SignedReading | None:
        """Apply the rules to one sample read at ``bridge_ts``; sign and queue it if it passes."""
        if self.state.halted:
            return None
        verdict = self.config.rules.check(sample, bridge_ts, self.state.last)
        if isinstance(verdict, Rejected):
            self._count(verdict.reason, verdict.detail)
            if verdict.halt:
                self.state.halted = f"{verdict.reason.value}: {verdict.detail}"
                logger.error("bridge stopped publishing: %s", verdict.detail)
            save_state(self.state_path, self.state)
            return None
        for reason, detail in verdict.flags:
            self._count(reason, detail)
        seq = self.state.next_seq
        self.state.next_seq = seq + 1
        save_state(self.state_path, self.state)  # the seq is spent before anything is signed with it
        reading = MeterReading(
            meter=self.meter,
            seq=seq,
            ts=int(bridge_ts),
            produced_wh=sample.produced_wh,
            consumed_wh=sample.consumed_wh,
            power_w=min(abs(sample.power_w), MAX_POWER_W),
        )
        signed = sign_reading(reading, self.config.domain, self.private_key)
        dropped = self.outbox.put(seq, encode_reading(signed))
        for _ in range(dropped):
            self.state.count(BridgeReason.QUEUE_FULL.value)
        self.state.last = LastAccepted(
            ts=int(bridge_ts), consumed_wh=sample.consumed_wh, produced_wh=sample.produced_wh
        )
        save_state(self.state_path, self.state)
        self.last_reading = signed
        return signed

    def _count(self, reason: BridgeReason, detail: str) -> None:
        self.state.count(reason.value)
        log = logger.info if reason in (BridgeReason.GAP,) else logger.warning
        log("%s: %s", reason.value, detail)

    # --- status -------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        last = self.last_reading.reading if self.last_reading else None
        publisher = self.publisher
        return {
            "updated_at": time.time(),
            "meter": self.meter,
            "community": self.config.community,
            "source": self.config.source,
            "topic": self.topic,
            "last_reading": None
            if last is None
            else {
                "seq": last.seq,
                "ts": last.ts,
                "consumedWh": last.consumed_wh,
                "producedWh": last.produced_wh,
                "powerW": last.power_w,
            },
            "next_seq": self.state.next_seq,
            "queue_depth": len(self.outbox),
            "queue_bytes": self.outbox.size_bytes,
            "queue_max_bytes": self.outbox.max_bytes,
            "counters": dict(self.state.counters),
            "halted": self.state.halted,
            "broker": None
            if publisher is None
            else {"url": publisher.broker.url, "connected": publisher.connected, "last_error": publisher.last_error},
        }

    def write_status(self) -> None:
        """Write status.json and, when it changed or a minute passed, the retained status message."""
        snapshot = self.snapshot()
        write_status(self.state_dir, snapshot)
        if self.publisher is None:
            return
        payload = status_payload(snapshot)
        unchanged = {key: value for key, value in payload.items() if key != "ts"}
        sent = self._status_sent
        if sent is not None and sent[0] == unchanged and time.monotonic() - sent[1] < STATUS_REPEAT_S:
            return
        if self.publisher.publish_status(self.status_topic, json.dumps(payload, separators=(",", ":")).encode()):
            self._status_sent = (unchanged, time.monotonic())

    # --- the loop -----------------------------------------------------------------------------
    def run(
        self,
        events: Callable[[Callable[[], bool]], Iterator[MeterSample | SourceProblem]],
        publisher: ReadingsPublisher,
        stop: threading.Event,
    ) -> None:
        """Run until ``stop`` is set: the source in a thread, signing every ``every_s``, draining the outbox."""
        self.publisher = publisher

        def read_source() -> None:
            try:
                for event in events(stop.is_set):
                    self.on_event(event)
                    if stop.is_set():
                        return
            except Exception:  # a source that dies must not leave a silent bridge behind
                logger.exception("the meter source failed; the bridge stops")
                stop.set()

        source_thread = threading.Thread(target=read_source, name="bridge-source", daemon=True)
        source_thread.start()
        next_tick = time.monotonic() + self.config.every_s
        self.write_status()
        try:
            while not stop.is_set():
                if time.monotonic() >= next_tick:
                    next_tick += self.config.every_s
                    self.tick()
                    self.write_status()
                publisher.drain(self.outbox)
                stop.wait(0.1)
        finally:
            stop.set()
            deadline = time.monotonic() + 5  # a last chance for queued readings; the outbox keeps the rest
            while len(self.outbox) and publisher.connected and time.monotonic() < deadline:
                publisher.drain(self.outbox)
                time.sleep(0.05)
            self.write_status()
            source_thread.join(timeout=2)
