"""Decision support from stored forecasts: pure functions, no I/O, no TensorFlow.

Energy is integer Wh per hour; prices are payment base units per kWh (as on
chain: 0.12 €/kWh = 120000). A forecast hour's energy is its mean kW times 1 h.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Tariffs:
    """The community's grid tariffs: what the grid pays for export and charges for import."""

    feed_in_price_per_kwh: int
    retail_price_per_kwh: int

    def __post_init__(self) -> None:
        if self.feed_in_price_per_kwh > self.retail_price_per_kwh:
            raise ValueError("the feed-in price must not exceed the retail price")


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


def kw_to_wh(mean_kw: np.ndarray) -> np.ndarray:
    """Convert hourly mean kW to Wh per hour."""
    return np.asarray(mean_kw, dtype=float) * 1000.0


def net_position(forecast: HouseholdForecast) -> NetPosition:
    """Return the household's forecast net position per hour with its band."""
    produced = forecast.series("produced_p50_wh")
    consumed = forecast.series("consumed_p50_wh")
    low = forecast.series("produced_p10_wh") - forecast.series("consumed_p90_wh")
    high = forecast.series("produced_p90_wh") - forecast.series("consumed_p10_wh")
    return NetPosition(forecast.hour_starts, produced - consumed, low, high)


def trade_windows(net: NetPosition, hours: int = 24, min_energy_wh: int = 1) -> tuple[list[TradeWindow], list[TradeWindow]]:
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
                window = TradeWindow("sell" if side > 0 else "buy", net.hour_starts[start],
                                     net.hour_starts[end - 1] + HOUR, int(round(energy)), int(round(confident)))
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


def household_advice(forecast: HouseholdForecast, community: CommunityOutlook, tariffs: Tariffs,
                     hours: int = 24) -> HouseholdAdvice:
    """Advise one household: its net position, sell and buy windows, and limit prices.

    Prices use the community balance over each side's own windows; with no
    window on a side, over the whole horizon.
    """
    net = net_position(forecast)
    sells, buys = trade_windows(net, hours)
    position_of = {hour: position for position, hour in enumerate(community.hour_starts)}

    def price_over(windows: list[TradeWindow]) -> int:
        positions = [position_of[hour] for window in windows for hour in _hours_in(window) if hour in position_of]
        if not positions:
            positions = list(range(len(community.hour_starts)))
        return suggested_limit_price(tariffs, float(community.surplus_wh[positions].sum()),
                                     float(community.deficit_wh[positions].sum()))

    return HouseholdAdvice(forecast.household, net, sells, buys, price_over(sells), price_over(buys))


def _hours_in(window: TradeWindow) -> list[datetime]:
    return [window.start + HOUR * k for k in range(int((window.end - window.start) / HOUR))]
