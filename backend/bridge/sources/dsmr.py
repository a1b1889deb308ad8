"""DSMR P1 telegrams (4.x / 5.0.2) through dsmr-parser: framing, CRC, registers, timestamp with its DST flag."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.objects import Telegram
from dsmr_parser.parsers import TelegramParser

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem

__all__ = ["P1Decoder", "telegram_clock", "telegram_sample", "p1_events"]

# dsmr-parser reads the timestamp as Dutch local time with its S/W flag and returns it in UTC.
_P1_ZONE = ZoneInfo("Europe/Amsterdam")


class P1Decoder:
    """Bytes in, in any chunks; parsed samples and dropped telegrams out (a bad CRC is a SourceProblem)."""

    def __init__(self) -> None:
        self._buffer = TelegramBuffer()
        self._parser = TelegramParser(telegram_specifications.V5)

    def feed(self, chunk: bytes) -> list[MeterSample | SourceProblem]:
        # latin-1 maps every byte to one character: line noise cannot stop the stream, the CRC catches it.
        self._buffer.append(chunk.decode("latin-1"))
        events: list[MeterSample | SourceProblem] = []
        for raw in self._buffer.get_all():
            try:
                telegram = self._parser.parse(raw, throw_ex=True)
            except InvalidChecksumError as error:
                events.append(SourceProblem(BridgeReason.BAD_CRC, str(error)))
                continue
            except ParseError as error:
                events.append(SourceProblem(BridgeReason.UNREADABLE, str(error)))
                continue
            try:
                events.append(telegram_sample(telegram))
            except (AttributeError, ValueError) as error:
                events.append(SourceProblem(BridgeReason.UNREADABLE, f"telegram without its registers: {error}"))
        return events


def _wh(cosem, what: str) -> int:
    if cosem.unit != "kWh":
        raise ValueError(f"{what} is in {cosem.unit!r}, expected kWh")
    return int(Decimal(cosem.value) * 1000)


def _w(cosem, what: str) -> int:
    if cosem.unit != "kW":
        raise ValueError(f"{what} is in {cosem.unit!r}, expected kW")
    return int(Decimal(cosem.value) * 1000)


def telegram_sample(telegram: Telegram) -> MeterSample:
    """Sum the tariff registers: import 1.8.1 + 1.8.2, export 2.8.1 + 2.8.2; power 1.7.0 - 2.7.0."""
    consumed_wh = _wh(telegram.ELECTRICITY_USED_TARIFF_1, "1.8.1") + _wh(telegram.ELECTRICITY_USED_TARIFF_2, "1.8.2")
    produced_wh = _wh(telegram.ELECTRICITY_DELIVERED_TARIFF_1, "2.8.1") + _wh(
        telegram.ELECTRICITY_DELIVERED_TARIFF_2, "2.8.2"
    )
    power_w = 0
    if hasattr(telegram, "CURRENT_ELECTRICITY_USAGE") and hasattr(telegram, "CURRENT_ELECTRICITY_DELIVERY"):
        power_w = _w(telegram.CURRENT_ELECTRICITY_USAGE, "1.7.0") - _w(telegram.CURRENT_ELECTRICITY_DELIVERY, "2.7.0")
    clock = telegram_clock(telegram)
    return MeterSample(
        consumed_wh=consumed_wh,
        produced_wh=produced_wh,
        power_w=power_w,
        meter_ts=clock[0].timestamp() if clock else None,
        source="p1",
    )


def telegram_clock(telegram: Telegram) -> tuple[datetime, bool] | None:
    """The telegram's timestamp (0-0:1.0.0) in UTC and whether the meter said summer time (S) or winter (W)."""
    stamp = getattr(telegram, "P1_MESSAGE_TIMESTAMP", None)
    if stamp is None or not isinstance(stamp.value, datetime):
        return None
    utc = stamp.value
    return utc, utc.astimezone(_P1_ZONE).dst() != timedelta(0)


def p1_events(chunks: Iterable[bytes]) -> Iterator[MeterSample | SourceProblem]:
    """Decode a P1 byte stream (serial port or TCP) into events."""
    decoder = P1Decoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
