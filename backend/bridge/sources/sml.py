"""SML frames (German/Austrian meters' IR interface) through smllib: OBIS 1.8.0, 2.8.0 and 16.7.0."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from smllib import SmlStreamReader
from smllib.errors import CrcError, SmlLibException

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem

__all__ = ["OBIS_CONSUMED", "OBIS_POWER", "OBIS_PRODUCED", "SmlDecoder", "sml_events"]

# OBIS codes as smllib names them: A-B:C.D.E*F packed in six hex bytes.
OBIS_CONSUMED = "0100010800ff"  # 1-0:1.8.0*255, import register
OBIS_PRODUCED = "0100020800ff"  # 1-0:2.8.0*255, export register
OBIS_POWER = "0100100700ff"  # 1-0:16.7.0*255, net active power (negative while exporting)
_UNIT_WH = 30  # DLMS unit codes, as SML carries them
_UNIT_W = 27


class SmlDecoder:
    """Bytes in, in any chunks; samples and dropped frames (bad CRC, unreadable) out."""

    def __init__(self) -> None:
        self._reader = SmlStreamReader()

    def feed(self, chunk: bytes) -> list[MeterSample | SourceProblem]:
        self._reader.add(chunk)
        events: list[MeterSample | SourceProblem] = []
        while True:
            try:
                frame = self._reader.get_frame()
            except CrcError:
                events.append(SourceProblem(BridgeReason.BAD_CRC, "SML frame checksum does not match"))
                continue
            if frame is None:
                return events
            try:
                entries = {entry.obis: entry for entry in frame.get_obis()}
            except (SmlLibException, ValueError) as error:
                events.append(SourceProblem(BridgeReason.UNREADABLE, f"SML frame: {error}"))
                continue
            try:
                events.append(_sample(entries))
            except (KeyError, ValueError) as error:
                events.append(SourceProblem(BridgeReason.UNREADABLE, f"SML frame without its registers: {error}"))


def _scaled(entry, unit: int, what: str) -> int:
    if entry.unit != unit:
        raise ValueError(f"{what} has unit code {entry.unit}, expected {unit}")
    if not isinstance(entry.value, int):
        raise ValueError(f"{what} is not a number: {entry.value!r}")
    return int(Decimal(entry.value).scaleb(entry.scaler or 0))


def _sample(entries: dict) -> MeterSample:
    if OBIS_CONSUMED not in entries:
        raise KeyError("OBIS 1.8.0 missing")
    consumed_wh = _scaled(entries[OBIS_CONSUMED], _UNIT_WH, "1.8.0")
    # Import-only meters send no 2.8.0; their export register is 0.
    produced_wh = _scaled(entries[OBIS_PRODUCED], _UNIT_WH, "2.8.0") if OBIS_PRODUCED in entries else 0
    power_w = _scaled(entries[OBIS_POWER], _UNIT_W, "16.7.0") if OBIS_POWER in entries else 0
    return MeterSample(consumed_wh=consumed_wh, produced_wh=produced_wh, power_w=power_w, source="sml")


def sml_events(chunks: Iterable[bytes]) -> Iterator[MeterSample | SourceProblem]:
    """Decode an SML byte stream (an IR read head on a serial port) into events."""
    decoder = SmlDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
