"""The on-disk FIFO of signed readings waiting for the broker: one file per seq, bounded by size.

A reading is written here (atomically) before it is published, and removed only when the broker
acknowledged it at QoS 1, so a broker outage or a bridge restart loses nothing and keeps the order.
A seq that is already queued can only be queued again with the same bytes. When the queue is over
its size bound, the oldest readings are dropped with a warning: the registers are cumulative, so
the next reading still carries their energy; only the detail of when it flowed is lost.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from backend.bridge.state import atomic_write

__all__ = ["Outbox"]

logger = logging.getLogger(__name__)
_SUFFIX = ".reading"


class Outbox:
    def __init__(self, directory: Path, max_bytes: int = 16 * 1024 * 1024) -> None:
        if max_bytes < 1024:
            raise ValueError("the outbox needs room for at least one reading (1 KiB)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._sizes: dict[int, int] = {}
        for path in self.directory.glob(f"*{_SUFFIX}"):
            self._sizes[int(path.name.removesuffix(_SUFFIX))] = path.stat().st_size
        self._bytes = sum(self._sizes.values())

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{_SUFFIX}"

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def highest_seq(self) -> int | None:
        return max(self._sizes, default=None)

    def put(self, seq: int, payload: bytes) -> int:
        """Queue one reading; return how many of the oldest were dropped to stay within the bound."""
        if seq in self._sizes:
            if self._path(seq).read_bytes() != payload:
                raise ValueError(f"seq {seq} is already queued with other content: refusing to publish it twice")
            return 0
        atomic_write(self._path(seq), payload)
        self._sizes[seq] = len(payload)
        self._bytes += len(payload)
        dropped = 0
        while self._bytes > self.max_bytes and len(self._sizes) > 1:
            oldest = min(self._sizes)
            self.remove(oldest)
            dropped += 1
        if dropped:
            logger.warning(
                "bridge outbox over its bound of %d bytes: dropped the %d oldest signed readings "
                "(their energy is still in the newer registers); is the broker reachable?",
                self.max_bytes,
                dropped,
            )
        return dropped

    def peek(self, limit: int = 100) -> list[tuple[int, bytes]]:
        """The oldest queued readings, in seq order."""
        return [(seq, self._path(seq).read_bytes()) for seq in sorted(self._sizes)[:limit]]

    def remove(self, seq: int) -> None:
        size = self._sizes.pop(seq, None)
        if size is None:
            return
        self._bytes -= size
        try:
            os.unlink(self._path(seq))
        except FileNotFoundError:
            pass
