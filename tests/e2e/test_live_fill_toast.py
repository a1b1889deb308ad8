"""A fill pushed live through Redis (the oracle process's pushes, as in `vatio demo`) toasts its side and amount.

The stack runs the oracle with `--redis-url` and the web app on the same
Socket.IO channel, so the web app does not follow the tables itself: every
`fill` the browsers get here comes from the oracle's indexer hook. The
orders are placed from Python (the trade through the market page is
test_browser.py's); both households keep their household page open and
must each see their own side of the trade.
"""

from __future__ import annotations

import json
import time
import urllib.request

from e2e_pages import go, sign_in
from e2e_stack import INTERVAL_S
from playwright.sync_api import expect

from backend.chain.deploy import Deployer

SETTLE_TIMEOUT_S = 4 * INTERVAL_S + 30  # a few intervals, the grace and a settlement
ASK, BID = 1, 0
AMOUNT_WH = 30
ASK_PRICE, BID_PRICE = 60_000, 150_000  # euro base units per kWh: 0.06 and 0.15 EUR/kWh


def _euro_text(base_units: int) -> str:
    """The browser's euro() in Spanish: 2 decimals, up to 4 below one euro, decimal comma."""
    value = base_units / 1e6
    text = f"{value:.4f}".rstrip("0") if abs(value) < 1 and value else f"{value:.2f}"
    whole, _, decimals = text.partition(".")
    return f"{whole},{decimals.ljust(2, '0')} €"


# Toasts go away after a few seconds: keep every toast's text as it appears, so none is missed while the other page is checked.
RECORD_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node instanceof HTMLElement && node.classList.contains("toast")) window.__toasts.push(node.querySelector(".tx-text").textContent);
  }))).observe(document.body, { childList: true, subtree: true });
}"""


def _fill_toasts(page) -> list[str]:
    return [text for text in page.evaluate("window.__toasts") if text.startswith("Ejecutada")]


def _wait_until(page, predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(500)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_fill_pushed_through_redis_toasts_each_households_side_and_amount(open_page, stack):
    with urllib.request.urlopen(f"{stack.web_url}/api/health", timeout=10) as response:
        assert json.loads(response.read())["live"]["messageQueue"] == "redis"  # the oracle pushes, not the web app
    market, token, euro = stack.contract("EnergyMarket"), stack.contract("EnergyToken"), stack.contract("Euro")

    pages = {}
    for name, account in (("seller", stack.alice), ("buyer", stack.bob)):
        page, _ = open_page(account, path="/")
        sign_in(page)
        go(page, "Mi hogar")
        expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "connected")
        page.evaluate(RECORD_TOASTS)
        pages[name] = page

    # Household A's surplus is credited as kWh tokens by the first settlements.
    _wait_until(
        pages["seller"],
        lambda: token.functions.balanceOf(stack.alice.address).call() >= AMOUNT_WH,
        SETTLE_TIMEOUT_S,
        "household A's first credited surplus",
    )
    seller, buyer = Deployer(stack.web3, stack.alice), Deployer(stack.web3, stack.bob)
    seller.call(token.functions.approve(market.address, AMOUNT_WH))
    buyer.call(euro.functions.approve(market.address, -(-AMOUNT_WH * BID_PRICE // 1000)))
    # From the next interval: an order valid from "now" reverts (MarketInvalidWindow) when an interval
    # boundary passes between reading the interval and mining the order, as it can on a busy machine.
    start = market.functions.currentInterval().call() + 1
    seller.call(market.functions.placeOrder(ASK, ASK_PRICE, AMOUNT_WH, start, start + 20))
    buyer.call(market.functions.placeOrder(BID, BID_PRICE, AMOUNT_WH, start, start + 20))
    ask_id = market.functions.nextOrderId().call() - 2

    for page in pages.values():
        _wait_until(page, lambda page=page: _fill_toasts(page), SETTLE_TIMEOUT_S, "a fill toast")
    fills = market.events.Filled.get_logs(from_block=0, argument_filters={"orderId": [ask_id, ask_id + 1]})
    assert {fill["args"]["amountWh"] for fill in fills} == {AMOUNT_WH} and len(fills) == 2
    value = {fill["args"]["household"]: fill["args"]["value"] for fill in fills}

    # Spanish pages: "Ejecutada: {side} {amount} a {price}"; the buyer's says Compra, never the ask's Venta.
    seller_text = f"Ejecutada: Venta {AMOUNT_WH} Wh a {_euro_text(value[stack.alice.address])}"
    buyer_text = f"Ejecutada: Compra {AMOUNT_WH} Wh a {_euro_text(value[stack.bob.address])}"
    assert (_fill_toasts(pages["seller"]), _fill_toasts(pages["buyer"])) == ([seller_text], [buyer_text])
