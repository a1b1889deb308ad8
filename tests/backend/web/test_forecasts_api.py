"""Forecast and recommendation endpoints: P10/P50/P90 beside the actual values, the community outlook,
one household's advice; who may read what; bad input; the summary's forecast totals."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from web_helpers import add_meter, add_reading, sign_in

from backend.forecast.advice import (
    Tariffs,
    advice_json,
    outlook_json,
    stored_community_outlook,
    stored_household_advice,
)
from backend.forecast.history import DbHistory
from backend.forecast.store import forecast_hours, forecasts_issued_before, load_forecasts, save_forecasts
from backend.web.actuals import hourly_actuals

HOUR = 3600
QUARTER = 900


@pytest.fixture(autouse=True)
def _empty_tables_afterwards(make_app):
    """make_app empties every table when the test ends, app or not."""


@pytest.fixture
def run(sessions, community):
    """Alice (PV) makes 400 Wh and uses 200 Wh an hour; Bob uses 300 Wh an hour; one 24 h run issued 3 h ago.

    Readings every 15 minutes from a quarter before the run to the last quarter before now, so the run's
    first three hours are over and measured exactly.
    """
    alice, bob = community.alice.address, community.bob.address
    now = int(time.time())
    issued_at = (now // HOUR - 3) * HOUR
    with sessions() as session:
        add_meter(session, alice, community.meters[alice].address)
        add_meter(session, bob, community.meters[bob].address)
        for step, ts in enumerate(range(issued_at - QUARTER, now // QUARTER * QUARTER + 1, QUARTER)):
            add_reading(session, alice, community.meters[alice].address, step, ts, 100 * step, 50 * step)
            add_reading(session, bob, community.meters[bob].address, step, ts, 0, 75 * step)
        older = issued_at - HOUR
        for household, kind, p10, p50, p90 in (
            (alice, "load", 0.15, 0.2, 0.26),
            (alice, "pv", 0.3, 0.4, 0.5),
            (bob, "load", 0.25, 0.3, 0.35),
            (None, "load", 0.4, 0.5, 0.6),
            (None, "pv", 0.3, 0.4, 0.5),
        ):
            save_forecasts(
                session, forecast_hours(issued_at, household, kind, [p10] * 24, [p50] * 24, [p90] * 24, "test/1")
            )
            save_forecasts(
                session,
                forecast_hours(older, household, kind, [p10 * 2] * 24, [p50 * 2] * 24, [p90 * 2] * 24, "test/0"),
            )
        save_forecasts(
            session, forecast_hours(issued_at, None, "load", [0.4] * 168, [0.5] * 168, [0.6] * 168, "test/1")
        )
        session.commit()
    return issued_at


def test_community_forecast_is_public_with_actuals_for_the_hours_already_over(client, run):
    body = client.get("/api/community/forecast").get_json()
    assert body["issuedAt"] == run and body["horizonH"] == 24 and body["household"] is None
    series = {entry["kind"]: entry for entry in body["series"]}
    assert set(series) == {"load", "pv"} and all(entry["household"] is None for entry in body["series"])
    load = series["load"]
    assert load["hourStarts"] == [run + HOUR * k for k in range(24)]
    assert (load["p10Wh"][0], load["p50Wh"][0], load["p90Wh"][0]) == (400, 500, 600)
    assert load["actualWh"][:3] == [500, 500, 500] and load["actualWh"][3:] == [None] * 21
    assert series["pv"]["actualWh"][:3] == [400, 400, 400]
    assert body["past"] is None


def test_an_older_run_and_the_hours_before_it(client, run):
    body = client.get(f"/api/community/forecast?at={run - 1}&past=2").get_json()
    assert body["issuedAt"] == run - HOUR
    load = next(entry for entry in body["series"] if entry["kind"] == "load")
    assert load["p50Wh"][0] == 1000 and load["actualWh"][:4] == [None, 500, 500, 500]  # no reading before run-1h
    assert body["past"]["hourStarts"] == [run - 3 * HOUR, run - 2 * HOUR]
    assert body["past"]["consumedWh"] == [None, None]
    week = client.get("/api/community/forecast?horizon=168").get_json()
    assert week["horizonH"] == 168 and len(week["series"][0]["hourStarts"]) == 168


def test_each_past_hour_keeps_the_forecast_issued_before_it(client, sessions, run):
    """Real against predicted for the same hours: each hour's values come from the newest run issued at or
    before its start, never from a run issued after it began."""
    with sessions() as session:
        hours = forecasts_issued_before(session, 24, run - 2 * HOUR, run + 2 * HOUR)
    load = [(h.target_ts, h.issued_at, h.p50_wh) for h in hours if h.kind == "load"]
    # run - 2h: no run had been issued yet; run - 1h: the older run only; from the run on: the newer run
    assert load == [(run - HOUR, run - HOUR, 1000), (run, run, 500), (run + HOUR, run, 500)]
    assert {h.household for h in hours} == {None}

    body = client.get("/api/community/forecast?past=3").get_json()
    assert body["issuedAt"] == run and body["past"]["hourStarts"] == [run - 3 * HOUR, run - 2 * HOUR, run - HOUR]
    past = {entry["kind"]: entry for entry in body["past"]["forecast"]}
    assert past["load"]["hourStarts"] == [run - HOUR] and past["load"]["p50Wh"] == [1000]
    assert past["load"]["issuedAt"] == [run - HOUR] and past["pv"]["p50Wh"] == [800]


def test_household_forecast_and_recommendations_are_private(app, community, run):
    alice = community.alice.address
    for suffix in ("/forecast", "/recommendations"):
        assert app.test_client().get(f"/api/households/{alice}{suffix}").status_code == 401
        bob = app.test_client()
        sign_in(bob, community.bob)
        response = bob.get(f"/api/households/{alice}{suffix}")
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
        admin = app.test_client()
        sign_in(admin, community.admin)
        assert admin.get(f"/api/households/{alice.lower()}{suffix}").status_code == 200


def test_household_forecast_has_only_its_own_series(client, community, run):
    alice = community.alice.address
    sign_in(client, community.alice)
    body = client.get(f"/api/households/{alice}/forecast?past=1").get_json()
    assert body["household"] == alice and body["issuedAt"] == run
    series = {entry["kind"]: entry for entry in body["series"]}
    assert set(series) == {"load", "pv"} and {entry["household"] for entry in body["series"]} == {alice}
    assert series["load"]["actualWh"][:4] == [200, 200, 200, None]
    assert series["pv"]["actualWh"][:3] == [400, 400, 400]
    assert body["past"] == {
        "hourStarts": [run - HOUR],
        "consumedWh": [None],
        "producedWh": [None],
        # what the run issued at that hour's start (the older one) predicted for it
        "forecast": [
            {
                "kind": "load",
                "hourStarts": [run - HOUR],
                "issuedAt": [run - HOUR],
                "p10Wh": [300],
                "p50Wh": [400],
                "p90Wh": [520],
            },
            {
                "kind": "pv",
                "hourStarts": [run - HOUR],
                "issuedAt": [run - HOUR],
                "p10Wh": [600],
                "p50Wh": [800],
                "p90Wh": [1000],
            },
        ],
    }


def test_recommendations_are_the_forecast_packages_advice(client, sessions, community, run):
    alice = community.alice.address
    sign_in(client, community.alice)
    body = client.get(f"/api/households/{alice}/recommendations").get_json()
    assert body["issuedAt"] == run and body["tariffs"] == {
        "feedInPrice": 50_000,
        "retailPrice": 200_000,
        "source": "chain",
    }
    with sessions() as session:
        expected = stored_household_advice(
            load_forecasts(session, 24, run), alice, Tariffs(50_000, 200_000), 24, from_ts=body["asOf"]
        )
    assert body["advice"] == advice_json(expected)
    advice = body["advice"]
    first = (body["asOf"] // HOUR) * HOUR
    assert advice["hourStarts"][0] == first and advice["netP50Wh"][0] == 200
    assert advice["sellWindows"] == [
        {
            "side": "sell",
            "start": first,
            "end": run + 24 * HOUR,
            "energyWh": 200 * len(advice["hourStarts"]),
            "confidentWh": 40 * len(advice["hourStarts"]),
        }
    ]
    # The community is short 300 against a surplus of 200 each hour: 50000 + 0.6 * 150000.
    assert advice["sellLimitPricePerKwh"] == 140_000
    [order] = body["orders"]
    assert (
        order["side"] == "ask"
        and order["limitPrice"] == 140_000
        and order["amountWh"] == 40 * len(advice["hourStarts"])
    )
    assert order["validFrom"] == max(first // 900, int(time.time()) // 900)
    assert order["validTo"] == (run + 24 * HOUR) // 900 - 1
    # Its worth against exporting at feed-in, if it fills at its limit: (140000 - 50000) per kWh.
    assert order["value"] == round(order["amountWh"] * 90_000 / 1000)
    assert body["alpha"] == 0.1


def test_the_household_sets_its_shortfall_rate(client, sessions, community, run):
    """alpha reaches the advice: a smaller shortfall rate sells less, and each order's value follows its amount."""
    alice = community.alice.address
    sign_in(client, community.alice)
    bodies = {
        alpha: client.get(f"/api/households/{alice}/recommendations?alpha={alpha}").get_json()
        for alpha in (0.02, 0.1, 0.3)
    }
    with sessions() as session:
        hours = load_forecasts(session, 24, run)
    for alpha, body in bodies.items():
        assert body["alpha"] == alpha
        expected = stored_household_advice(
            hours, alice, Tariffs(50_000, 200_000), 24, from_ts=body["asOf"], alpha=alpha
        )
        assert body["advice"] == advice_json(expected)
    # Alice makes 300-500 Wh an hour and uses 150-260 Wh: at 2% the cautious surplus is none, so no order
    # (the P50 quantity would break the rate); at 30% it is more than at 10%.
    assert bodies[0.02]["advice"]["sellWindows"][0]["confidentWh"] == 0 and bodies[0.02]["orders"] == []
    sold = {alpha: bodies[alpha]["orders"][0]["amountWh"] for alpha in (0.1, 0.3)}
    assert 0 < sold[0.1] < sold[0.3]
    assert sold[0.1] == bodies[0.1]["advice"]["sellWindows"][0]["confidentWh"]
    values = {alpha: bodies[alpha]["orders"][0]["value"] for alpha in (0.1, 0.3)}
    assert 0 < values[0.1] < values[0.3]


def test_a_bad_shortfall_rate_is_refused_with_a_clear_message(client, community, run):
    alice = community.alice.address
    sign_in(client, community.alice)
    for bad in ("0", "0.5", "0.7", "-0.1", "nan", "inf", "ten", ""):
        response = client.get(f"/api/households/{alice}/recommendations?alpha={bad}")
        error = response.get_json()["error"]
        assert response.status_code == 400 and error["code"] == "invalid_parameter", bad
        assert "alpha" in error["message"] and "0.5" in error["message"], bad


def test_outlook_lists_the_households_expected_to_be_short(client, sessions, community, run):
    body = client.get("/api/community/outlook").get_json()
    with sessions() as session:
        expected = outlook_json(stored_community_outlook(load_forecasts(session, 24, run), 24, from_ts=body["asOf"]))
    hours = len(body["hourStarts"])
    assert body["issuedAt"] == run and body["shortHouseholdsTotal"] == 1
    assert {key: body[key] for key in expected} == expected
    [short] = body["shortHouseholds"]
    assert short["household"] == community.bob.address and short["totalDeficitWh"] == 300 * hours
    assert body["availableForSaleWh"] == 200 * hours
    week = client.get("/api/community/outlook?horizon=168").get_json()  # the week run has no household series
    assert week["issuedAt"] == run and week["hourStarts"] == [] and week["shortHouseholdsTotal"] == 0


def test_summary_carries_the_forecast_totals(client, run):
    forecast = client.get("/api/community/summary").get_json()["forecast"]
    day = forecast["next24h"]
    hours = day["hours"]
    assert day["issuedAt"] == run and day["to"] == run + 24 * HOUR and hours == (day["to"] - day["from"]) // HOUR
    assert day["consumedWh"] == {"p10": 400 * hours, "p50": 500 * hours, "p90": 600 * hours}
    assert day["producedWh"]["p50"] == 400 * hours
    assert (day["surplusWh"], day["deficitWh"], day["shortHouseholds"]) == (200 * hours, 300 * hours, 1)
    week = forecast["next7d"]
    assert week["consumedWh"]["p50"] == 500 * week["hours"] and week["shortHouseholds"] == 0


def test_no_run_yet_gives_empty_answers(app, client, community):
    sign_in(client, community.alice)
    alice = community.alice.address
    assert client.get("/api/community/forecast").get_json()["series"] == []
    assert client.get(f"/api/households/{alice}/forecast").get_json()["issuedAt"] is None
    assert client.get(f"/api/households/{alice}/recommendations").get_json()["advice"] is None
    assert client.get("/api/community/outlook").get_json()["shortHouseholds"] == []
    assert client.get("/api/community/summary").get_json()["forecast"] == {"next24h": None, "next7d": None}


def test_bad_parameters_are_refused(client, community, run):
    sign_in(client, community.alice)
    cases = {
        "/api/community/forecast?horizon=12": "invalid_parameter",
        "/api/community/forecast?horizon=x": "invalid_parameter",
        "/api/community/forecast?horizon=-24": "invalid_parameter",
        "/api/community/forecast?at=yesterday": "invalid_range",
        "/api/community/forecast?past=169": "invalid_parameter",
        "/api/community/forecast?past=-1": "invalid_parameter",
        "/api/community/outlook?limit=0": "invalid_pagination",
        "/api/community/outlook?limit=100000": "invalid_pagination",
        f"/api/households/{community.alice.address}/recommendations?horizon=25": "invalid_parameter",
        "/api/households/0x123/forecast": "invalid_address",
        "/api/households/0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2/recommendations": "invalid_address",
    }
    for url, code in cases.items():
        response = client.get(url)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == code, url


def test_actuals_follow_the_forecasters_history_rule(sessions, community):
    """The web's actual values equal the forecaster's own hourly history, gaps and the community rule included."""
    alice, bob = community.alice.address, community.bob.address
    start = (int(time.time()) // HOUR - 30) * HOUR
    with sessions() as session:
        add_meter(session, alice, community.meters[alice].address)
        add_meter(session, bob, community.meters[bob].address)
        for step in range(0, 24 * 6):  # every 10 minutes, irregular registers, Alice silent in hour 5
            ts = start + 600 * step + 37
            if not 5 * 6 <= step < 6 * 6:
                add_reading(
                    session, alice, community.meters[alice].address, step, ts, 7 * step + step * step % 5, 11 * step
                )
            if step >= 20:  # Bob joins later
                add_reading(session, bob, community.meters[bob].address, step, ts, 0, 13 * step + step % 3)
        session.commit()
    hour_starts = [start + HOUR * k for k in range(26)]
    until = start + 24 * HOUR
    expected = DbHistory(sessions, history_days=None).load(pd.Timestamp(until, unit="s", tz="UTC"))
    with sessions() as session:
        community_actual = hourly_actuals(session, hour_starts, until)
        alice_actual = hourly_actuals(session, hour_starts, until, alice)

    def wh(series, k):
        value = series.iloc[k] if k < len(series) else float("nan")
        return None if value != value else round(value * 1000)

    assert community_actual["consumedWh"][:24] == [wh(expected.community.consumed_kw, k) for k in range(24)]
    assert community_actual["producedWh"][:24] == [wh(expected.community.produced_kw, k) for k in range(24)]
    alice_history = next(h for h in expected.households if h.household == alice)
    assert alice_actual["consumedWh"][:24] == [wh(alice_history.consumed_kw, k) for k in range(24)]
    assert alice_actual["consumedWh"][5] is None and community_actual["consumedWh"][5] is None
    assert community_actual["consumedWh"][24:] == [None, None]  # not over by `until`


def test_a_run_read_as_rows_is_what_the_store_loads(sessions, run):
    from backend.web.forecast_runs import run_hours

    with sessions() as session:
        for horizon in (24, 168):
            assert run_hours(session, horizon, run) == load_forecasts(session, horizon, run)
        later = run_hours(session, 24, run, first_hour=run + 2 * HOUR)
        assert later == [h for h in load_forecasts(session, 24, run) if h.target_ts >= run + 2 * HOUR]


def _closed(schema, components: dict):
    """The schema with every $ref inlined and every described object closed: a field the description does not
    name fails validation (schemathesis lets unknown fields through, so a field could be served undescribed)."""
    if isinstance(schema, list):
        return [_closed(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _closed(components[schema["$ref"].rsplit("/", 1)[1]], components)
    closed = {key: _closed(value, components) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


def test_the_forecast_answers_are_exactly_what_the_description_says(client, community, run):
    """Every field of the forecast and recommendation answers (the past block's forecast and each order's value
    included) is in /api/openapi.json with its type, and nothing else is served."""
    import jsonschema_rs

    spec = client.get("/api/openapi.json").get_json()
    components = spec["components"]["schemas"]
    alice = community.alice.address
    sign_in(client, community.alice)
    for path, url in (
        ("/api/community/forecast", "/api/community/forecast?past=3"),
        ("/api/households/{address}/forecast", f"/api/households/{alice}/forecast?past=3"),
        ("/api/households/{address}/recommendations", f"/api/households/{alice}/recommendations?alpha=0.2"),
    ):
        body = client.get(url).get_json()
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        closed = _closed(schema, components)
        errors = [f"{e.instance_path}: {e.message}" for e in jsonschema_rs.iter_errors(closed, body)]
        assert errors == [], url
    past = client.get("/api/community/forecast?past=3").get_json()["past"]
    assert past["forecast"] and all(entry["p50Wh"] for entry in past["forecast"])  # the block was there to check
    orders = client.get(f"/api/households/{alice}/recommendations").get_json()["orders"]
    assert orders and all("value" in order for order in orders)
