"""What a household's Home Assistant is told, read without any secret: the community's public web API and the chain.

Public web API (docs/api.md), no sign-in:

- ``GET /api/market/clearing``: the last clearing price (the newest settled interval that traded);
- ``GET /api/community/outlook?horizon=24&limit=500``: the forecast surplus and deficit per hour, and the
  households expected to be short (when, how many Wh). The expected price of each hour follows the rule of
  the household advice's limit-price hints (``backend.forecast.advice.suggested_limit_price``: between the
  feed-in and retail tariffs, higher the scarcer the surplus), on the market's price tick; the next buy
  window is this household's first run of short hours, priced over its own hours as the advice does.

The chain (the deployment file's addresses and ABIs, any RPC node), public by nature:

- the kWh-token and euro balances (``balanceOf``) and the market account's euros (``getAccount``);
- the registry's tariffs;
- today's ``Filled`` events of the household, for today's savings against the grid (buying at retail,
  selling at feed-in, at the tariffs in force: the rule of the household page's savings).

The household's sell windows come only from its private recommendations (``GET
/api/households/<address>/recommendations``): with a household API token (``--token-file``, made on the
household page; read-only, sent as ``Authorization: Bearer``) the next one is read from there with its Wh and
limit price; without one it is not published, and the entity says so (docs/meters.md).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, tzinfo

from backend.bridge.discovery import HouseholdOutlook, TradeWindow
from backend.forecast.advice import Tariffs, suggested_limit_price
from backend.market.orderbook import PRICE_TICK

__all__ = [
    "ChainReader",
    "FeedError",
    "VatioApi",
    "VatioFeed",
    "buy_window",
    "expected_prices",
    "savings_units",
    "sell_window",
]

logger = logging.getLogger(__name__)

HOUR_S = 3600
WH_PER_KWH = 1000
OUTLOOK_LIMIT = 500  # the API's largest page: the short households, most short first
LOG_CHUNK_BLOCKS = 5_000  # public RPC nodes cap the block range of one eth_getLogs


class FeedError(RuntimeError):
    """The web API or the chain did not answer as documented."""


def on_price_tick(price: int) -> int:
    """A price rounded to the market's tick, half up (as the API shows its price hints)."""
    return (price + PRICE_TICK // 2) // PRICE_TICK * PRICE_TICK


class VatioApi:
    """GET requests to the community's public web API."""

    def __init__(self, base_url: str, timeout_s: float = 10.0, token: str | None = None) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"the Vatio URL must look like https://vatio.example.org, got {base_url!r}")
        if token is not None and (not token or any(c.isspace() for c in token)):
            raise ValueError("the household API token is one word (vatio_hh_...), as the household page shows it")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token = token

    def get(self, path: str, private: bool = False, **params) -> dict:
        """GET ``path``; ``private`` sends the household token (only there, not to the public endpoints)."""
        url = f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        if private:
            if self.token is None:
                raise FeedError(f"GET {path} needs a household API token")
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise FeedError(f"GET {path} answered {error.code}{_error_text(error)}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise FeedError(f"GET {path} failed: {error}") from None
        if not isinstance(body, dict):
            raise FeedError(f"GET {path} did not answer a JSON object")
        return body


def _error_text(error: urllib.error.HTTPError) -> str:
    """': <the API's error message>' when the answer is the API's JSON error, else nothing."""
    try:
        message = json.loads(error.read())["error"]["message"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f": {str(message)[:200]}"


@dataclass(frozen=True)
class Fill:
    interval_id: int
    side: str  # "bid" (bought) or "ask" (sold)
    amount_wh: int
    value: int  # euro base units paid or received


class ChainReader:
    """Balances, tariffs and fills of one household, straight from the community's contracts."""

    def __init__(self, rpc_url: str, deployment, timeout_s: float = 10.0) -> None:
        from web3 import Web3

        self.web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.deployment = deployment
        self.registry = deployment.contract(self.web3, "CommunityRegistry")
        self.token = deployment.contract(self.web3, "EnergyToken")
        self.euro = deployment.contract(self.web3, "Euro")
        self.market = deployment.contract(self.web3, "EnergyMarket")
        self.interval_s = int(deployment.settings.get("intervalSeconds", 900))
        self._fills: dict[tuple[str, int], Fill] = {}  # (tx hash, log index) -> fill
        self._scanned_to = deployment.deploy_block - 1

    def _read(self, what: str, call):
        from web3.exceptions import Web3Exception

        try:
            return call()
        except (OSError, Web3Exception, ValueError) as error:
            raise FeedError(f"the chain did not answer ({what}): {type(error).__name__}: {error}") from None

    def balances(self, household: str) -> dict[str, int]:
        def read() -> dict[str, int]:
            account = self.market.functions.getAccount(household).call()
            return {
                "energyWh": self.token.functions.balanceOf(household).call(),
                "walletEuro": self.euro.functions.balanceOf(household).call(),
                "marketEuro": account[0],
            }

        return self._read("balances", read)

    def tariffs(self) -> Tariffs:
        return self._read(
            "tariffs",
            lambda: Tariffs(self.registry.functions.feedInPrice().call(), self.registry.functions.retailPrice().call()),
        )

    def fills(self, household: str) -> list[Fill]:
        """Every fill of the household so far; each call reads only the blocks it has not read yet."""
        from web3 import Web3

        event = self.market.events.Filled()
        topic = "0x" + Web3.to_bytes(hexstr=Web3.to_checksum_address(household)).rjust(32, b"\0").hex()
        latest = self._read("block number", lambda: self.web3.eth.block_number)
        while self._scanned_to < latest:
            end = min(latest, self._scanned_to + LOG_CHUNK_BLOCKS)
            query = {
                "address": self.market.address,
                "fromBlock": self._scanned_to + 1,
                "toBlock": end,
                "topics": [event.topic, None, None, topic],
            }
            logs = self._read("Filled events", lambda query=query: self.web3.eth.get_logs(query))
            for log in logs:
                args = event.process_log(log)["args"]
                self._fills[(log["transactionHash"].hex(), log["logIndex"])] = Fill(
                    int(args["intervalId"]),
                    "bid" if int(args["side"]) == 0 else "ask",
                    int(args["amountWh"]),
                    int(args["value"]),
                )
            self._scanned_to = end
        return list(self._fills.values())


def expected_prices(outlook: dict, tariffs: Tariffs) -> list[tuple[int, int]]:
    """(hour start, expected price per kWh) for each hour of the community outlook, on the price tick."""
    hours, surplus, deficit = outlook.get("hourStarts"), outlook.get("surplusWh"), outlook.get("deficitWh")
    if (
        not isinstance(hours, list)
        or not isinstance(surplus, list)
        or not isinstance(deficit, list)
        or not len(hours) == len(surplus) == len(deficit)
    ):
        raise FeedError("the community outlook has no hourStarts/surplusWh/deficitWh of one length")
    return [
        (int(ts), on_price_tick(suggested_limit_price(tariffs, float(s), float(d))))
        for ts, s, d in zip(hours, surplus, deficit, strict=True)
    ]


def buy_window(outlook: dict, household: str, tariffs: Tariffs, now: int) -> TradeWindow | None:
    """The household's next run of short hours in the public outlook, with its Wh and limit price.

    None when the outlook does not list the household as short (no buy window). Raises FeedError when the
    outlook lists more short households than one page holds and this one is not among them (unknown).
    """
    short = {entry["household"].lower(): entry for entry in outlook.get("shortHouseholds") or []}
    entry = short.get(household.lower())
    if entry is None:
        if (outlook.get("shortHouseholdsTotal") or 0) > len(short):
            raise FeedError("the outlook lists more short households than one page: this one is not among them")
        return None
    hours = sorted((int(hour["start"]), int(hour["deficitWh"])) for hour in entry["hours"])
    runs: list[list[tuple[int, int]]] = []
    for start, wh in hours:
        if start + HOUR_S <= now or wh <= 0:
            continue
        if runs and runs[-1][-1][0] + HOUR_S == start:
            runs[-1].append((start, wh))
        else:
            runs.append([(start, wh)])
    if not runs:
        return None
    first = runs[0]
    position = {int(ts): index for index, ts in enumerate(outlook["hourStarts"])}
    indexes = [position[start] for start, _ in first if start in position] or list(range(len(position)))
    price = suggested_limit_price(
        tariffs,
        float(sum(outlook["surplusWh"][i] for i in indexes)),
        float(sum(outlook["deficitWh"][i] for i in indexes)),
    )
    return TradeWindow(first[0][0], first[-1][0] + HOUR_S, sum(wh for _, wh in first), on_price_tick(price))


def sell_window(recommendations: dict, now: int) -> TradeWindow | None:
    """The first sell window of the household's recommendations not yet over, with its Wh and limit price.

    None when the advice has no such window (or no advice yet: no forecast). FeedError for a body that is not
    the documented shape.
    """
    advice = recommendations.get("advice")
    if advice is None:
        return None
    try:
        windows = sorted((int(w["start"]), int(w["end"]), int(w["energyWh"])) for w in advice["sellWindows"])
        price = int(advice["sellLimitPricePerKwh"])
    except (KeyError, TypeError, ValueError) as error:
        raise FeedError(
            f"the recommendations have no sellWindows/sellLimitPricePerKwh as documented ({error!r})"
        ) from None
    upcoming = [(start, end, wh) for start, end, wh in windows if end > now and wh > 0]
    if not upcoming:
        return None
    start, end, wh = upcoming[0]
    return TradeWindow(start, end, wh, price)


def savings_units(fills: list[Fill], tariffs: Tariffs) -> int:
    """What these fills saved against the grid: bought below retail, sold above feed-in (euro base units)."""
    saved = 0
    for fill in fills:
        if fill.side == "bid":
            saved += fill.amount_wh * tariffs.retail_price_per_kwh // WH_PER_KWH - fill.value
        else:
            saved += fill.value - fill.amount_wh * tariffs.feed_in_price_per_kwh // WH_PER_KWH
    return saved


def day_start(now: int, zone: tzinfo | None) -> int:
    """Unix seconds of the last midnight in ``zone`` (the machine's local time when None)."""
    local = datetime.fromtimestamp(now, zone) if zone is not None else datetime.fromtimestamp(now).astimezone()
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


class VatioFeed:
    """One household's HouseholdOutlook, read from the public web API and the chain."""

    def __init__(self, api: VatioApi, chain: ChainReader, household: str, zone: tzinfo | None = None) -> None:
        from eth_utils import is_address, to_checksum_address

        if not isinstance(household, str) or not household.startswith("0x") or not is_address(household):
            raise ValueError(f"the household is its 0x wallet address, got {household!r}")
        self.api = api
        self.chain = chain
        self.household = to_checksum_address(household)
        self.zone = zone

    def read(self, now: int) -> HouseholdOutlook:
        """Everything at once; FeedError when the API or the chain does not answer."""
        tariffs = self.chain.tariffs()
        balances = self.chain.balances(self.household)
        today = day_start(now, self.zone)
        seconds = self.chain.interval_s
        fills_today = [
            fill for fill in self.chain.fills(self.household) if today <= fill.interval_id * seconds < today + 86_400
        ]
        outlook = self.api.get("/api/community/outlook", horizon=24, limit=OUTLOOK_LIMIT)
        prices = [(ts, price) for ts, price in expected_prices(outlook, tariffs) if ts + HOUR_S > now]
        next_interval_start = (now // seconds + 1) * seconds
        upcoming = [price for ts, price in prices if ts <= next_interval_start < ts + HOUR_S]
        try:
            buy: TradeWindow | None = buy_window(outlook, self.household, tariffs, now)
            buy_known = True
        except FeedError as error:
            logger.warning("next buy window unknown: %s", error)
            buy, buy_known = None, False
        sell: TradeWindow | None = None
        sell_known = False
        if self.api.token is not None:
            try:
                sell = sell_window(
                    self.api.get(f"/api/households/{self.household}/recommendations", private=True, horizon=24), now
                )
                sell_known = True
            except FeedError as error:
                logger.warning("next sell window unknown: %s", error)
        clearing = self.api.get("/api/market/clearing", limit=20).get("items") or []
        traded = next((item for item in clearing if item.get("tradedWh")), None)
        return HouseholdOutlook(
            household=self.household,
            next_clearing_price_per_kwh=upcoming[0] if upcoming else None,
            price_outlook=prices,
            next_sell=sell,
            sell_window_known=sell_known,
            next_buy=buy,
            kwh_token_wh=balances["energyWh"],
            euro_units=balances["walletEuro"],
            market_euro_units=balances["marketEuro"],
            savings_today_units=savings_units(fills_today, tariffs),
            last_clearing_price_per_kwh=None if traded is None else int(traded["clearingPrice"]),
            last_clearing_interval=None if traded is None else int(traded["intervalId"]),
            buy_window_known=buy_known,
            forecast_issued_at=outlook.get("issuedAt"),
        )
