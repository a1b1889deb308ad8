"""The bridge's state file: next seq, the last signed registers, a halt, counters, pinned units; written atomically.

Written to a temporary file in the same folder, flushed to disk, then renamed over the old one,
so a crash leaves the old state or the new one, never half of each. The seq is saved *before* the
reading that uses it is signed: a crash can skip a seq (the oracle only needs them increasing),
never reuse one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.bridge.rules import LastAccepted

__all__ = ["BridgeState", "atomic_write", "load_state", "save_state"]


@dataclass
class BridgeState:
    meter: str | None = None  # the key's address: a state folder belongs to one meter key
    next_seq: int = 1
    last: LastAccepted | None = None
    halted: str | None = None  # why the bridge stopped publishing (register_backwards), until re-registration
    counters: dict[str, int] = field(default_factory=dict)
    pinned_units: dict[str, str] = field(default_factory=dict)  # Home Assistant entity -> unit

    def count(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_state(path: Path) -> BridgeState:
    """The saved state, or a fresh one when there is no file yet."""
    path = Path(path)
    if not path.exists():
        return BridgeState()
    try:
        data = json.loads(path.read_text())
        last = LastAccepted(**data["last"]) if data.get("last") else None
        return BridgeState(
            meter=data.get("meter"),
            next_seq=int(data["next_seq"]),
            last=last,
            halted=data.get("halted"),
            counters=dict(data.get("counters", {})),
            pinned_units=dict(data.get("pinned_units", {})),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"bridge state file {path} is damaged ({error}); it must not be guessed, because it "
            "holds the next seq: restore it or register a new meter key"
        ) from None


def save_state(path: Path, state: BridgeState) -> None:
    data = asdict(state)
    atomic_write(Path(path), (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
