"""Shared pieces of the bridge tests: fixture paths, a test domain and key, a bridge in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

from backend.bridge.rules import RegisterRules
from backend.bridge.runner import Bridge, BridgeConfig
from backend.protocol.readings import MeterDomain

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "meters"
# A throwaway test key (docs/mqtt.md's worked example): never a real meter's.
TEST_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
TEST_METER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_bridge(
    state_dir: Path,
    rules: RegisterRules | None = None,
    queue_max_bytes: int = 1024 * 1024,
    community: str = "testville",
) -> Bridge:
    config = BridgeConfig(
        community=community,
        domain=DOMAIN,
        state_dir=state_dir,
        every_s=1.0,
        rules=rules or RegisterRules(),
        queue_max_bytes=queue_max_bytes,
    )
    return Bridge(config, TEST_KEY, TEST_METER)


def p1_telegram(
    consumed_t1_wh: int,
    consumed_t2_wh: int,
    produced_t1_wh: int,
    produced_t2_wh: int,
    stamp: str = "250612141530S",
    import_w: int = 452,
) -> bytes:
    """A DSMR 5.0.2 telegram with these registers and its CRC16 as dsmr-parser computes it."""
    from dsmr_parser.parsers import TelegramParser

    def kwh(wh: int) -> str:
        return f"{wh // 1000:06d}.{wh % 1000:03d}"

    lines = [
        "/XMX5LGF0000000000001",
        "",
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({stamp})",
        "0-0:96.1.1(4530303533303037313030303030303030)",
        f"1-0:1.8.1({kwh(consumed_t1_wh)}*kWh)",
        f"1-0:1.8.2({kwh(consumed_t2_wh)}*kWh)",
        f"1-0:2.8.1({kwh(produced_t1_wh)}*kWh)",
        f"1-0:2.8.2({kwh(produced_t2_wh)}*kWh)",
        "0-0:96.14.0(0002)",
        f"1-0:1.7.0({import_w // 1000:02d}.{import_w % 1000:03d}*kW)",
        "1-0:2.7.0(00.000*kW)",
        "!",
    ]
    body = "\r\n".join(lines)
    return (body + f"{TelegramParser.crc16(body):04X}\r\n").encode()
