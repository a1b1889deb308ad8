"""Choose hourly sharing coefficients from forecasts with a linear program (scipy's HiGHS).

For the hours ``h`` of the period and the members ``i``, with forecast production ``E_h`` and consumption
``C_ih`` (kWh), the LP chooses shares ``b_ih`` and self-consumption ``s_ih``:

    maximise    sum_h w_h * sum_i s_ih              w_h = retail_h - leftover_h, the value of using a kWh
                                                    rather than selling it (the leftover's value,
                                                    leftover_h * E_h, is fixed once the b_ih sum to 1)
    subject to  sum_i b_ih = 1                      every hour
                min_i <= b_ih <= max_i              the members' agreed bounds
                0 <= s_ih <= C_ih,  s_ih <= E_h * b_ih
                |sum_h E_h b_ih / sum_h E_h - static_i| <= band      optional fairness over the period

Hours without forecast production are not in the LP: every share is as good as any other there, and they get
the static shares. The LP's shares are then rounded to millionths (:mod:`backend.coefficients.rounding`).

The conservative variant plans on P10 consumption (and P10 production when given): it counts only the
self-consumption that 9 days in 10 reach, so it hands less of the production to members whose use is uncertain.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from backend.coefficients.rounding import MICRO, round_shares


class PlanError(ValueError):
    """The inputs are inconsistent, or no coefficients satisfy the constraints."""


@dataclass(frozen=True)
class MemberTerms:
    """What a member agreed to: its bounds and its static share, in millionths."""

    member: str  # the supply point (CUPS)
    min_micro: int
    max_micro: int
    static_micro: int


@dataclass(frozen=True)
class Plan:
    """Hourly coefficients for a period: ``coefficients_micro[hour, member]`` in millionths, members sorted."""

    members: tuple[str, ...]
    coefficients_micro: np.ndarray  # int64 [hours, members], each row sums to MICRO
    expected_self_consumed_wh: float  # on the planning forecasts, with the rounded coefficients
    solver_status: str
    solve_s: float

    def shares(self) -> np.ndarray:
        return self.coefficients_micro / MICRO


def _check_terms(terms: Sequence[MemberTerms]) -> list[MemberTerms]:
    ordered = sorted(terms, key=lambda t: t.member)
    names = [t.member for t in ordered]
    if not ordered:
        raise PlanError("no members")
    if len(set(names)) != len(names):
        raise PlanError("a member is listed twice")
    for t in ordered:
        if not 0 <= t.min_micro <= t.static_micro <= t.max_micro <= MICRO:
            raise PlanError(f"{t.member}: need 0 <= min <= static <= max <= 1, got min {t.min_micro / MICRO}, "
                            f"static {t.static_micro / MICRO}, max {t.max_micro / MICRO}")
    if sum(t.static_micro for t in ordered) != MICRO:
        raise PlanError(f"the static shares sum to {sum(t.static_micro for t in ordered) / MICRO}, not 1")
    return ordered


def _hourly(price: float | np.ndarray, n_hours: int, name: str) -> np.ndarray:
    values = np.broadcast_to(np.asarray(price, dtype=float), (n_hours,)).copy()
    if np.any(~np.isfinite(values)):
        raise PlanError(f"{name} must be finite")
    return values


def plan(consumption_wh: np.ndarray, production_wh: np.ndarray, terms: Sequence[MemberTerms], *,
         fairness_band: float | None = None, retail_price: float | np.ndarray = 200_000,
         leftover_price: float | np.ndarray = 50_000) -> Plan:
    """Plan coefficients for ``consumption_wh[hour, member]`` (members in ``terms`` order) and ``production_wh``.

    Prices are payment units per kWh, a scalar or one per hour; ``leftover_price`` is what an unused kWh earns
    (compensation, or the community market's price). ``fairness_band`` bounds each member's share of the
    period's forecast production around its static share (e.g. 0.05 for ±5 points).
    """
    consumption = np.asarray(consumption_wh, dtype=float)
    production = np.asarray(production_wh, dtype=float)
    if consumption.ndim != 2 or production.ndim != 1 or consumption.shape[0] != production.shape[0]:
        raise PlanError(f"consumption must be [hours, members] and production [hours], got {consumption.shape} "
                        f"and {production.shape}")
    if len(terms) != consumption.shape[1]:
        raise PlanError(f"{consumption.shape[1]} members' forecasts for {len(terms)} members' terms")
    if np.any(~np.isfinite(consumption)) or np.any(~np.isfinite(production)):
        raise PlanError("forecasts must be finite")
    if np.any(consumption < 0) or np.any(production < 0):
        raise PlanError("forecasts must be at least 0")
    if fairness_band is not None and not 0 <= fairness_band <= 1:
        raise PlanError(f"the fairness band must be within [0, 1], got {fairness_band}")
    order = np.argsort([t.member for t in terms], kind="stable")
    ordered = _check_terms(terms)
    consumption = consumption[:, order]
    n_hours, n_members = consumption.shape
    lower = np.array([t.min_micro for t in ordered], dtype=np.int64)
    upper = np.array([t.max_micro for t in ordered], dtype=np.int64)
    static = np.array([t.static_micro for t in ordered], dtype=np.int64)
    value = _hourly(retail_price, n_hours, "retail_price") - _hourly(leftover_price, n_hours, "leftover_price")

    shares = np.tile(static / MICRO, (n_hours, 1))
    active = np.flatnonzero(production > 0)
    started = time.perf_counter()
    status = "no production forecast: static shares"
    if len(active):
        solved, status = _solve(consumption[active] / 1000.0, production[active] / 1000.0, value[active],
                                lower / MICRO, upper / MICRO, static / MICRO, fairness_band)
        shares[active] = solved
    coefficients = round_shares(shares, lower, upper)
    expected = np.minimum(coefficients / MICRO * production[:, None], consumption).sum()
    return Plan(tuple(t.member for t in ordered), coefficients, float(expected), status,
                time.perf_counter() - started)


def _solve(consumption_kwh, production_kwh, value, lower, upper, static, band) -> tuple[np.ndarray, str]:
    """The LP over the hours with production; returns shares [hours, members] and HiGHS's message."""
    n_hours, n_members = consumption_kwh.shape
    n = n_hours * n_members  # b_ih at h * n_members + i, s_ih at n + the same index
    index = np.arange(n)
    hour_of = index // n_members
    member_of = index % n_members

    scale = max(float(np.abs(value).max()), 1e-12)
    objective = np.concatenate([np.zeros(n), -(value[hour_of] / scale)])
    sum_to_one = sparse.csr_matrix((np.ones(n), (hour_of, index)), shape=(n_hours, 2 * n))
    # s_ih - E_h * b_ih <= 0
    rows = [np.concatenate([index, index])]
    cols = [np.concatenate([n + index, index])]
    data = [np.concatenate([np.ones(n), -production_kwh[hour_of]])]
    right = [np.zeros(n)]
    if band is not None:
        total = production_kwh.sum()
        weights = production_kwh[hour_of] / total
        # share_i <= static_i + band, and -share_i <= -(static_i - band)
        rows += [n + member_of, n + n_members + member_of]
        cols += [index, index]
        data += [weights, -weights]
        right += [np.minimum(static + band, 1.0), -np.maximum(static - band, 0.0)]
    n_rows = n + (2 * n_members if band is not None else 0)
    limits = sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(n_rows, 2 * n))
    bounds = np.column_stack([
        np.concatenate([lower[member_of], np.zeros(n)]),
        np.concatenate([upper[member_of], consumption_kwh.ravel()]),
    ])
    if lower.sum() > 1 + 1e-12 or upper.sum() < 1 - 1e-12:
        raise PlanError(f"the members' bounds allow no hour to sum to 1 (minimums sum to {lower.sum():.6f}, "
                        f"maximums to {upper.sum():.6f})")
    result = linprog(objective, A_ub=limits, b_ub=np.concatenate(right), A_eq=sum_to_one, b_eq=np.ones(n_hours),
                     bounds=bounds, method="highs")
    if result.status != 0:
        raise PlanError(f"no coefficients satisfy the constraints: {result.message}")
    return result.x[:n].reshape(n_hours, n_members), result.message
