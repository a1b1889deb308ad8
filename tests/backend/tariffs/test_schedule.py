"""Tariff schedule files: parsing, validation (each refusal with its message) and bands with DST and holidays."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from backend.tariffs.bands import band_at, day_type, local_day_hours, utc_day_bands
from backend.tariffs.schema import TariffError, load_schedule, parse_schedule, schedule_hash
from backend.tariffs.validate import load_valid, validate_schedule

TARIFFS = Path(__file__).resolve().parents[3] / "config" / "tariffs"
SPAIN = TARIFFS / "es-2.0td-example.toml"
BELGIUM = TARIFFS / "be-capacity-example.toml"
UTC = dt.UTC


def spain_text() -> str:
    return SPAIN.read_text()


def refused(text: str, now: dt.datetime | None = None) -> str:
    with pytest.raises(TariffError) as caught:
        load_valid(text.encode(), now=now)
    return str(caught.value)


@pytest.mark.parametrize("path", [SPAIN, BELGIUM], ids=["spain", "belgium"])
def test_the_examples_are_valid_and_say_they_are_examples(path):
    schedule = validate_schedule(load_schedule(path))
    assert schedule.source_hash == schedule_hash(path.read_bytes())
    head = path.read_text().splitlines()[0]
    assert "EXAMPLE ONLY, NOT ADVICE" in head
    assert "https://" in path.read_text()


def test_prices_are_read_exactly_through_their_text():
    schedule = load_schedule(SPAIN)
    assert schedule.band("P1").retail_import == Decimal("0.1650")
    assert schedule.taxes.electricity_tax == Decimal("0.0511269632")
    assert [b.name for b in schedule.bands] == ["P1", "P2", "P3"]


def test_spanish_weekday_bands_by_local_hour_in_winter_and_summer():
    schedule = load_schedule(SPAIN)
    # Tuesday 2026-02-10: CET (UTC+1). 10:30 local = 09:30 UTC is P1; 09:30 local is P2; 07:59 local is P3.
    assert band_at(schedule, dt.datetime(2026, 2, 10, 9, 30, tzinfo=UTC)) == "P1"
    assert band_at(schedule, dt.datetime(2026, 2, 10, 8, 30, tzinfo=UTC)) == "P2"
    assert band_at(schedule, dt.datetime(2026, 2, 10, 6, 59, tzinfo=UTC)) == "P3"
    # Tuesday 2026-07-14: CEST (UTC+2). 10:00 local = 08:00 UTC is P1 already.
    assert band_at(schedule, dt.datetime(2026, 7, 14, 8, 0, tzinfo=UTC)) == "P1"
    assert band_at(schedule, dt.datetime(2026, 7, 14, 7, 59, tzinfo=UTC)) == "P2"


def test_weekends_and_holidays_are_valley_all_day():
    schedule = load_schedule(SPAIN)
    # Saturday 2026-02-14 at local noon, and the holiday Tuesday 2026-12-08 at local noon.
    assert day_type(schedule, dt.date(2026, 2, 14)) == "weekend"
    assert band_at(schedule, dt.datetime(2026, 2, 14, 11, 0, tzinfo=UTC)) == "P3"
    assert day_type(schedule, dt.date(2026, 12, 8)) == "holiday"
    assert band_at(schedule, dt.datetime(2026, 12, 8, 11, 0, tzinfo=UTC)) == "P3"
    # The day after (Wednesday) is a weekday again.
    assert band_at(schedule, dt.datetime(2026, 12, 9, 11, 0, tzinfo=UTC)) == "P1"


def test_holiday_follows_the_local_date_not_the_utc_date():
    schedule = load_schedule(SPAIN)
    # 2026-12-07 23:30 UTC is already 2026-12-08 00:30 in Madrid: holiday, P3 (a weekday would be P3 too at 00:30),
    # and 2026-12-08 22:30 UTC is 23:30 on the 8th (holiday, P3) while a weekday's 23:30 is P2.
    assert band_at(schedule, dt.datetime(2026, 12, 8, 22, 30, tzinfo=UTC)) == "P3"
    assert band_at(schedule, dt.datetime(2026, 12, 9, 22, 30, tzinfo=UTC)) == "P2"


def test_spring_dst_day_has_23_hours_and_autumn_25():
    schedule = load_schedule(SPAIN)
    assert len(local_day_hours(schedule, dt.date(2027, 3, 29))) == 24  # the Monday after the switch
    spring = local_day_hours(schedule, dt.date(2027, 3, 28))  # Sunday: clocks go 02:00 -> 03:00
    autumn = local_day_hours(schedule, dt.date(2027, 10, 31))
    assert len(spring) == 23 and len(autumn) == 25
    assert {band for _, band in spring} == {"P3"}  # Sundays


def test_weekday_dst_switch_keeps_local_hours_in_belgium():
    schedule = load_schedule(BELGIUM)
    # Monday 2026-03-30 (after the switch, UTC+2): local 07:00 = 05:00 UTC is day; the Friday before, local 07:00
    # was 06:00 UTC (UTC+1).
    assert band_at(schedule, dt.datetime(2026, 3, 30, 5, 0, tzinfo=UTC)) == "day"
    assert band_at(schedule, dt.datetime(2026, 3, 27, 5, 0, tzinfo=UTC)) == "night"
    assert band_at(schedule, dt.datetime(2026, 3, 27, 6, 0, tzinfo=UTC)) == "day"
    # The UTC-day calendar row (on-chain) agrees hour by hour.
    day = int(dt.datetime(2026, 3, 30, tzinfo=UTC).timestamp()) // 86400
    row = utc_day_bands(schedule, day)
    assert row[4] == schedule.band_index("night") and row[5] == schedule.band_index("day")
    assert row[19] == schedule.band_index("day") and row[20] == schedule.band_index("night")


def test_an_instant_outside_the_years_is_refused():
    schedule = load_schedule(SPAIN)
    with pytest.raises(TariffError, match="outside the years"):
        band_at(schedule, dt.datetime(2028, 6, 1, tzinfo=UTC))


def test_overlapping_hours_are_refused():
    text = spain_text().replace("hours = [[0, 8]]", "hours = [[0, 9]]")
    assert "weekday hour 8 is in more than one period (P2, P3): overlapping hours" in refused(text)


def test_missing_hours_are_refused():
    text = spain_text().replace("hours = [[0, 8]]", "hours = [[0, 6]]")
    assert "weekday hours 6-7 have no band (missing hours)" in refused(text)


def test_feed_in_above_retail_is_refused():
    text = spain_text().replace('retail_import = "0.0950"', 'retail_import = "0.0500"')
    assert "band 'P3': feed-in 0.0600 is above retail 0.0500 EUR/kWh" in refused(text)


def test_negative_prices_need_the_file_to_allow_them():
    text = spain_text().replace(
        'feed_in = "0.0600"\ngrid_access = "0.0007"', 'feed_in = "-0.0100"\ngrid_access = "0.0007"'
    )
    assert "band 'P3': feed_in -0.0100 is negative" in refused(text)
    allowed = text.replace("allow_negative_prices = false", "allow_negative_prices = true")
    assert load_valid(allowed.encode()).band("P3").feed_in == Decimal("-0.0100")


def test_a_start_in_the_past_is_refused_and_a_future_one_accepted():
    message = refused(spain_text(), now=dt.datetime(2026, 12, 7, 18, 0, tzinfo=UTC))
    assert "valid_from 2026-01-01" in message and "not in the future" in message
    later = spain_text().replace("valid_from = 2026-01-01", "valid_from = 2027-01-01")
    assert load_valid(later.encode(), now=dt.datetime(2026, 12, 7, 18, 0, tzinfo=UTC)).valid_from == dt.date(2027, 1, 1)


def test_unknown_keys_are_refused_at_every_level():
    text = spain_text().replace('co2_kg_per_kwh = "0.12"', 'co2_kg_per_kwh = "0.12"\nretial_import = "0.2"')
    text = text.replace("[fixed]", "colour = 'blue'\n\n[fixed]")
    message = refused(text)
    assert "unknown key 'retial_import' in [bands.P1]" in message
    assert "unknown key 'colour' in [[periods]] #4" in message


def test_a_holiday_outside_the_years_is_refused():
    text = spain_text().replace("2027-12-25,\n]", "2027-12-25, 2028-01-01,\n]")
    assert "holidays 2028-01-01 are outside the schedule's years [2026, 2027]" in refused(text)


def test_every_problem_is_listed_at_once_and_bad_toml_is_one_clear_error():
    text = (
        spain_text()
        .replace("hours = [[0, 8]]", "hours = [[0, 6]]")
        .replace('retail_import = "0.0950"', 'retail_import = "0.0500"')
    )
    with pytest.raises(TariffError) as caught:
        load_valid(text.encode())
    assert len(caught.value.problems) == 2
    assert "is not valid TOML" in refused("name = ")
    assert "timezone 'Mars/Olympus' is not a known IANA time zone" in refused(
        spain_text().replace("Europe/Madrid", "Mars/Olympus")
    )


def test_a_changed_byte_changes_the_version_hash():
    original = parse_schedule(SPAIN.read_bytes())
    edited = parse_schedule(SPAIN.read_bytes().replace(b'"0.1650"', b'"0.1651"'))
    assert original.source_hash != edited.source_hash
