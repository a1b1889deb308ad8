"""Advice over stored forecast hours: the functions the web API serves, on hand-made runs with known answers."""

import pytest

from backend.forecast.advice import (
    ForecastHour,
    Tariffs,
    advice_json,
    forecasts_from_hours,
    outlook_json,
    series_json,
    stored_community_outlook,
    stored_household_advice,
)

ISSUED = 1_790_002_800
ALICE = "0xA11CE00000000000000000000000000000000001"
BOB = "0xB0B0000000000000000000000000000000000002"
TARIFFS = Tariffs(feed_in_price_per_kwh=80_000, retail_price_per_kwh=250_000)


def hours_of(household, kind, p10, p50, p90, issued=ISSUED, horizon=24):
    return [
        ForecastHour(issued, household, kind, horizon, issued + 3600 * k, lo, mid, hi, f"{kind}-24h/v1")
        for k, (lo, mid, hi) in enumerate(zip(p10, p50, p90, strict=True))
    ]


def stored_run(issued=ISSUED):
    consumed = [300, 300, 200, 200, 500, 500]
    produced = [0, 0, 1000, 800, 100, 0]
    return (
        hours_of(ALICE, "load", [c - 100 for c in consumed], consumed, [c + 100 for c in consumed], issued)
        + hours_of(ALICE, "pv", [p // 2 for p in produced], produced, [p * 6 // 5 for p in produced], issued)
        + hours_of(BOB, "load", [100] * 6, [100, 100, 400, 400, 100, 100], [100] * 6, issued)
        + hours_of(None, "load", [300] * 6, [400] * 6, [500] * 6, issued)
    )


def test_household_advice_from_stored_hours():
    advice = stored_household_advice(stored_run(), ALICE.lower(), TARIFFS)
    assert advice.household == ALICE
    document = advice_json(advice)
    assert document["hourStarts"][0] == ISSUED
    assert document["netP50Wh"] == [-300, -300, 800, 600, -400, -500]
    assert document["netLowWh"] == [-400, -400, 200, 100, -550, -600]
    assert document["sellWindows"] == [
        {"side": "sell", "start": ISSUED + 2 * 3600, "end": ISSUED + 4 * 3600, "energyWh": 1400, "confidentWh": 300}
    ]
    assert [(w["start"], w["energyWh"]) for w in document["buyWindows"]] == [(ISSUED, 600), (ISSUED + 4 * 3600, 900)]
    # Sell hours 2-3: community surplus 1400 against deficit 800 (Bob) -> 800/2200 of the spread.
    assert document["sellLimitPricePerKwh"] == round(80_000 + 800 / 2200 * 170_000)
    assert document["buyLimitPricePerKwh"] == 250_000
    assert stored_household_advice(stored_run(), "0x" + "99" * 20, TARIFFS) is None


def test_community_outlook_from_stored_hours_lists_who_is_short():
    document = outlook_json(stored_community_outlook(stored_run()))
    assert document["surplusWh"] == [0, 0, 800, 600, 0, 0]
    assert document["deficitWh"] == [400, 400, 400, 400, 500, 600]
    assert (document["availableForSaleWh"], document["totalDeficitWh"]) == (1400, 2700)
    assert [(s["household"], s["totalDeficitWh"]) for s in document["shortHouseholds"]] == [(ALICE, 1500), (BOB, 1200)]
    assert document["shortHouseholds"][1]["hours"][2] == {"start": ISSUED + 2 * 3600, "deficitWh": 400}


def test_hours_already_begun_are_dropped_from_the_current_hour():
    outlook = stored_community_outlook(stored_run(), from_ts=ISSUED + 2 * 3600 + 1500)
    assert outlook_json(outlook)["hourStarts"][0] == ISSUED + 2 * 3600
    assert outlook.available_for_sale_wh == 1400 and outlook.total_deficit_wh == 2700 - 800


def test_the_community_series_is_kept_apart_and_consumers_have_no_production():
    households, community = forecasts_from_hours(stored_run())
    assert [f.household for f in households] == [ALICE, BOB]
    assert community.household == "community" and list(community.consumed_p50_wh) == [400] * 6
    assert households[1].produced_p50_wh is None


def test_hours_of_several_runs_are_refused():
    with pytest.raises(ValueError, match="several runs"):
        forecasts_from_hours(stored_run() + stored_run(ISSUED + 3600))


def test_an_empty_run_gives_an_empty_outlook():
    assert outlook_json(stored_community_outlook([])) == {
        "hourStarts": [],
        "surplusWh": [],
        "deficitWh": [],
        "availableForSaleWh": 0,
        "totalDeficitWh": 0,
        "shortHouseholds": [],
    }
    assert series_json([]) == {"issuedAt": None, "horizonH": None, "series": []}


def test_series_json_gives_one_chart_series_per_household_and_kind():
    document = series_json(stored_run())
    assert (document["issuedAt"], document["horizonH"]) == (ISSUED, 24)
    assert [(s["household"], s["kind"]) for s in document["series"]] == [
        (None, "load"),
        (ALICE, "load"),
        (ALICE, "pv"),
        (BOB, "load"),
    ]
    alice_pv = document["series"][2]
    assert alice_pv["p50Wh"] == [0, 0, 1000, 800, 100, 0] and alice_pv["hourStarts"][1] == ISSUED + 3600
    assert alice_pv["modelVersion"] == "pv-24h/v1"


def test_series_json_names_the_served_model():
    from backend.forecast.advice import series_json

    hour = ForecastHour(3600, None, "load", 24, 3600, 1, 2, 3, "load-24h/v1", "blend (LSTM + ridge) / 2")
    assert series_json([hour])["series"][0]["servedModel"] == "blend (LSTM + ridge) / 2"


def test_series_json_says_whether_a_weather_forecast_fed_the_values():
    from backend.forecast.advice import series_json

    def uses(version, served):
        hour = ForecastHour(3600, None, "pv", 24, 3600, 1, 2, 3, version, served)
        return series_json([hour])["series"][0]["usesWeather"]

    assert uses("pv-weather-24h/v2", "LSTM") and uses("pv-weather-24h/v2", "blend (LSTM + ridge) / 2")
    # The database run's artifacts see no weather; a simple model or the ridge never does, whatever the artifact.
    assert not uses("pv-24h/v1", "LSTM") and not uses("pv-weather-24h/v2", "ridge")
    assert not uses("pv-weather-24h/v2", "clear-sky-index mean of last 7 days")
