"""Statements from chain events against the hand-computed examples (docs/kpis.md), their PDF read back, and the
statement audit catching a tampered line, a tampered tariff file and a missing interval."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from backend.statements.audit import audit_statements
from backend.statements.compose import (
    FLAT_HASH,
    Closed,
    FillEvent,
    MonthEvents,
    Registered,
    Settled,
    VersionAdded,
    build_statements,
)
from backend.statements.files import read_csv, statement_dir, write_csv
from backend.statements.generate import write_statements
from backend.statements.pdf import render_pdf
from backend.tariffs.schema import parse_schedule

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "tariffs" / "hand.toml"
S = 900
CONSUMER, PROSUMER = "0x" + "aa" * 20, "0x" + "bb" * 20
CAPACITY_TEXT = FIXTURE.read_bytes() + b'\n[capacity]\nper_kw_month = "4.00"\nminimum_kw = "2.5"\n'
MADRID_TEXT = FIXTURE.read_bytes().replace(b'timezone = "UTC"', b'timezone = "Europe/Madrid"')


def at(year, month, day, hour, minute=0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()) // S


def tx(interval_id: int) -> str:
    return "0x" + f"{interval_id:064x}"


def events_for(text: bytes, settled, fills=(), capacity=None) -> tuple[MonthEvents, dict]:
    schedule = parse_schedule(text)
    events = MonthEvents(S)
    events.add(VersionAdded(0, FLAT_HASH, 0))
    events.add(VersionAdded(1, schedule.source_hash, at(2026, 1, 1, 0)))
    for household, kw in (capacity or {CONSUMER: 3000, PROSUMER: 4000}).items():
        events.add(Registered(household, kw))
    for entry in settled:
        events.add(entry)
        events.add(Closed(entry.interval_id, tx(entry.interval_id)))
    for fill in fills:
        events.add(fill)
    return events, {schedule.source_hash: schedule}


def hand_month():
    settled = [
        Settled(at(2026, 2, 5, 9), CONSUMER, 0, 1000),
        Settled(at(2026, 2, 5, 2), CONSUMER, 0, 500),
        Settled(at(2026, 2, 5, 12), PROSUMER, 3000, 1000),
        Settled(at(2026, 2, 5, 19), PROSUMER, 200, 1200),
        Settled(at(2026, 2, 5, 3), PROSUMER, 0, 400),
    ]
    fills = [
        FillEvent(at(2026, 2, 5, 12), PROSUMER, 1, 1500, 180_000),
        FillEvent(at(2026, 2, 5, 19), PROSUMER, 0, 600, 90_000),
    ]
    return events_for(FIXTURE.read_bytes(), settled, fills)


def by_household(statements):
    return {s.household: s for s in statements}


def test_pure_consumer_and_prosumer_statements_match_the_hand_examples():
    events, schedules = hand_month()
    statements = by_household(build_statements(events, "2026-02", schedules.__getitem__, dt.UTC))
    consumer, prosumer = statements[CONSUMER], statements[PROSUMER]
    assert consumer.bill.total == Decimal("2.06") and consumer.saving == 0
    assert prosumer.bill.total == Decimal("1.85") and prosumer.without.total == Decimal("2.02")
    assert prosumer.saving == Decimal("0.17")
    assert [e.tx_hash for e in prosumer.intervals] == [tx(at(2026, 2, 5, h)) for h in (3, 12, 19)]
    assert prosumer.contracted_kw == Decimal(4)


def test_intervals_outside_the_month_or_not_closed_are_left_out():
    events, schedules = hand_month()
    events.add(Settled(at(2026, 3, 1, 9), CONSUMER, 0, 9_999))  # next month
    events.add(Closed(at(2026, 3, 1, 9), tx(1)))
    events.add(Settled(at(2026, 2, 6, 9), CONSUMER, 0, 9_999))  # never closed (chunks pending)
    consumer = by_household(build_statements(events, "2026-02", schedules.__getitem__, dt.UTC))[CONSUMER]
    assert consumer.bill.total == Decimal("2.06")


def test_dst_month_statement():
    settled = [
        Settled(at(2026, 3, 27, 7), CONSUMER, 0, 1000),
        Settled(at(2026, 3, 30, 6), CONSUMER, 0, 1000),
        Settled(at(2026, 3, 30, 5, 45), CONSUMER, 0, 1000),
        # 2026-03-31 22:15 UTC is 2026-04-01 00:15 in Madrid: April's, not March's
        Settled(at(2026, 3, 31, 22, 15), CONSUMER, 0, 5000),
    ]
    events, schedules = events_for(MADRID_TEXT, settled)
    zone = next(iter(schedules.values())).zone
    consumer = build_statements(events, "2026-03", schedules.__getitem__, zone)[0]
    assert consumer.bill.total == Decimal("2.82")
    assert len(consumer.intervals) == 3


def test_capacity_charge_month_statement():
    events, schedules = events_for(
        CAPACITY_TEXT, [Settled(at(2026, 2, 5, 9), CONSUMER, 0, 1000), Settled(at(2026, 2, 5, 2), CONSUMER, 0, 500)]
    )
    consumer = build_statements(events, "2026-02", schedules.__getitem__, dt.UTC)[0]
    assert consumer.bill.amount("capacity") == Decimal("16.00")
    assert consumer.bill.total == Decimal("21.42")
    assert consumer.kpis.peak_import_kw == Decimal("4.000")


@pytest.mark.parametrize(
    "lang, words", [("en", ["Monthly energy statement", "Saving"]), ("es", ["Resumen mensual de energía", "Ahorro"])]
)
def test_the_pdf_reads_back_with_its_totals_and_transactions(tmp_path, lang, words):
    events, schedules = hand_month()
    prosumer = by_household(build_statements(events, "2026-02", schedules.__getitem__, dt.UTC))[PROSUMER]
    path = render_pdf(prosumer, tmp_path / "p.pdf", lang, dt.UTC, S, "hand")
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    for word in words:
        assert word in text
    assert ("1.85" if lang == "en" else "1,85") in text and ("2.02" if lang == "en" else "2,02") in text
    assert tx(at(2026, 2, 5, 19)) in text


def write_month(tmp_path):
    events, schedules = hand_month()
    write_statements(events, "2026-02", schedules.__getitem__, dt.UTC, tmp_path, pdf=False)
    return events, schedules, statement_dir(tmp_path, "2026-02")


def test_untouched_statements_audit_clean(tmp_path):
    events, schedules, folder = write_month(tmp_path)
    checked, problems = audit_statements(folder, "2026-02", events, schedules.__getitem__)
    assert (checked, problems) == (2, [])


def test_the_audit_names_a_tampered_line_with_both_values(tmp_path):
    events, schedules, folder = write_month(tmp_path)
    path = folder / f"{PROSUMER}.csv"
    path.write_text(
        path.read_text().replace(
            "with,1,peak,grid_import_energy,0.400,kWh,0.20,0.08", "with,1,peak,grid_import_energy,0.400,kWh,0.20,0.07"
        )
    )
    _, problems = audit_statements(folder, "2026-02", events, schedules.__getitem__)
    assert problems == [
        f"household {PROSUMER}: line with:v1:peak:grid_import_energy amount_eur: statement '0.07', re-derived '0.08'"
    ]


def test_the_audit_catches_a_missing_interval_and_a_missing_statement(tmp_path):
    events, schedules, folder = write_month(tmp_path)
    path = folder / f"{PROSUMER}.csv"
    interval = at(2026, 2, 5, 3)
    path.write_text(
        "".join(line for line in path.read_text().splitlines(keepends=True) if f",interval,,,{interval}," not in line)
    )
    (folder / f"{CONSUMER}.csv").unlink()
    _, problems = audit_statements(folder, "2026-02", events, schedules.__getitem__)
    assert (
        f"household {PROSUMER}: settled interval interval:{interval} is missing from the statement "
        f"(re-derived {tx(interval)})" in problems
    )
    assert any(p.startswith(f"household {CONSUMER}: settled intervals in 2026-02 but no statement") for p in problems)


def test_the_audit_catches_a_tampered_tariff_file(tmp_path):
    from backend.chain.tariffs import find_schedule

    events, schedules, folder = write_month(tmp_path)
    tariffs = tmp_path / "tariffs"
    tariffs.mkdir()
    shutil.copy(FIXTURE, tariffs / "hand.toml")
    checked, problems = audit_statements(folder, "2026-02", events, lambda h: find_schedule(h, [tariffs]))
    assert problems == []
    (tariffs / "hand.toml").write_bytes(
        FIXTURE.read_bytes().replace(b'retail_import = "0.20"', b'retail_import = "0.19"')
    )
    _, problems = audit_statements(folder, "2026-02", events, lambda h: find_schedule(h, [tariffs]))
    assert len(problems) == 1 and "has the on-chain hash" in problems[0] and "changed or is missing" in problems[0]


def test_a_csv_round_trips_and_a_foreign_csv_is_refused(tmp_path):
    events, schedules = hand_month()
    statement = build_statements(events, "2026-02", schedules.__getitem__, dt.UTC)[0]
    rows = read_csv(write_csv(statement, tmp_path))
    assert rows[-1]["section"] == "interval"
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a statement CSV"):
        read_csv(tmp_path / "x.csv")


def test_a_bad_month_is_refused():
    events, schedules = hand_month()
    with pytest.raises(ValueError, match="YYYY-MM"):
        build_statements(events, "2026-13", schedules.__getitem__, dt.UTC)
