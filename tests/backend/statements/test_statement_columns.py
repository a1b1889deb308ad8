"""The statements' column sums (compose.build_statements) against the interval-by-interval algorithm they replaced
(billing.compute_bill, kpis.energy_kpis over IntervalEnergy objects grouped as before), on a seeded community: a
Madrid month with its DST change, a flat version, two schedules in force (the second with a capacity charge), fills,
settlements outside the month or never closed, mixed-case addresses; and the same with values too large for int64
sums. Also: the CSV text written directly is csv.writer's."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from backend.statements.compose import (
    CSV_COLUMNS,
    FLAT_HASH,
    Closed,
    FillEvent,
    MonthEvents,
    Registered,
    Settled,
    VersionAdded,
    build_statements,
    month_intervals,
    statement_csv,
    statement_lines,
)
from backend.tariffs.billing import IntervalEnergy, compute_bill
from backend.tariffs.kpis import energy_kpis
from backend.tariffs.schema import parse_schedule

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "tariffs" / "hand.toml"
MADRID = FIXTURE.read_bytes().replace(b'timezone = "UTC"', b'timezone = "Europe/Madrid"')
CAPACITY = MADRID.replace(b"\nversion = 1", b"\nversion = 2") + b'\n[capacity]\nper_kw_month = "4.00"\n'
CAPACITY += b'minimum_kw = "2.5"\n'
S = 900
MONTH = "2026-10"  # the 25-hour day on the 25th


def seeded(scale: int = 1, seed: int = 5) -> tuple[MonthEvents, dict]:
    rng = np.random.default_rng(seed)
    first, second = parse_schedule(MADRID), parse_schedule(CAPACITY)
    window = month_intervals(MONTH, first.zone, S)
    events = MonthEvents(S)
    events.add(VersionAdded(0, FLAT_HASH, 0))
    events.add(VersionAdded(1, first.source_hash, window.start + 200))  # the first 200 intervals are flat
    events.add(VersionAdded(2, second.source_hash, window.start + 1500))
    households = [f"0x{i + 1:040x}" for i in range(12)]
    for index, household in enumerate(households):
        events.add(Registered(household, 3000 + 500 * index))
    ids = list(range(window.start - 20, window.stop + 20))  # a little of the months around it
    never_closed = set(rng.choice(ids, size=30, replace=False).tolist())
    for interval_id in ids:
        for index, household in enumerate(households):
            if rng.random() < 0.1:
                continue  # a reading missed
            spelled = household.upper().replace("0X", "0x") if index % 5 == 0 and rng.random() < 0.5 else household
            produced = int(rng.integers(0, 900)) * scale if index % 3 == 0 else 0
            consumed = int(rng.integers(0, 700)) * scale
            events.add(Settled(interval_id, spelled, produced, consumed))
            if rng.random() < 0.4:
                side = int(produced > consumed)
                amount = int(rng.integers(1, 300)) * scale
                events.add(FillEvent(interval_id, spelled, side, amount, amount * int(rng.integers(60, 95))))
        if interval_id not in never_closed:
            events.add(Closed(interval_id, f"0x{interval_id:064x}"))
    return events, {first.source_hash: first, second.source_hash: second}


def reference(events: MonthEvents, schedules: dict) -> dict[str, list[IntervalEnergy]]:
    """Each member's billed intervals as the statements grouped them before the columns."""
    window = month_intervals(MONTH, next(iter(schedules.values())).zone, S)
    trades: dict = defaultdict(lambda: [0, 0, 0, 0])
    for fill in events.fills:
        if fill.interval_id in window:
            sums = trades[(fill.household.lower(), fill.interval_id)]
            offset = 0 if fill.side == 0 else 2
            sums[offset] += fill.amount_wh
            sums[offset + 1] += fill.value
    members: dict = defaultdict(list)
    for e in events.settled:
        if e.interval_id in window and e.interval_id in events.closed:
            if events.version_of(e.interval_id).schedule_hash == FLAT_HASH:
                continue
            b, bv, s, sv = trades.get((e.household.lower(), e.interval_id), (0, 0, 0, 0))
            members[e.household.lower()].append(
                IntervalEnergy(e.interval_id, e.produced_wh, e.consumed_wh, b, bv, s, sv, events.closed[e.interval_id])
            )
    return {key: sorted(entries, key=lambda e: e.interval_id) for key, entries in members.items()}


@pytest.mark.parametrize("scale", [1, 10**12])  # 10**12: sums past int64, in Python-integer columns
def test_column_sums_give_the_interval_by_interval_statements(scale):
    events, schedules = seeded(scale)
    statements = build_statements(events, MONTH, schedules.__getitem__, parse_schedule(MADRID).zone)
    expected = reference(events, schedules)
    assert sorted(s.household.lower() for s in statements) == sorted(expected) and len(statements) == 12

    def schedule_of(interval_id):
        return schedules[events.version_of(interval_id).schedule_hash]

    for statement in statements:
        entries = expected[statement.household.lower()]
        assert list(statement.intervals) == entries
        kw = statement.contracted_kw
        assert statement.bill == compute_bill(entries, schedule_of, S, kw, with_community=True)
        assert statement.without == compute_bill(entries, schedule_of, S, kw, with_community=False)
        energy = energy_kpis(entries, schedule_of, S)
        assert statement.kpis.__dict__ == {
            **energy.__dict__,
            "bill_with": statement.bill.total,
            "bill_without": statement.without.total,
        }
        assert {v.version for v in statement.versions} == {1, 2}
        assert statement.skipped and all(i < min(e.interval_id for e in entries) for i in statement.skipped)
    assert any(line.component == "capacity" for s in statements for line in s.bill.lines)
    assert any(line.band and line.version == 1 for s in statements for line in s.bill.lines)


def test_the_direct_csv_text_is_csv_writers():
    events, schedules = seeded()
    odd = "0x" + "cd" * 20
    events.add(Registered(odd, 4000))
    window = month_intervals(MONTH, parse_schedule(MADRID).zone, S)
    events.add(Settled(window.start + 900, odd, 10, 500))
    events.closed[window.start + 900] = 'tx,with "quotes"'  # any text the database holds must round-trip
    for statement in build_statements(events, MONTH, schedules.__getitem__, parse_schedule(MADRID).zone):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(statement_lines(statement))
        assert statement_csv(statement) == buffer.getvalue()
