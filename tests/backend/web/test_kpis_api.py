"""GET /api/households/<a>/kpis and /api/community/kpis: the KPIs of docs/kpis.md per local day and month, from
the indexer's events and the tariff file, on the statements' example community (test_statements_api.seeded):
alice (a prosumer) sells 700 Wh to bob (a consumer) in each settled interval."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from test_statements_api import seeded  # noqa: F401 - the fixture, shared with the statements' tests
from web_helpers import sign_in


def test_a_households_day_by_hand(client, community, seeded):  # noqa: F811
    bob = seeded["bob"]
    assert sign_in(client, community.bob).status_code == 200
    # 2026-02-03 (a Tuesday): 12:00 and 19:00, both P1; bob consumed 950 and 1000 Wh, bought 700 Wh in each.
    body = client.get(f"/api/households/{bob}/kpis?period=day&date=2026-02-03").get_json()
    assert (body["period"], body["date"], body["timeZone"], body["intervals"]) == (
        "day",
        "2026-02-03",
        "Europe/Madrid",
        2,
    )
    kpis = body["kpis"]
    assert kpis["consumedWh"] == 1950 and kpis["producedWh"] == 0
    assert kpis["boughtWh"] == 1400 and kpis["soldWh"] == 0
    assert kpis["gridImportWh"] == 250 + 300 and kpis["gridExportWh"] == 0
    assert kpis["selfSufficiency"] == round(float(Fraction(1400, 1950)), 6)
    assert kpis["selfConsumption"] is None  # no production: no denominator
    assert Decimal(kpis["peakImportKw"]) == Decimal("4")  # 1000 Wh in 15 minutes
    assert Decimal(kpis["co2AvoidedKg"]) == Decimal("0.168")  # 1.4 kWh bought x P1's 0.12 kg/kWh
    saving = Decimal(kpis["billWithoutEur"]) - Decimal(kpis["billWithEur"])
    assert Decimal(kpis["savingEur"]) == saving > 0  # 0.110 EUR/kWh in the community against P1's 0.165 + grid


def test_a_households_month_is_its_statement(client, community, seeded):  # noqa: F811
    alice = seeded["alice"]
    assert sign_in(client, community.alice).status_code == 200
    body = client.get(f"/api/households/{alice}/kpis?date=2026-02").get_json()
    [february] = [
        i for i in client.get(f"/api/households/{alice}/statements").get_json()["items"] if i["month"] == "2026-02"
    ]
    assert body["period"] == "month" and body["final"] is True and body["intervals"] == february["intervals"] == 3
    kpis = body["kpis"]
    assert kpis["billWithEur"] == february["totalEur"]
    assert kpis["billWithoutEur"] == february["withoutCommunityEur"]
    assert kpis["savingEur"] == february["savingEur"]
    # produced 1600 + 1700 + 1800, used 300 at home in each, sold 700 in each
    assert kpis["producedWh"] == 5100 and kpis["soldWh"] == 2100
    assert kpis["selfConsumption"] == round(float(Fraction(900 + 2100, 5100)), 6)
    empty = client.get(f"/api/households/{alice}/kpis?date=2025-11").get_json()
    assert empty["kpis"] is None and empty["intervals"] == 0


def test_the_communitys_day_sums_its_members(client, seeded):  # noqa: F811
    body = client.get("/api/community/kpis?period=day&date=2026-02-03").get_json()
    assert body["households"] == 2 and body["intervals"] == 2
    kpis = body["kpis"]
    assert kpis["consumedWh"] == 600 + 1950 and kpis["producedWh"] == 3300
    assert kpis["boughtWh"] == kpis["soldWh"] == 1400
    # home-used own production (alice 300 + 300) + community energy used (bob 1400), over consumption
    assert kpis["selfSufficiency"] == round(float(Fraction(600 + 1400, 2550)), 6)
    assert Decimal(kpis["peakImportKw"]) == Decimal("4")  # the coincident deficit: bob's 1000 Wh at 19:00
    alice = client.get("/api/community/kpis?period=day&date=2026-02-03").get_json()  # cached, the same
    assert alice == body


def test_bad_periods_and_privacy(client, community, seeded):  # noqa: F811
    bob = seeded["bob"]
    for query in ("period=week", "period=day&date=2026-02-30", "period=day&date=2026-02", "date=2026-13"):
        response = client.get(f"/api/community/kpis?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert client.get(f"/api/households/{bob}/kpis").status_code == 401
    assert sign_in(client, community.alice).status_code == 200
    assert client.get(f"/api/households/{bob}/kpis").status_code == 403
