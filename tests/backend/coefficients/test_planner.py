"""The planner: every constraint holds, and a hand-made case reaches its known optimum."""

import numpy as np
import pytest

from backend.coefficients.planner import MemberTerms, PlanError, plan
from backend.coefficients.rounding import MICRO

# The hand-made case (kWh): two hours of 10 kWh production and three members with static thirds.
#   hour 1: A uses 8, B 1, C 1          hour 2: A uses 0, B 5, C 5
PRODUCTION_WH = np.array([10_000.0, 10_000.0])
CONSUMPTION_WH = np.array([[8_000.0, 1_000.0, 1_000.0], [0.0, 5_000.0, 5_000.0]])
THIRD = [333_334, 333_333, 333_333]


def terms(min_micro=0, max_micro=MICRO):
    return [MemberTerms(name, min_micro, max_micro, static) for name, static in zip("ABC", THIRD, strict=True)]


def self_consumed_wh(coefficients_micro, production_wh, consumption_wh):
    return np.minimum(coefficients_micro / MICRO * production_wh[:, None], consumption_wh).sum()


def test_without_bounds_the_plan_covers_all_the_consumption_it_can():
    # Nothing binds: hour 1 gives A 8, B 1, C 1; hour 2 gives B and C 5 each -> all 20 kWh self-consumed.
    result = plan(CONSUMPTION_WH, PRODUCTION_WH, terms())
    assert result.expected_self_consumed_wh == pytest.approx(20_000.0, abs=1.0)


def test_minimum_shares_cost_what_a_hand_computation_says():
    # min 0.1, max 0.8: hour 2 must give A (using nothing) at least 1 kWh, so B and C share 9 of their 10;
    # hour 1 gives A at most 8 (it uses 8), B and C 1 each. Optimum: 8 + 2 + 9 = 19 kWh.
    result = plan(CONSUMPTION_WH, PRODUCTION_WH, terms(100_000, 800_000))
    assert result.expected_self_consumed_wh == pytest.approx(19_000.0, abs=1.0)
    assert result.coefficients_micro[0].tolist() == [800_000, 100_000, 100_000]
    assert result.coefficients_micro[1, 0] == 100_000


def test_the_fairness_band_costs_what_a_hand_computation_says():
    # As above, and each member's share of the 20 kWh within 1/3 ± 0.05: A is allocated at most
    # (1/3 + 0.05) * 20 = 7.667 kWh, 1 of them in hour 2 (its minimum), so it self-consumes at most 6.667 in hour 1.
    # Hour 1: B and C use 1 each of the rest; hour 2: B and C 9. Optimum: 6.667 + 2 + 9 = 17.667 kWh.
    result = plan(CONSUMPTION_WH, PRODUCTION_WH, terms(100_000, 800_000), fairness_band=0.05)
    assert result.expected_self_consumed_wh == pytest.approx(17_666.67, abs=2.0)
    shares = result.coefficients_micro / MICRO
    period_share = (shares * PRODUCTION_WH[:, None]).sum(axis=0) / PRODUCTION_WH.sum()
    assert np.all(np.abs(period_share - np.array(THIRD) / MICRO) <= 0.05 + 1e-6)


def test_every_constraint_holds_on_a_random_community():
    rng = np.random.default_rng(7)
    n_hours, n_members = 24 * 14, 12
    production = np.clip(np.sin((np.arange(n_hours) % 24 - 6) / 12 * np.pi), 0, None) * 30_000
    consumption = rng.gamma(2.0, 400.0, size=(n_hours, n_members))
    static = [MICRO // n_members] * n_members
    static[0] += MICRO - sum(static)
    members = [MemberTerms(f"m{i:02d}", 20_000, 250_000, s) for i, s in enumerate(static)]
    band = 0.02
    result = plan(consumption, production, members, fairness_band=band, retail_price=200_000, leftover_price=90_000)
    coefficients = result.coefficients_micro
    assert coefficients.dtype == np.int64
    assert np.all(coefficients.sum(axis=1) == MICRO)
    assert np.all(coefficients >= 20_000) and np.all(coefficients <= 250_000)
    period_share = (coefficients / MICRO * production[:, None]).sum(axis=0) / production.sum()
    assert np.all(np.abs(period_share - np.array(static) / MICRO) <= band + 1e-6)
    assert np.all(coefficients[production == 0] == static)  # night hours keep the static shares
    # It beats the static shares on the forecast it planned on.
    planned = self_consumed_wh(coefficients, production, consumption)
    static_only = self_consumed_wh(np.tile(static, (n_hours, 1)), production, consumption)
    assert planned > static_only * 1.02
    assert result.expected_self_consumed_wh == pytest.approx(planned)


def test_members_come_back_sorted_whatever_the_order_given():
    reversed_terms = list(reversed(terms(100_000, 800_000)))
    result = plan(CONSUMPTION_WH[:, ::-1], PRODUCTION_WH, reversed_terms)
    assert result.members == ("A", "B", "C")
    assert result.coefficients_micro[0].tolist() == [800_000, 100_000, 100_000]


def test_the_conservative_variant_plans_on_p10_and_allocates_less_to_the_uncertain_member():
    # Member A's P50 is 5 kWh but its P10 only 1; B is sure to use 5. Planning on P10 gives B the bigger share.
    production = np.array([10_000.0])
    p50 = np.array([[5_000.0, 5_000.0]])
    p10 = np.array([[1_000.0, 5_000.0]])
    halves = [MemberTerms("A", 0, MICRO, 500_000), MemberTerms("B", 0, MICRO, 500_000)]
    on_p10 = plan(p10, production, halves)
    assert on_p10.coefficients_micro[0, 1] >= 500_000
    assert on_p10.expected_self_consumed_wh == pytest.approx(6_000.0, abs=1.0)
    assert plan(p50, production, halves).expected_self_consumed_wh == pytest.approx(10_000.0, abs=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": [MemberTerms("A", 0, MICRO, 600_000), MemberTerms("B", 0, MICRO, 300_000)]}, "sum to 0.9"),
        (
            {"members": [MemberTerms("A", 600_000, MICRO, 600_000), MemberTerms("B", 500_000, MICRO, 400_000)]},
            "min <= static",
        ),
        ({"members": [MemberTerms("A", 0, MICRO, MICRO)], "consumption": np.ones((2, 2))}, "2 members' forecasts"),
        ({"consumption": -np.ones((2, 2))}, "at least 0"),
    ],
)
def test_bad_or_inconsistent_input_is_refused(kwargs, message):
    members = kwargs.get("members", [MemberTerms("A", 0, MICRO, 500_000), MemberTerms("B", 0, MICRO, 500_000)])
    consumption = kwargs.get("consumption", np.ones((2, 2)))
    production = kwargs.get("production", np.array([1_000.0, 1_000.0]))
    with pytest.raises(PlanError, match=message):
        plan(consumption, production, members)


def test_a_zero_fairness_band_keeps_each_member_at_its_static_share_of_the_period():
    # Each member gets exactly 20/3 kWh over the two hours. A uses energy only in hour 1, so all of its 6.667 go
    # there; B and C take hour 1's other 3.333 (using 2 of it) and all of hour 2 (using 10).
    # Optimum: 6.667 + 2 + 10 = 18.667 kWh, and no plan does better: A cannot use more than it is allocated.
    result = plan(CONSUMPTION_WH, PRODUCTION_WH, terms(), fairness_band=0.0)
    period_share = (result.coefficients_micro / MICRO * PRODUCTION_WH[:, None]).sum(axis=0) / PRODUCTION_WH.sum()
    assert np.all(np.abs(period_share - np.array(THIRD) / MICRO) <= 1e-6)
    assert result.expected_self_consumed_wh == pytest.approx(18_666.67, abs=2.0)


def _reference_optimum_kwh(scenarios_kwh, weights, production_kwh, lower, upper):
    """The textbook LP, solved independently of the planner: shares b_ih and self-consumption s_ihk with
    s <= C and s <= E b, maximising the weighted self-consumption (no fairness band, flat prices)."""
    from scipy.optimize import linprog

    k, n_hours, n_members = scenarios_kwh.shape
    n = n_hours * n_members
    objective = np.concatenate([np.zeros(n), -np.repeat(weights, n)])
    rows = np.zeros((k * n, n + k * n))
    for j in range(k):
        for v in range(n):
            rows[j * n + v, n + j * n + v] = 1
            rows[j * n + v, v] = -production_kwh[v // n_members]
    sums = np.zeros((n_hours, n + k * n))
    for v in range(n):
        sums[v // n_members, v] = 1
    bounds = [(lower[v % n_members], upper[v % n_members]) for v in range(n)]
    bounds += [(0, c) for c in scenarios_kwh.reshape(-1)]
    result = linprog(objective, A_ub=rows, b_ub=np.zeros(k * n), A_eq=sums, b_eq=np.ones(n_hours), bounds=bounds)
    return -result.fun


def test_the_segment_lp_reaches_the_textbook_lps_optimum_on_scenarios():
    rng = np.random.default_rng(11)
    n_hours, n_members = 6, 4
    production = rng.uniform(500, 6_000, n_hours)
    scenarios = rng.gamma(2.0, 500.0, size=(3, n_hours, n_members))
    weights = np.array([0.2, 0.5, 0.3])
    static = [250_000] * 4
    members = [MemberTerms(f"m{i}", 50_000, 600_000, s) for i, s in enumerate(static)]
    result = plan(scenarios, production, members, scenario_weights=weights)
    # The planner's shares, before rounding, are within a millionth of an optimum: compare the expected
    # self-consumption of its rounded coefficients with the textbook LP's optimum.
    optimum_kwh = _reference_optimum_kwh(scenarios / 1000, weights, production / 1000, [0.05] * 4, [0.6] * 4)
    assert result.expected_self_consumed_wh / 1000 == pytest.approx(optimum_kwh, rel=2e-3)
