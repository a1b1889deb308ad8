"""Decision support from stored forecasts: pure functions, no I/O, no TensorFlow.

Energy is integer Wh per hour; prices are payment base units per kWh (as on
chain: 0.12 €/kWh = 120000). A forecast hour's energy is its mean kW times 1 h.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Tariffs:
    """The community's grid tariffs: what the grid pays for export and charges for import."""

    feed_in_price_per_kwh: int
    retail_price_per_kwh: int
    # The tariff band's (feed-in, retail) bounds at an hour (CommunityRegistry.priceBounds); None: flat tariffs.
    bounds_at: Callable[[datetime], tuple[int, int]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.feed_in_price_per_kwh > self.retail_price_per_kwh:
            raise ValueError("the feed-in price must not exceed the retail price")

    def over(self, hours: list[datetime]) -> "Tariffs":
        """The bounds valid in every band of these hours (highest feed-in, lowest retail); the first hour's band
        when the bands do not overlap; these tariffs when flat."""
        if self.bounds_at is None or not hours:
            return self
        bounds = [self.bounds_at(hour) for hour in hours]
        feed_in, retail = max(b[0] for b in bounds), min(b[1] for b in bounds)
        return Tariffs(feed_in, retail) if feed_in <= retail else Tariffs(*bounds[0])


@dataclass(frozen=True)
class HouseholdForecast:
    """One household's hourly forecast in Wh: consumption and production, P10/P50/P90 each."""

    household: str
    hour_starts: tuple[datetime, ...]
    consumed_p50_wh: np.ndarray
    consumed_p10_wh: np.ndarray | None = None
    consumed_p90_wh: np.ndarray | None = None
    produced_p50_wh: np.ndarray | None = None
    produced_p10_wh: np.ndarray | None = None
    produced_p90_wh: np.ndarray | None = None

    def series(self, name: str) -> np.ndarray:
        """Return a quantile series as float Wh; a missing band falls back to P50, missing production to zero."""
        value = getattr(self, name)
        if value is None:
            fallback = f"{name.split('_')[0]}_p50_wh"
            value = getattr(self, fallback) if fallback != name else None
        if value is None:
            return np.zeros(len(self.hour_starts))
        return np.asarray(value, dtype=float)


@dataclass(frozen=True)
class NetPosition:
    """Forecast production − consumption per hour, in Wh, with a cautious band.

    ``low_wh`` is the bad case (P10 production − P90 consumption) and
    ``high_wh`` the good case (P90 production − P10 consumption).
    """

    hour_starts: tuple[datetime, ...]
    net_p50_wh: np.ndarray
    low_wh: np.ndarray
    high_wh: np.ndarray


@dataclass(frozen=True)
class TradeWindow:
    """A run of consecutive hours to sell (surplus) or buy (deficit)."""

    side: str  # "sell" or "buy"
    start: datetime
    end: datetime  # exclusive
    energy_wh: int  # P50 quantity over the window
    confident_wh: int  # quantity that holds in the cautious case (sell: P10 surplus; buy: P10 deficit)


@dataclass(frozen=True)
class ShortHousehold:
    """A household expected to be short, with the hours and quantities."""

    household: str
    total_deficit_wh: int
    hours: tuple[tuple[datetime, int], ...]


@dataclass(frozen=True)
class CommunityOutlook:
    """Community totals per hour (Wh) and the households expected to be short."""

    hour_starts: tuple[datetime, ...]
    surplus_wh: np.ndarray
    deficit_wh: np.ndarray
    available_for_sale_wh: int
    total_deficit_wh: int
    short_households: list[ShortHousehold] = field(default_factory=list)


@dataclass(frozen=True)
class HouseholdAdvice:
    """Everything the UI shows one household: net position, windows and price hints."""

    household: str
    net: NetPosition
    sell_windows: list[TradeWindow]
    buy_windows: list[TradeWindow]
    sell_limit_price_per_kwh: int
    buy_limit_price_per_kwh: int


# The household's default shortfall rate: the advised sale holds with probability 1 - alpha.
DEFAULT_SHORTFALL_RATE = 0.10


def _normal_quantile(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(level)


def quantile_from_band(level: float, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray) -> np.ndarray:
    """The ``level`` quantile from stored P10/P50/P90: exact at 10%, 50% and 90%, normal-shaped between and beyond.

    Below the median it is ``P50 - (P50 - P10) * z(1 - level) / z(0.9)`` (above it the same with P90), so
    a 5% quantile lies 1.28 times as far below P50 as P10. Never below zero.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"a quantile level must lie strictly between 0 and 1, not {level}")
    p10, p50, p90 = (np.asarray(value, dtype=float) for value in (p10, p50, p90))
    if level == 0.5:
        return np.clip(p50, 0.0, None)
    # The same computation at 0.1 and 0.9 as for the reference, so the stored quantiles come back exactly.
    weight = _normal_quantile(max(level, 1 - level)) / _normal_quantile(0.9)
    edge = p10 if level < 0.5 else p90
    return np.clip(p50 + weight * (edge - p50), 0.0, None)


def kw_to_wh(mean_kw: np.ndarray) -> np.ndarray:
    """Convert hourly mean kW to Wh per hour."""
    return np.asarray(mean_kw, dtype=float) * 1000.0


def net_position(forecast: HouseholdForecast, alpha: float = DEFAULT_SHORTFALL_RATE) -> NetPosition:
    """Return the household's forecast net position per hour with its band.

    The band's low side is production at its ``alpha`` quantile minus consumption at its ``1 - alpha``
    quantile (at the default 10%: P10 production - P90 consumption); the high side the reverse. Each side
    alone is missed with probability ``alpha``, so a sale of the low side falls short less often than that.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"the shortfall rate must lie strictly between 0 and 0.5, not {alpha}")
    produced = forecast.series("produced_p50_wh")
    consumed = forecast.series("consumed_p50_wh")

    def quantile(kind: str, level: float) -> np.ndarray:
        return quantile_from_band(
            level,
            forecast.series(f"{kind}_p10_wh"),
            forecast.series(f"{kind}_p50_wh"),
            forecast.series(f"{kind}_p90_wh"),
        )

    low = quantile("produced", alpha) - quantile("consumed", 1 - alpha)
    high = quantile("produced", 1 - alpha) - quantile("consumed", alpha)
    return NetPosition(forecast.hour_starts, produced - consumed, low, high)


def trade_windows(
    net: NetPosition, hours: int = 24, min_energy_wh: int = 1
) -> tuple[list[TradeWindow], list[TradeWindow]]:
    """Split the next ``hours`` into sell windows (P50 surplus) and buy windows (P50 deficit).

    Consecutive hours on the same side form one window. Windows smaller than
    ``min_energy_wh`` are dropped.
    """
    net_wh = net.net_p50_wh[:hours]
    sells, buys = [], []
    start = 0
    while start < len(net_wh):
        side = np.sign(net_wh[start])
        end = start + 1
        while end < len(net_wh) and np.sign(net_wh[end]) == side:
            end += 1
        if side != 0:
            span = slice(start, end)
            if side > 0:
                energy = float(net_wh[span].sum())
                confident = float(np.clip(net.low_wh[span], 0, None).sum())
            else:
                energy = float(-net_wh[span].sum())
                confident = float(np.clip(-net.high_wh[span], 0, None).sum())
            if energy >= min_energy_wh:
                window = TradeWindow(
                    "sell" if side > 0 else "buy",
                    net.hour_starts[start],
                    net.hour_starts[end - 1] + HOUR,
                    int(round(energy)),
                    int(round(confident)),
                )
                (sells if side > 0 else buys).append(window)
        start = end
    return sells, buys


def suggested_limit_price(tariffs: Tariffs, community_surplus_wh: float, community_deficit_wh: float) -> int:
    """Suggest a limit price between feed-in and retail from the community's surplus against deficit.

    The scarcer surplus is relative to deficit, the closer to retail; with
    neither, the midpoint.
    """
    total = community_surplus_wh + community_deficit_wh
    share_short = 0.5 if total <= 0 else community_deficit_wh / total
    spread = tariffs.retail_price_per_kwh - tariffs.feed_in_price_per_kwh
    return int(round(tariffs.feed_in_price_per_kwh + share_short * spread))


def community_outlook(forecasts: list[HouseholdForecast], hours: int = 24) -> CommunityOutlook:
    """Sum households' P50 net positions into community surplus and deficit; list who will be short.

    Surplus and deficit are per household, not netted across households:
    ``surplus_wh[h]`` is what households with surplus could sell in hour ``h``.
    """
    if not forecasts:
        return CommunityOutlook((), np.zeros(0), np.zeros(0), 0, 0, [])
    hour_starts = forecasts[0].hour_starts[:hours]
    surplus = np.zeros(len(hour_starts))
    deficit = np.zeros(len(hour_starts))
    short = []
    for forecast in forecasts:
        if forecast.hour_starts[:hours] != hour_starts:
            raise ValueError(f"{forecast.household}: forecast hours differ from the community's")
        net_wh = net_position(forecast).net_p50_wh[:hours]
        surplus += np.clip(net_wh, 0, None)
        deficit += np.clip(-net_wh, 0, None)
        short_hours = tuple((hour_starts[h], int(round(-net_wh[h]))) for h in np.flatnonzero(net_wh < 0))
        if short_hours:
            short.append(ShortHousehold(forecast.household, sum(wh for _, wh in short_hours), short_hours))
    short.sort(key=lambda household: (-household.total_deficit_wh, household.household))
    return CommunityOutlook(hour_starts, surplus, deficit, int(round(surplus.sum())), int(round(deficit.sum())), short)


def household_advice(
    forecast: HouseholdForecast,
    community: CommunityOutlook,
    tariffs: Tariffs,
    hours: int = 24,
    alpha: float = DEFAULT_SHORTFALL_RATE,
) -> HouseholdAdvice:
    """Advise one household: its net position, sell and buy windows, and limit prices.

    Prices use the community balance over each side's own windows; with no
    window on a side, over the whole horizon. ``alpha`` is the household's
    shortfall rate: the cautious quantities are what it has (sell) or lacks
    (buy) with probability ``1 - alpha`` (see :func:`net_position`).
    """
    net = net_position(forecast, alpha)
    sells, buys = trade_windows(net, hours)
    position_of = {hour: position for position, hour in enumerate(community.hour_starts)}

    def price_over(windows: list[TradeWindow]) -> int:
        positions = [position_of[hour] for window in windows for hour in _hours_in(window) if hour in position_of]
        if not positions:
            positions = list(range(len(community.hour_starts)))
        in_force = tariffs.over([community.hour_starts[p] for p in positions])
        return suggested_limit_price(
            in_force, float(community.surplus_wh[positions].sum()), float(community.deficit_wh[positions].sum())
        )

    return HouseholdAdvice(forecast.household, net, sells, buys, price_over(sells), price_over(buys))


def window_value(window: TradeWindow, limit_price_per_kwh: int, tariffs: Tariffs) -> int:
    """What a window's cautious order is worth against the grid if filled at its limit price (base units).

    A sale earns ``limit - feed-in`` per kWh over exporting; a purchase saves ``retail - limit`` per kWh over
    importing. The cautious quantity is used, so the sale is delivered with probability at least 1 - alpha.
    """
    return order_value(window.side, window.confident_wh, limit_price_per_kwh, tariffs.over(_hours_in(window)))


def order_value(side: str, amount_wh: int, limit_price_per_kwh: int, tariffs: Tariffs) -> int:
    """What ``amount_wh`` sold (``side`` "sell") or bought ("buy") at the limit price is worth against the grid.

    Base units: a sale earns ``limit - feed-in`` per kWh over exporting, a purchase saves ``retail - limit`` per
    kWh over importing. ``tariffs`` are those in force over the order's hours (:meth:`Tariffs.over`).
    """
    if side not in ("sell", "buy"):
        raise ValueError(f"side must be sell or buy, not {side!r}")
    margin = (
        limit_price_per_kwh - tariffs.feed_in_price_per_kwh
        if side == "sell"
        else tariffs.retail_price_per_kwh - limit_price_per_kwh
    )
    return int(round(amount_wh * margin / 1000))


def _hours_in(window: TradeWindow) -> list[datetime]:
    return [window.start + HOUR * k for k in range(int((window.end - window.start) / HOUR))]


# --- Over stored forecasts (the ``forecasts`` table, read by ``backend.forecast.store``) ---


@dataclass(frozen=True)
class ForecastHour:
    """One stored forecast hour: integer Wh in ``[target_ts, target_ts + 3600)`` (also the mean W).

    ``household`` is None for the community's own forecast.
    """

    issued_at: int
    household: str | None
    kind: str  # "load" or "pv"
    horizon_h: int  # 24 or 168
    target_ts: int
    p10_wh: int
    p50_wh: int
    p90_wh: int
    model_version: str = ""
    served_model: str = "LSTM"  # which candidate produced the values (issue 18)


def forecasts_from_hours(
    hours: list[ForecastHour], from_ts: int | None = None
) -> tuple[list[HouseholdForecast], HouseholdForecast | None]:
    """Group one stored run into per-household forecasts (sorted by address) and the community's.

    ``hours`` must come from one run and one horizon (the loader returns
    that). Hours starting before ``from_ts``'s hour are dropped (a run issued
    at 10:00 read at 10:40 starts at 10:00). A household needs a load
    forecast; production defaults to none (a consumer).
    """
    runs = {(hour.issued_at, hour.horizon_h) for hour in hours}
    if len(runs) > 1:
        raise ValueError(f"forecast hours from several runs or horizons: {sorted(runs)}")
    first_hour = None if from_ts is None else from_ts // 3600 * 3600
    series: dict[tuple[str | None, str], dict[int, ForecastHour]] = {}
    for hour in hours:
        if first_hour is None or hour.target_ts >= first_hour:
            series.setdefault((hour.household, hour.kind), {})[hour.target_ts] = hour

    def build(household: str | None) -> HouseholdForecast | None:
        load = series.get((household, "load"))
        if not load:
            return None
        targets = sorted(load)
        starts = tuple(datetime.fromtimestamp(ts, UTC) for ts in targets)
        values = {
            f"consumed_{q}_wh": np.array([getattr(load[ts], f"{q}_wh") for ts in targets], dtype=float)
            for q in ("p10", "p50", "p90")
        }
        pv = series.get((household, "pv"))
        if pv:
            values.update(
                {
                    f"produced_{q}_wh": np.array(
                        [getattr(pv[ts], f"{q}_wh") if ts in pv else 0 for ts in targets], dtype=float
                    )
                    for q in ("p10", "p50", "p90")
                }
            )
        return HouseholdForecast(household if household is not None else "community", starts, **values)

    households = sorted({household for household, _ in series if household is not None}, key=str.lower)
    forecasts = [forecast for forecast in map(build, households) if forecast is not None]
    return forecasts, build(None)


def stored_household_advice(
    hours: list[ForecastHour],
    household: str,
    tariffs: Tariffs,
    window_hours: int = 24,
    from_ts: int | None = None,
    alpha: float = DEFAULT_SHORTFALL_RATE,
) -> HouseholdAdvice | None:
    """Advise ``household`` (any address case) from a stored run: net position, sell/buy windows, prices.

    The price hints weigh the community's forecast surplus against deficit
    (from every household of the run). None when the run has no load
    forecast for the household.
    """
    forecasts, _ = forecasts_from_hours(hours, from_ts)
    target = next((f for f in forecasts if f.household.lower() == household.lower()), None)
    if target is None:
        return None
    return household_advice(target, community_outlook(forecasts, window_hours), tariffs, window_hours, alpha)


def stored_community_outlook(
    hours: list[ForecastHour], window_hours: int = 24, from_ts: int | None = None
) -> CommunityOutlook:
    """The community's forecast surplus, deficit, energy for sale and short households from a stored run."""
    forecasts, _ = forecasts_from_hours(hours, from_ts)
    return community_outlook(forecasts, window_hours)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _window_json(window: TradeWindow) -> dict:
    return {
        "side": window.side,
        "start": _unix(window.start),
        "end": _unix(window.end),
        "energyWh": window.energy_wh,
        "confidentWh": window.confident_wh,
    }


def advice_json(advice: HouseholdAdvice) -> dict:
    """JSON-ready household advice: unix seconds, integer Wh, prices in base units per kWh."""
    net = advice.net
    return {
        "household": advice.household,
        "hourStarts": [_unix(hour) for hour in net.hour_starts],
        "netP50Wh": [int(round(v)) for v in net.net_p50_wh],
        "netLowWh": [int(round(v)) for v in net.low_wh],
        "netHighWh": [int(round(v)) for v in net.high_wh],
        "sellWindows": [_window_json(w) for w in advice.sell_windows],
        "buyWindows": [_window_json(w) for w in advice.buy_windows],
        "sellLimitPricePerKwh": advice.sell_limit_price_per_kwh,
        "buyLimitPricePerKwh": advice.buy_limit_price_per_kwh,
    }


def outlook_json(outlook: CommunityOutlook) -> dict:
    """JSON-ready community outlook: per-hour surplus and deficit, totals and the short households."""
    return {
        "hourStarts": [_unix(hour) for hour in outlook.hour_starts],
        "surplusWh": [int(round(v)) for v in outlook.surplus_wh],
        "deficitWh": [int(round(v)) for v in outlook.deficit_wh],
        "availableForSaleWh": outlook.available_for_sale_wh,
        "totalDeficitWh": outlook.total_deficit_wh,
        "shortHouseholds": [
            {
                "household": short.household,
                "totalDeficitWh": short.total_deficit_wh,
                "hours": [{"start": _unix(start), "deficitWh": wh} for start, wh in short.hours],
            }
            for short in outlook.short_households
        ],
    }


def uses_weather(model_version: str, served_model: str) -> bool:
    """Whether stored values came from a model fed a weather forecast.

    Only an LSTM artifact trained with weather (``ForecastConfig.use_weather``, named ``pv-weather-<h>h``) is,
    served alone or in the blend; the simple models and the ridge see the history and the sun's position only.
    A database run (``RUN_MODELS``) loads no such artifact today, so its rows say False.
    """
    artifact = model_version.split("/", 1)[0]
    return artifact.startswith("pv-weather-") and "LSTM" in served_model


def series_json(hours: list[ForecastHour]) -> dict:
    """A stored run as chart series: one entry per (household or None = community, kind), sorted."""
    series: dict[tuple[str, str], list[ForecastHour]] = {}
    for hour in hours:
        series.setdefault((hour.household or "", hour.kind), []).append(hour)
    first = hours[0] if hours else None
    return {
        "issuedAt": first.issued_at if first else None,
        "horizonH": first.horizon_h if first else None,
        "series": [
            {
                "household": household or None,
                "kind": kind,
                "modelVersion": rows[0].model_version,
                "servedModel": rows[0].served_model,
                "usesWeather": uses_weather(rows[0].model_version, rows[0].served_model),
                "hourStarts": [row.target_ts for row in rows],
                "p10Wh": [row.p10_wh for row in rows],
                "p50Wh": [row.p50_wh for row in rows],
                "p90Wh": [row.p90_wh for row in rows],
            }
            for (household, kind), rows in (
                (key, sorted(value, key=lambda r: r.target_ts)) for key, value in sorted(series.items())
            )
        ],
    }


# --- Backtest of the advice in money (issue 18) ---


@dataclass(frozen=True)
class AdviceBacktest:
    """What a household pays over a backtest (currency units; negative: it earns), three ways."""

    days: int
    cost_no_advice: float  # standing auto orders only: surplus exported at feed-in, deficit bought at retail
    cost_advised: float  # the advised cautious orders filled at the trade price, the rest with the grid
    cost_perfect: float  # perfect foresight: the whole surplus sold and the whole deficit bought at the trade price
    shortfall_hours: int  # hours whose advised sale exceeded the actual surplus
    sell_hours: int
    gain_from_sales: float = 0.0  # the gain over no advice in the hours with an advised sale
    gain_from_purchases: float = 0.0
    buy_hours: int = 0

    @property
    def gain(self) -> float:
        return self.cost_no_advice - self.cost_advised

    @property
    def perfect_gain(self) -> float:
        return self.cost_no_advice - self.cost_perfect

    @property
    def share_of_perfect(self) -> float:
        return self.gain / self.perfect_gain if self.perfect_gain > 0 else float("nan")

    def per_month(self, value: float) -> float:
        return value * 30.44 / self.days if self.days else float("nan")


def backtest_advice(
    consumed_kwh: np.ndarray,
    produced_kwh: np.ndarray,
    consumed_band: tuple[np.ndarray, ...],
    produced_band: tuple[np.ndarray, ...],
    feed_in: float,
    retail: float,
    trade_price: float | None = None,
    alpha: float = DEFAULT_SHORTFALL_RATE,
) -> AdviceBacktest:
    """Replay the advice hour by hour against what happened, with a flat tariff.

    Arrays are ``[days, hours]`` in kWh; the bands are the forecasts' ``(P10, P50, P90)``. In each hour the
    advice sells, where the P50 net position is a surplus, the cautious quantity (production at its
    ``alpha`` quantile minus consumption at its ``1 - alpha`` quantile, as :func:`net_position`) and buys,
    where it is a deficit, the cautious deficit. Orders fill at ``trade_price`` (default: midway between
    feed-in and retail, the limit price hint of a balanced community). A sale the household cannot deliver
    is bought back at retail, a purchase it does not need is exported at feed-in; everything else goes to
    the grid at the tariff. Filling every order is optimistic; the shortfall cost is not.
    """
    if not 0 <= feed_in <= retail:
        raise ValueError("the tariff needs 0 <= feed-in <= retail")
    price = (feed_in + retail) / 2 if trade_price is None else trade_price
    consumed, produced = np.asarray(consumed_kwh, float), np.asarray(produced_kwh, float)
    keep = np.isfinite(consumed) & np.isfinite(produced)
    surplus = np.where(keep, np.clip(produced - consumed, 0, None), 0.0)
    deficit = np.where(keep, np.clip(consumed - produced, 0, None), 0.0)

    def quantile(band, level):
        return quantile_from_band(level, *band)

    net_p50 = np.asarray(produced_band[1], float) - np.asarray(consumed_band[1], float)
    sell = np.where(
        keep & (net_p50 > 0), np.clip(quantile(produced_band, alpha) - quantile(consumed_band, 1 - alpha), 0, None), 0.0
    )
    buy = np.where(
        keep & (net_p50 < 0), np.clip(quantile(consumed_band, alpha) - quantile(produced_band, 1 - alpha), 0, None), 0.0
    )
    hourly_none = retail * deficit - feed_in * surplus
    hourly_advised = (
        -price * sell
        + retail * np.clip(sell - surplus, 0, None)
        - feed_in * np.clip(surplus - sell, 0, None)
        + price * buy
        + retail * np.clip(deficit - buy, 0, None)
        - feed_in * np.clip(buy - deficit, 0, None)
    )
    cost_perfect = float(np.sum(price * (deficit - surplus)))
    gain = hourly_none - hourly_advised
    return AdviceBacktest(
        int(keep.any(axis=-1).sum()) if keep.ndim > 1 else int(keep.any()),
        float(np.sum(hourly_none)),
        float(np.sum(hourly_advised)),
        cost_perfect,
        int(np.sum(sell > surplus)),
        int(np.sum(sell > 0)),
        float(np.sum(gain[sell > 0])),
        float(np.sum(gain[buy > 0])),
        int(np.sum(buy > 0)),
    )
