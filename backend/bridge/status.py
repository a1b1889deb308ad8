"""The bridge's status: the snapshot in its state folder (status.json), how `vatio bridge status` prints it,
and the retained MQTT message that tells the community what the bridge reports (docs/mqtt.md).

``vatio/<community>/meters/<meterAddress>/status``, retained, QoS 1, beside the readings topic: the
meter's own login may write it (config/mosquitto.acl), the oracle may read every meter's. The payload
is JSON, schema ``vatio-bridge-status/1``; it is not signed (the broker's login says who wrote it).
Its topic and schema are the protocol's (backend.protocol.topics, backend.protocol.bridge_status),
where the oracle's parser checks what it receives.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from backend.bridge.state import atomic_write
from backend.protocol.bridge_status import STATUS_SCHEMA
from backend.protocol.topics import status_topic

__all__ = [
    "STATUS_FILE",
    "STATUS_SCHEMA",
    "format_status",
    "read_status",
    "status_payload",
    "status_topic",
    "write_status",
]

STATUS_FILE = "status.json"


def status_payload(snapshot: dict) -> dict:
    """The public status message of a snapshot (camelCase like the readings; no local paths, no broker URL)."""
    last = snapshot.get("last_reading") or None
    broker = snapshot.get("broker") or {}
    return {
        "schema": STATUS_SCHEMA,
        "meter": snapshot.get("meter"),
        "source": snapshot.get("source") or None,
        "ts": int(snapshot.get("updated_at") or 0),
        "lastReading": None if last is None else {"seq": last["seq"], "ts": last["ts"]},
        "queueDepth": int(snapshot.get("queue_depth") or 0),
        "queueBytes": int(snapshot.get("queue_bytes") or 0),
        "counters": dict(sorted((snapshot.get("counters") or {}).items())),
        "halted": snapshot.get("halted") or None,
        "brokerError": broker.get("last_error") or None,
    }


def write_status(state_dir: Path, snapshot: dict) -> None:
    atomic_write(Path(state_dir) / STATUS_FILE, (json.dumps(snapshot, indent=1, sort_keys=True) + "\n").encode())


def read_status(state_dir: Path) -> dict:
    path = Path(state_dir) / STATUS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no bridge status in {state_dir}: has `vatio bridge` run with this --state-dir?")
    return json.loads(path.read_text())


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def format_status(snapshot: dict, now: float | None = None) -> str:
    """The snapshot as the lines `vatio bridge status` prints."""
    now = time.time() if now is None else now
    lines = [
        f"meter:    {snapshot.get('meter')}  (source {snapshot.get('source')}, community {snapshot.get('community')})"
    ]
    last = snapshot.get("last_reading")
    if last:
        lines.append(
            f"last reading: seq {last['seq']}, {_age(now - last['ts'])}: import {last['consumedWh']} Wh, "
            f"export {last['producedWh']} Wh, power {last['powerW']} W"
        )
    else:
        lines.append("last reading: none yet")
    lines.append(
        f"queue:    {snapshot.get('queue_depth', 0)} readings waiting "
        f"({snapshot.get('queue_bytes', 0)} bytes of {snapshot.get('queue_max_bytes', 0)})"
    )
    broker = snapshot.get("broker") or {}
    connection = "connected" if broker.get("connected") else "NOT connected"
    error = f" ({broker['last_error']})" if broker.get("last_error") else ""
    lines.append(f"broker:   {broker.get('url')} {connection}{error}")
    if snapshot.get("halted"):
        lines.append(f"HALTED:   {snapshot['halted']}")
    counters = snapshot.get("counters") or {}
    lines.append("counters: " + ("none" if not counters else ""))
    for reason, number in sorted(counters.items()):
        lines.append(f"  {reason:<22} {number}")
    lines.append(f"updated {_age(now - snapshot.get('updated_at', now))}")
    return "\n".join(lines)
