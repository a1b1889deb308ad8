"""Bills and KPIs against the hand-computed examples of docs/kpis.md and docs/tariffs.md (every figure by hand)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from backend.tariffs.billing import IntervalEnergy, compute_bill
from backend.tariffs.kpis import community_kpis, energy_kpis, household_kpis
from backend.tariffs.rounding import to_cents
from backend.tariffs.validate import load_valid

HAND = (Path(__file__).resolve().parents[2] / "fixtures" / "tariffs" / "hand.toml").read_bytes()
SCHEDULE = load_valid(HAND)
CAPACITY = load_valid(HAND + b'\n[capacity]\nper_kw_month = "4.00"\nminimum_kw = "2.5"\n')
MADRID = load_valid(HAND.replace(b'timezone = "UTC"', b'timezone = "Europe/Madrid"'))
S = 900


def interval(year, month, day, hour, minute=0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()) // S


# Thursday 2026-02-05
CONSUMER = [
    IntervalEnergy(interval(2026, 2, 5, 9), produced_wh=0, consumed_wh=1000),
    IntervalEnergy(interval(2026, 2, 5, 2), produced_wh=0, consumed_wh=500),
]
PROSUMER = [
    IntervalEnergy(interval(2026, 2, 5, 12), produced_wh=3000, consumed_wh=1000, sold_wh=1500, sold_value=180_000),
    IntervalEnergy(interval(2026, 2, 5, 19), produced_wh=200, consumed_wh=1200, bought_wh=600, bought_value=90_000),
    IntervalEnergy(interval(2026, 2, 5, 3), produced_wh=0, consumed_wh=400),
]


def lines(bill) -> dict[str, Decimal]:
    return {line.key: line.amount for line in bill.lines}


def test_rounding_is_half_away_from_zero_to_the_cent():
    assert to_cents(Fraction(5, 1000)) == Decimal("0.01")
    assert to_cents(Fraction(-25, 1000)) == Decimal("-0.03")
    assert to_cents(Fraction(4999, 1000000)) == Decimal("0.00")
    assert to_cents(Decimal("0.3528")) == Decimal("0.35")


def test_pure_consumer_bill():
    bill = compute_bill(CONSUMER, lambda _: SCHEDULE, S, Decimal(3))
    got = lines(bill)
    assert got["peak:grid_import_energy"] == Decimal("0.20")
    assert got["peak:grid_access"] == Decimal("0.03") and got["peak:grid_charges"] == Decimal("0.02")
    assert got["off:grid_import_energy"] == Decimal("0.05")
    assert got["off:grid_access"] == Decimal("0.01") and got["off:grid_charges"] == Decimal("0.01")  # 0.005 each
    assert got["fixed_power"] == Decimal("0.30") and got["fixed_monthly"] == Decimal("1.00")
    assert got["electricity_tax"] == Decimal("0.08")  # 5 % of 1.62
    assert got["vat"] == Decimal("0.36")  # 21 % of 1.70
    assert bill.total == Decimal("2.06")
    assert "capacity" not in got
    without = compute_bill(CONSUMER, lambda _: SCHEDULE, S, Decimal(3), with_community=False)
    assert without.total == bill.total


def test_prosumer_bill_with_and_without_the_community():
    bill = compute_bill(PROSUMER, lambda _: SCHEDULE, S, Decimal(4))
    got = lines(bill)
    assert got["peak:grid_import_energy"] == Decimal("0.08")
    assert got["peak:community_purchases"] == Decimal("0.09")
    assert got["peak:grid_export_credit"] == Decimal("-0.03")  # -0.025
    assert got["peak:community_sales"] == Decimal("-0.18")
    assert got["peak:grid_access"] == Decimal("0.01") and got["peak:grid_charges"] == Decimal("0.01")
    assert got["off:grid_import_energy"] == Decimal("0.04")
    assert got["electricity_tax"] == Decimal("0.08") and got["vat"] == Decimal("0.35")
    assert bill.total == Decimal("1.85")
    assert bill.band_subtotal("peak") == Decimal("-0.02")
    without = compute_bill(PROSUMER, lambda _: SCHEDULE, S, Decimal(4), with_community=False)
    got = lines(without)
    assert got["peak:grid_export_credit"] == Decimal("-0.10")
    assert "peak:community_sales" not in got
    assert without.total == Decimal("2.02")


def test_prosumer_kpis():
    kpis = household_kpis(PROSUMER, lambda _: SCHEDULE, S, Decimal(4))
    assert kpis.self_sufficiency == Fraction(9, 13)
    assert kpis.self_consumption == Fraction(27, 32)
    assert kpis.grid_import_kwh == Decimal("0.800") and kpis.grid_export_kwh == Decimal("0.500")
    assert kpis.bought_kwh == Decimal("0.600") and kpis.sold_kwh == Decimal("1.500")
    assert kpis.peak_import_kw == Decimal("4.000")
    assert kpis.co2_avoided_kg == Decimal("0.360")
    assert kpis.saving == Decimal("0.17")


def test_consumer_kpis_have_no_self_consumption():
    kpis = energy_kpis(CONSUMER, lambda _: SCHEDULE, S)
    assert kpis.self_sufficiency == 0 and kpis.self_consumption is None
    assert kpis.peak_import_kw == Decimal("4.000")


def test_community_kpis_sum_members_and_take_the_coincident_peak():
    kpis = community_kpis({"a": CONSUMER, "b": PROSUMER}, lambda _: SCHEDULE, S)
    # consumption 1500 + 2600 = 4100 Wh; covered 0 + 1800 Wh
    assert kpis.self_sufficiency == Fraction(1800, 4100)
    # 02:00 (500) and 03:00 (400) are different windows; 09:00 is 1000, 19:00 is 1000: peak 4 kW
    assert kpis.peak_import_kw == Decimal("4.000")
    together = community_kpis(
        {"a": [IntervalEnergy(PROSUMER[1].interval_id, 0, 700)], "b": PROSUMER}, lambda _: SCHEDULE, S
    )
    assert together.peak_import_kw == Decimal("6.800")  # 700 + 1000 Wh in one window


def test_capacity_charge_month_uses_the_peak_and_its_minimum():
    bill = compute_bill(CONSUMER, lambda _: CAPACITY, S, Decimal(3))
    got = lines(bill)
    assert got["capacity"] == Decimal("16.00")  # 4 kW x 4.00
    assert got["electricity_tax"] == Decimal("0.08")  # capacity is not in its base
    assert got["vat"] == Decimal("3.72")  # 21 % of 17.70
    assert bill.total == Decimal("21.42")
    small = compute_bill([IntervalEnergy(interval(2026, 2, 7, 2), 0, 500)], lambda _: CAPACITY, S, Decimal(3))
    assert small.peak_kw == Decimal("2.000") and small.billed_kw == Decimal("2.5")
    assert lines(small)["capacity"] == Decimal("10.00")


def test_dst_month_bands_follow_local_time_and_days_count_local_dates():
    entries = [
        IntervalEnergy(interval(2026, 3, 27, 7), 0, 1000),  # Friday 08:00 CET: peak
        IntervalEnergy(interval(2026, 3, 30, 6), 0, 1000),  # Monday 08:00 CEST: peak
        IntervalEnergy(interval(2026, 3, 30, 5, 45), 0, 1000),  # Monday 07:45 CEST: off
    ]
    bill = compute_bill(entries, lambda _: MADRID, S, Decimal(3))
    got = lines(bill)
    assert got["peak:grid_import_energy"] == Decimal("0.40")
    assert got["off:grid_import_energy"] == Decimal("0.10")
    assert bill.days == 2 and got["fixed_power"] == Decimal("0.60")
    assert got["electricity_tax"] == Decimal("0.11") and got["vat"] == Decimal("0.49")
    assert bill.total == Decimal("2.82")
    # In UTC all three start before 08:00: off-peak, 3 kWh x 0.10. The zone matters.
    utc = lines(compute_bill(entries, lambda _: SCHEDULE, S, Decimal(3)))
    assert "peak:grid_import_energy" not in utc and utc["off:grid_import_energy"] == Decimal("0.30")


def test_a_bill_needs_intervals():
    with pytest.raises(ValueError, match="at least one settled interval"):
        compute_bill([], lambda _: SCHEDULE, S, Decimal(3))
