"""GET /api/households/<a>/statements[/<YYYY-MM>.pdf|.csv]: the household's own statements, generated on demand from
the indexer's events as `vatio statements --source db` writes them; private to the household and the admin."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader
from web_helpers import add_event, sign_in

from backend.chain.tariffs import TARIFFS_DIR, find_schedule
from backend.statements.compose import month_intervals
from backend.statements.generate import write_statements
from backend.statements.sources import events_from_db
from backend.tariffs.schema import load_schedule

S = 900
SPANISH = load_schedule(TARIFFS_DIR / "es-2.0td-example.toml")
MADRID = SPANISH.zone


def at(year, month, day, hour, minute=0) -> int:
    """The interval starting at this local (Madrid) time."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=MADRID).timestamp()) // S


@pytest.fixture
def seeded(sessions, community) -> dict:
    """A flat version 0 and the Spanish example from 2026-01-01; alice (a prosumer) sells to bob (a consumer) in
    February; one interval each in January; one February interval not closed on-chain (not billed)."""
    alice, bob = community.alice.address, community.bob.address
    tx = iter(range(1, 10_000))
    with sessions() as session:
        add_event(
            session,
            "TariffVersionAdded",
            {"version": "0", "scheduleHash": "0x" + "00" * 32, "effectiveFrom": "0"},
            block=1,
            tx=next(tx),
            log_index=0,
        )
        add_event(
            session,
            "TariffVersionAdded",
            {"version": "1", "scheduleHash": "0x" + SPANISH.source_hash.hex(), "effectiveFrom": str(at(2026, 1, 1, 0))},
            block=1,
            tx=next(tx),
            log_index=1,
        )
        add_event(
            session,
            "HouseholdRegistered",
            {"household": alice, "meter": "0x" + "a1" * 20, "capacityW": "4600"},
            block=2,
            tx=next(tx),
            log_index=0,
        )
        add_event(
            session,
            "HouseholdRegistered",
            {"household": bob, "meter": "0x" + "b1" * 20, "capacityW": "3300"},
            block=2,
            tx=next(tx),
            log_index=1,
        )
        block = 10
        intervals = [
            at(2026, 1, 20, 13),
            at(2026, 2, 3, 12),
            at(2026, 2, 3, 19),
            at(2026, 2, 14, 11),
            at(2026, 2, 20, 9),
        ]
        for number, interval_id in enumerate(intervals):
            block += 1
            settle_tx = next(tx)
            closed = number < len(intervals) - 1
            add_event(
                session,
                "Filled",
                {
                    "intervalId": str(interval_id),
                    "household": alice,
                    "side": "1",
                    "amountWh": "700",
                    "value": str(700 * 110),
                },
                block=block,
                tx=settle_tx,
                log_index=0,
            )
            add_event(
                session,
                "Filled",
                {
                    "intervalId": str(interval_id),
                    "household": bob,
                    "side": "0",
                    "amountWh": "700",
                    "value": str(700 * 110),
                },
                block=block,
                tx=settle_tx,
                log_index=1,
            )
            add_event(
                session,
                "HouseholdSettled",
                {
                    "intervalId": str(interval_id),
                    "household": alice,
                    "producedWh": str(1500 + 100 * number),
                    "consumedWh": "300",
                },
                block=block,
                tx=settle_tx,
                log_index=2,
            )
            add_event(
                session,
                "HouseholdSettled",
                {
                    "intervalId": str(interval_id),
                    "household": bob,
                    "producedWh": "0",
                    "consumedWh": str(900 + 50 * number),
                },
                block=block,
                tx=settle_tx,
                log_index=3,
            )
            if closed:
                add_event(
                    session, "IntervalSettled", {"intervalId": str(interval_id)}, block=block, tx=settle_tx, log_index=4
                )
        session.commit()
    return {"alice": alice, "bob": bob}


def _expected(sessions, tmp_path, household: str, month: str, lang: str):
    """What `vatio statements --source db --household <a> --month <m>` writes (its reader and writer)."""
    with sessions() as session:
        events = events_from_db(session, S, month_intervals(month, MADRID, S))
    [written] = write_statements(events, month, lambda h: find_schedule(h), MADRID, tmp_path, [household], lang)
    return written


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_a_household_lists_and_downloads_its_own_statements(client, community, seeded, sessions, tmp_path):
    alice = seeded["alice"]
    assert sign_in(client, community.alice).status_code == 200

    listing = client.get(f"/api/households/{alice}/statements")
    assert listing.status_code == 200, listing.get_json()
    body = listing.get_json()
    assert body["timeZone"] == "Europe/Madrid"
    assert [item["month"] for item in body["items"]] == ["2026-02", "2026-01"]
    february = body["items"][0]
    assert february["final"] is True and february["intervals"] == 3  # the unclosed interval is not billed
    expected = _expected(sessions, tmp_path / "es", alice, "2026-02", "es")
    assert Decimal(february["totalEur"]) == expected.total > 0
    assert Decimal(february["withoutCommunityEur"]) == expected.without
    assert Decimal(february["savingEur"]) == expected.saving == expected.without - expected.total

    csv = client.get(february["csv"])
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "attachment" in csv.headers["Content-Disposition"] and "no-store" in csv.headers["Cache-Control"]
    assert csv.data == expected.csv.read_bytes()  # the same file `vatio statements` writes
    assert {line.split(",")[0] for line in csv.data.decode().splitlines()[1:]} == {alice}  # nothing of bob's

    pdf = client.get(february["pdf"], headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data)
    spanish_total = f"{expected.total:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    assert "Resumen mensual de energía" in text and alice in text
    assert f"Con la comunidad {spanish_total} EUR" in " ".join(text.split())

    english = client.get(f"{february['pdf']}?lang=en", headers={"Accept-Language": "es"})
    text = " ".join(_pdf_text(english.data).split())
    assert "Monthly energy statement" in text and f"With the community {expected.total:,.2f} EUR" in text


def test_the_admin_reads_a_households_statement(client, community, seeded):
    assert sign_in(client, community.admin).status_code == 200
    response = client.get(f"/api/households/{seeded['bob']}/statements/2026-01.csv")
    assert response.status_code == 200
    assert response.data.decode().splitlines()[1].startswith(seeded["bob"] + ",2026-01,")


def test_statements_are_private(client, community, seeded):
    alice = seeded["alice"]
    for path in (
        f"/api/households/{alice}/statements",
        f"/api/households/{alice}/statements/2026-02.pdf",
        f"/api/households/{alice}/statements/2026-02.csv",
    ):
        response = client.get(path)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "not_signed_in"
    assert sign_in(client, community.bob).status_code == 200
    for path in (f"/api/households/{alice}/statements", f"/api/households/{alice}/statements/2026-02.pdf"):
        response = client.get(path)
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_bad_months_and_languages_are_refused(client, community, seeded):
    alice = seeded["alice"]
    assert sign_in(client, community.alice).status_code == 200
    for month in ("2026-13", "2026-2", "26-02", "february"):
        response = client.get(f"/api/households/{alice}/statements/{month}.pdf")
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_month", month
    response = client.get(f"/api/households/{alice}/statements/2026-02.pdf?lang=fr")
    assert response.status_code == 400 and "lang must be one of" in response.get_json()["error"]["message"]
    response = client.get(f"/api/households/{alice}/statements/2025-12.pdf")  # nothing settled then
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "no_statement"


def test_no_schedule_on_chain_means_no_statements(client, community):
    assert sign_in(client, community.alice).status_code == 200
    body = client.get(f"/api/households/{community.alice.address}/statements").get_json()
    assert body["items"] == [] and "no tariff schedule" in body["note"]
    response = client.get(f"/api/households/{community.alice.address}/statements/2026-02.csv")
    assert response.status_code == 404
