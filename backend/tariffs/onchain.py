"""What the registry stores of a schedule (docs/tariffs.md, "On-chain"): pure encoding, no web3.

- Each band's bounds in payment units per kWh (6 decimals), on the 1000-unit
  price tick: feed-in rounded up, retail rounded down, so the on-chain range
  is inside the file's; a negative feed-in (allow_negative_prices) is bound
  at 0, since on-chain prices are unsigned.
- The band calendar: one 256-bit word per UTC day, byte h = 1 + the band
  index of UTC hour h (0 means "not set", so a missing day is caught).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from backend.tariffs.bands import UTC, utc_day_bands
from backend.tariffs.schema import Schedule, TariffError

PRICE_TICK = 1000  # CommunityRegistry.PRICE_TICK
UNITS_PER_EUR = Decimal(10**6)


def band_bounds(schedule: Schedule) -> list[tuple[int, int]]:
    """(feed-in, retail) per band, payment units per kWh on the tick, in band-index order."""
    bounds = []
    for band in schedule.bands:
        feed_in = int((max(band.feed_in, Decimal(0)) * UNITS_PER_EUR / PRICE_TICK).to_integral_value(ROUND_CEILING))
        retail = int((band.retail_import * UNITS_PER_EUR / PRICE_TICK).to_integral_value(ROUND_FLOOR))
        if retail <= 0 or feed_in > retail:
            raise TariffError(
                f"band {band.name!r}: no price on the 0.001 EUR/kWh tick lies between feed-in "
                f"{band.feed_in} and retail {band.retail_import}"
            )
        bounds.append((feed_in * PRICE_TICK, retail * PRICE_TICK))
    return bounds


def calendar_word(bands_by_hour: list[int]) -> int:
    if len(bands_by_hour) != 24:
        raise ValueError("a calendar word has 24 hours")
    return sum((band + 1) << (8 * hour) for hour, band in enumerate(bands_by_hour))


def decode_word(word: int) -> list[int]:
    """The band index of each UTC hour; -1 where unset."""
    return [((word >> (8 * hour)) & 0xFF) - 1 for hour in range(24)]


def utc_day(instant: dt.datetime) -> int:
    return int(instant.astimezone(UTC).timestamp()) // 86400


def last_covered_day(schedule: Schedule) -> int:
    """The last UTC day whose every hour is inside the schedule's years."""
    end = dt.datetime(max(schedule.years) + 1, 1, 1, tzinfo=schedule.zone)
    return utc_day(end) - 1


def calendar_words(schedule: Schedule, first_day: int, count: int) -> list[int]:
    """Calendar words of `count` UTC days from `first_day`, stopping at the end of the schedule's years."""
    last = min(first_day + count - 1, last_covered_day(schedule))
    return [calendar_word(utc_day_bands(schedule, day)) for day in range(first_day, last + 1)]


def interval_label(interval_id: int, interval_seconds: int) -> str:
    """'1234 (2026-03-01 10:15 UTC)': an interval as messages name it."""
    start = dt.datetime.fromtimestamp(interval_id * interval_seconds, UTC)
    return f"{interval_id} ({start:%Y-%m-%d %H:%M} UTC)"


def first_interval(schedule: Schedule, interval_seconds: int) -> int:
    """The first interval at or after the schedule's valid_from (local midnight)."""
    start = dt.datetime.combine(schedule.valid_from, dt.time(0), schedule.zone).astimezone(UTC)
    return -(-int(start.timestamp()) // interval_seconds)
