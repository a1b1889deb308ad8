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

Consumption may be given as scenarios ``[scenarios, hours, members]`` with weights (e.g. the forecast's
P10/P30/P50/P70/P90, 0.2 each): the LP then maximises the weighted sum of each scenario's self-consumption
``s_ihk <= C_ihk, s_ihk <= E_h * b_ih``, a piecewise-linear estimate of the expected self-consumption
``E[min(b_ih E_h, C_ih)]``. On a single P50 the LP puts each member's share exactly at its forecast, which
forecast errors punish; the scenarios spread the shares the way the uncertainty asks.

Many shares are often equally good: production above every scenario's use may go to anyone. A tie-break
scenario, the use of a member holding exactly its static share (``C = static_i * E_h``) with weight
``TIE_BREAK_WEIGHT``, settles it towards the static shares: production nobody is forecast to use is
shared as the community agreed, not dumped on one member. It moves the optimum by at most that weight.

The conservative variant plans on P10 consumption alone: it counts only the self-consumption that 9 days in
10 reach, so it hands less of the production to members whose use is uncertain.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from backend.coefficients.rounding import MICRO, round_shares

TIE_BREAK_WEIGHT = 1e-3


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
            raise PlanError(
                f"{t.member}: need 0 <= min <= static <= max <= 1, got min {t.min_micro / MICRO}, "
                f"static {t.static_micro / MICRO}, max {t.max_micro / MICRO}"
            )
    if sum(t.static_micro for t in ordered) != MICRO:
        raise PlanError(f"the static shares sum to {sum(t.static_micro for t in ordered) / MICRO}, not 1")
    return ordered


def _hourly(price: float | np.ndarray, n_hours: int, name: str) -> np.ndarray:
    values = np.broadcast_to(np.asarray(price, dtype=float), (n_hours,)).copy()
    if np.any(~np.isfinite(values)):
        raise PlanError(f"{name} must be finite")
    return values


def plan(
    consumption_wh: np.ndarray,
    production_wh: np.ndarray,
    terms: Sequence[MemberTerms],
    *,
    fairness_band: float | None = None,
    retail_price: float | np.ndarray = 200_000,
    leftover_price: float | np.ndarray = 50_000,
    scenario_weights: Sequence[float] | None = None,
) -> Plan:
    """Plan coefficients for ``consumption_wh[hour, member]`` (members in ``terms`` order) and ``production_wh``.

    ``consumption_wh`` may instead be ``[scenario, hour, member]``, weighted by ``scenario_weights`` (summing
    to 1; equal weights by default).

    Prices are payment units per kWh, a scalar or one per hour; ``leftover_price`` is what an unused kWh earns
    (compensation, or the community market's price). ``fairness_band`` bounds each member's share of the
    period's forecast production around its static share (e.g. 0.05 for ±5 points).
    """
    consumption = np.asarray(consumption_wh, dtype=float)
    if consumption.ndim == 2:
        consumption = consumption[None]
    if consumption.ndim != 3:
        raise PlanError(f"consumption must be [hours, members] or [scenarios, hours, members], got {consumption.shape}")
    weights = (
        np.full(len(consumption), 1 / len(consumption))
        if scenario_weights is None
        else np.asarray(scenario_weights, dtype=float)
    )
    if weights.shape != (len(consumption),) or np.any(weights < 0) or abs(weights.sum() - 1) > 1e-9:
        raise PlanError(f"{len(consumption)} scenarios need as many weights at least 0 summing to 1, got {weights}")
    production = np.asarray(production_wh, dtype=float)
    if consumption.ndim != 3 or production.ndim != 1 or consumption.shape[1] != production.shape[0]:
        raise PlanError(
            f"consumption must be [hours, members] and production [hours], got {consumption.shape} "
            f"and {production.shape}"
        )
    if len(terms) != consumption.shape[2]:
        raise PlanError(f"{consumption.shape[2]} members' forecasts for {len(terms)} members' terms")
    if np.any(~np.isfinite(consumption)) or np.any(~np.isfinite(production)):
        raise PlanError("forecasts must be finite")
    if np.any(consumption < 0) or np.any(production < 0):
        raise PlanError("forecasts must be at least 0")
    if fairness_band is not None and not 0 <= fairness_band <= 1:
        raise PlanError(f"the fairness band must be within [0, 1], got {fairness_band}")
    order = np.argsort([t.member for t in terms], kind="stable")
    ordered = _check_terms(terms)
    consumption = consumption[:, :, order]
    _, n_hours, n_members = consumption.shape
    lower = np.array([t.min_micro for t in ordered], dtype=np.int64)
    upper = np.array([t.max_micro for t in ordered], dtype=np.int64)
    static = np.array([t.static_micro for t in ordered], dtype=np.int64)
    value = _hourly(retail_price, n_hours, "retail_price") - _hourly(leftover_price, n_hours, "leftover_price")

    shares = np.tile(static / MICRO, (n_hours, 1))
    active = np.flatnonzero(production > 0)
    started = time.perf_counter()
    status = "no production forecast: static shares"
    if len(active):
        # The tie-break scenario: consumption at the static share of production, weighted TIE_BREAK_WEIGHT.
        with_static = np.concatenate([consumption[:, active], (production[active, None] * static / MICRO)[None]])
        solved, status = _solve(
            with_static / 1000.0,
            production[active] / 1000.0,
            value[active],
            np.append(weights * (1 - TIE_BREAK_WEIGHT), TIE_BREAK_WEIGHT),
            lower / MICRO,
            upper / MICRO,
            static / MICRO,
            fairness_band,
        )
        shares[active] = solved
    coefficients = round_shares(shares, lower, upper)
    allocated = coefficients / MICRO * production[:, None]
    expected = sum(w * np.minimum(allocated, c).sum() for w, c in zip(weights, consumption, strict=True))
    return Plan(tuple(t.member for t in ordered), coefficients, float(expected), status, time.perf_counter() - started)


def _solve(consumption_kwh, production_kwh, value, weights, lower, upper, static, band) -> tuple[np.ndarray, str]:
    """The LP over the hours with production; returns shares [hours, members] and HiGHS's message.

    Each member's expected self-consumption in an hour, ``sum_k w_k min(b E, C_k)``, is concave and
    piecewise linear in its share ``b``, with a kink at each scenario's ``C_k / E``. So the share is written
    as ``min_i`` plus one variable per segment between kinks (clipped to the member's bounds), each worth
    its slope ``E * (weight of the scenarios still above)``: slopes fall from segment to segment, so the LP
    fills them in order and the optimum is the same as with ``s_ihk`` variables and ``s <= E b`` rows. Only
    the hours' sums and the fairness rows remain: HiGHS solves it many times faster.
    """
    n_scenarios, n_hours, n_members = consumption_kwh.shape
    if lower.sum() > 1 + 1e-12 or upper.sum() < 1 - 1e-12:
        raise PlanError(
            f"the members' bounds allow no hour to sum to 1 (minimums sum to {lower.sum():.6f}, "
            f"maximums to {upper.sum():.6f})"
        )
    # Kinks per hour and member, in share terms, sorted, with their scenarios' weights in the same order.
    kinks = consumption_kwh / production_kwh[None, :, None]
    order = np.argsort(kinks, axis=0, kind="stable")
    kinks = np.clip(np.take_along_axis(kinks, order, axis=0), lower, upper)
    kink_weights = np.asarray(weights)[order]
    # Segment j runs from kink j-1 (the minimum for j = 0) to kink j (the maximum after the last kink); its
    # slope is the weight of the scenarios whose kink lies beyond it.
    starts = np.concatenate([np.broadcast_to(lower, (1, n_hours, n_members)), kinks])
    ends = np.concatenate([kinks, np.broadcast_to(upper, (1, n_hours, n_members))])
    above = np.concatenate([np.cumsum(kink_weights[::-1], axis=0)[::-1], np.zeros((1, n_hours, n_members))])
    lengths = (ends - starts).reshape(n_scenarios + 1, -1)  # [segments, h * n_members + i]
    n = n_hours * n_members
    n_segments = n_scenarios + 1
    scale = max(float(np.abs(value).max()), 1e-12)
    slope = (value * production_kwh / scale)[:, None] * above  # [segments, hours, members]

    # Segments of zero length (kinks beyond a member's maximum, in hours of little production) are left out.
    kept = np.flatnonzero(lengths.ravel() > 0)
    if not len(kept):  # every member held at its minimum, which then sums to 1
        return np.broadcast_to(lower, (n_hours, n_members)).copy(), "every share fixed by the members' bounds"
    hour_of = kept % n // n_members
    member_of = kept % n_members
    columns = np.arange(len(kept))
    sum_to_one = sparse.csr_matrix((np.ones(len(kept)), (hour_of, columns)), shape=(n_hours, len(kept)))
    limits = None
    right = None
    if band is not None:
        fair = production_kwh[hour_of] / production_kwh.sum()
        # share_i = sum_h E_h (min_i + its segments) / sum_h E_h, within static_i +- band
        limits = sparse.csr_matrix(
            (np.concatenate([fair, -fair]), (np.concatenate([member_of, n_members + member_of]), np.tile(columns, 2))),
            shape=(2 * n_members, len(kept)),
        )
        right = np.concatenate([np.minimum(static + band, 1.0) - lower, lower - np.maximum(static - band, 0.0)])
    result = linprog(
        -slope.reshape(-1)[kept],
        A_ub=limits,
        b_ub=right,
        A_eq=sum_to_one,
        b_eq=np.full(n_hours, 1.0 - lower.sum()),
        bounds=np.column_stack([np.zeros(len(kept)), lengths.ravel()[kept]]),
        method="highs",
    )
    if result.status != 0:
        raise PlanError(f"no coefficients satisfy the constraints: {result.message}")
    filled = np.zeros(n_segments * n)
    filled[kept] = result.x
    shares = lower + filled.reshape(n_segments, n_hours, n_members).sum(axis=0)
    return shares, result.message
