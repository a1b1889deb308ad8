"""The first hour of a new user (issue 13), in Chromium against the running community.

Each test names the item it guards. They share the stack of test_browser.py (conftest.py).
"""

from __future__ import annotations

import re

import pytest
from e2e_pages import screenshot, sign_in
from e2e_stack import INTERVAL_S
from eth_account import Account
from playwright.sync_api import expect

from backend.chain.deploy import Deployer
from backend.meters.simulator import topic

SETTLE_TIMEOUT_MS = (4 * INTERVAL_S + 30) * 1000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = ["/", "/household", "/market", "/audit", "/admin"]


def _context(browser, stack, locale: str, viewport=DESKTOP):
    return browser.new_context(viewport=viewport, base_url=stack.web_url, locale=locale, timezone_id="Europe/Madrid")


def test_an_english_browser_gets_english_without_a_red_console(browser, stack):
    """Items 6 and 11: navigator.languages picks the language; an anonymous visit logs no failed request."""
    context = _context(browser, stack, "en-US")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on(
            "response",
            lambda response: errors.append(f"{response.status} {response.url}") if response.status >= 400 else None,
        )
        page.goto("/")
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        expect(page.locator("h1")).to_have_text("Community dashboard")
        expect(page.get_by_test_id("summary")).to_be_visible()
        page.wait_for_timeout(1500)
        assert errors == [], errors
        assert page.evaluate("document.documentElement.lang") == "en"
        page.get_by_test_id("lang-switch").select_option("es")  # the switch still wins, and is remembered
        page.reload()
        expect(page.locator("h1")).to_have_text("Panel de la comunidad")
    finally:
        context.close()
    spanish = _context(browser, stack, "es-ES")
    try:
        page = spanish.new_page()
        page.goto("/")
        expect(page.locator("h1")).to_have_text("Panel de la comunidad")
    finally:
        spanish.close()


def test_the_dashboards_figures_agree(open_page, stack):
    """Item 7: one source per figure: the last settled interval, its price, the live caption."""
    page, _ = open_page()
    card = page.get_by_test_id("last-settled")
    expect(card.locator(".stat-value")).to_have_text(re.compile(r"#\d+"), timeout=SETTLE_TIMEOUT_MS)
    page.reload()  # both read now, after a settlement
    expect(page.get_by_test_id("clearing-last")).to_be_visible()
    expect(card.locator(".stat-value")).to_have_text(re.compile(r"#\d+"))
    # Both follow live settlements, so they are compared at one moment, in the page, until they agree.
    page.wait_for_function(
        """() => {
            const shown = document.querySelector('[data-testid=last-settled] .stat-value')?.textContent ?? '';
            const note = document.querySelector('[data-testid=clearing-last]')?.textContent ?? '';
            return /^#\\d+$/.test(shown) && note.includes(shown + ' ·');
        }""",
        timeout=15_000,
    )
    assert " a —" not in card.inner_text() and " at —" not in card.inner_text()
    expect(page.get_by_text("Todavía no se ha liquidado ningún intervalo")).to_have_count(0)

    # With no live event at all (the socket refused), the caption follows the chart's history, not "no readings".
    quiet = page.context.new_page()
    quiet.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())
    quiet.goto("/")
    expect(quiet.get_by_test_id("latest-reading")).to_contain_text("Última lectura a las", timeout=10_000)


def test_toasts_finish_and_go(open_page, stack):
    """Item 11: the burner's funding toast ends as "ready" (never left in progress) and toasts leave quickly."""
    page, _ = open_page()
    page.get_by_test_id("connect-wallet").click()
    page.get_by_test_id("use-burner").click()
    expect(page.get_by_test_id("wallet-address")).to_be_visible(timeout=20_000)
    expect(page.locator(".tx-item.toast[data-state=confirmed]")).to_have_count(1, timeout=20_000)
    expect(page.locator(".tx-item.toast[data-state=sent]")).to_have_count(0)
    expect(page.locator(".tx-item")).to_have_count(0, timeout=6_000)
    # The next page load reconnects the remembered burner quietly: no second "ready" toast.
    page.reload()
    expect(page.get_by_test_id("wallet-address")).to_be_visible(timeout=20_000)
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    assert page.locator(".tx-item").count() == 0  # now, not after a success toast's 4 s


def test_admin_sees_every_household_and_reasons_in_its_language(open_page, stack):
    """Items 4 and 6: a household with no reading yet is listed; rejection reasons are translated."""
    registry = stack.contract("CommunityRegistry")
    household, meter = Account.create().address, Account.create().address
    Deployer(stack.web3, stack.admin).call(registry.functions.registerHousehold(household, meter, 5_000))
    alice_meter = stack.meters.meters[stack.alice.address].key.address
    stack.meters.publisher.publish(topic(stack.meters.community, alice_meter), b"not json at all")

    page, _ = open_page(stack.admin, path="/")
    sign_in(page, role_text="administración")
    page.goto("/admin")
    households = page.get_by_test_id("households")
    expect(households).to_contain_text(household[:6], timeout=20_000)
    expect(households.locator("tr", has_text=household[:6])).to_contain_text("Sin lecturas aún")
    expect(page.get_by_test_id("rejections")).to_contain_text("JSON no válido", timeout=20_000)
    page.get_by_test_id("lang-switch").select_option("en")
    expect(page.get_by_test_id("rejections")).to_contain_text("Not valid JSON")
    page.get_by_test_id("lang-switch").select_option("es")


def test_the_order_form_keeps_prices_on_the_tick(open_page, stack):
    """Item 9: the form refuses a limit price off the 0.001 €/kWh tick, in words, before anything is signed."""
    page, wallet = open_page(stack.alice, path="/")
    sign_in(page)
    page.goto("/market")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)  # the wallet reconnected: no re-render to come
    form = page.get_by_test_id("order-form")
    page.get_by_test_id("side-bid").check()
    page.get_by_test_id("order-amount").fill("0,5")
    page.get_by_test_id("order-price").fill("0,1505")
    page.get_by_test_id("place-order").click()
    expect(form.get_by_test_id("form-message")).to_contain_text("0,001 €/kWh")
    assert wallet.sent == []


def test_every_page_fits_a_phone(browser, stack):
    """Item 10: at 390 px no element is wider than the viewport, on every page and on /api/docs."""
    context = _context(browser, stack, "es-ES", viewport=PHONE)
    problems = []
    try:
        page = context.new_page()
        for path in [*PAGES, "/api/docs"]:
            page.goto(path)
            if path != "/api/docs":
                expect(page.locator("body[data-ready=true]")).to_have_count(1)
            page.wait_for_timeout(1500)
            wide = page.evaluate("""() => {
                const width = document.documentElement.clientWidth;
                return [...document.querySelectorAll('body *')].filter((el) => {
                    const box = el.getBoundingClientRect();
                    return box.width > 0 && (box.right > width + 1 || box.left < -1);
                }).map((el) => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)
                  .slice(0, 8);
            }""")
            if wide or not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
                problems.append(f"{path}: wider than the phone: {wide}")
            if path == "/":
                screenshot(page, "phone-dashboard-es")
    finally:
        context.close()
    assert problems == []


def test_a_demo_household_trades_without_metamask(open_page, stack):
    """Item 5: with no injected wallet, a demo household (Anvil's public test account) signs in and places an order."""
    market = stack.contract("EnergyMarket")
    page, _ = open_page()  # no window.ethereum: the menu offers the burner, the demo households and a key field
    page.get_by_test_id("connect-wallet").click()
    bob_button = page.get_by_test_id("demo-households").locator("button", has_text=stack.bob.address[:6])
    expect(bob_button).to_be_visible()
    bob_button.click()
    expect(page.get_by_test_id("wallet-address")).to_have_attribute("title", stack.bob.address, timeout=20_000)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("wallet-role")).to_have_text("hogar")
    before = market.functions.nextOrderId().call()
    page.goto("/market")
    expect(page.locator("body[data-ready=true]")).to_have_count(1)
    page.get_by_test_id("side-bid").check()
    page.get_by_test_id("order-amount").fill("0,010")
    page.get_by_test_id("order-price").fill("0,100")
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-form").get_by_test_id("form-message")).to_have_text(
        "Orden colocada.", timeout=30_000
    )
    assert market.functions.nextOrderId().call() == before + 1
    placed = market.functions.getOrder(before).call()
    assert stack.bob.address in placed, placed

    # The same without the list: a pasted key (here alice's), refused first when it is not a key.
    other, _ = open_page()
    other.get_by_test_id("connect-wallet").click()
    other.get_by_test_id("import-key").fill("0x1234")
    other.get_by_test_id("import-key-use").click()
    expect(other.get_by_test_id("import-key-message")).to_contain_text("no es una clave privada")
    other.get_by_test_id("import-key").fill(stack.alice.key.hex().removeprefix("0x"))
    other.get_by_test_id("import-key-use").click()
    expect(other.get_by_test_id("wallet-address")).to_have_attribute("title", stack.alice.address, timeout=20_000)
    other.reload()  # remembered, like the burner
    expect(other.get_by_test_id("wallet-address")).to_have_attribute("title", stack.alice.address, timeout=20_000)


def _replaying_summary(route):
    """The real summary, as a demo replaying days of history would answer it (settlement 600 intervals behind)."""
    response = route.fetch()
    body = response.json()
    last = body["lastSettled"]["start"] if body.get("lastSettled") else 1_700_000_000
    body["catchUp"] = {
        "settled": 168,
        "total": 768,
        "behind": 600,
        "lastSettledStart": last - 6 * 86_400,
        "replaying": True,
    }
    route.fulfill(response=response, json=body)


def test_the_replay_is_said_on_the_household_and_market_pages(open_page, stack):
    """Item 2: while settlement replays history, the household and market pages say so, as the dashboard does."""
    page, _ = open_page(stack.alice, path="/")
    sign_in(page)
    page.route(re.compile(r".*/api/community/summary$"), _replaying_summary)
    for path in ("/household", "/market", "/"):
        page.goto(path)
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        note = page.get_by_test_id("catch-up")
        expect(note).to_contain_text("Reproduciendo el historial: 168 de 768 intervalos liquidados")
        expect(note).to_contain_text(re.compile(r"\d{1,2} \w+"))  # a replayed time carries its date


def test_one_unit_per_column_in_the_clearing_history(open_page, stack):
    """Item 9: a column of energies never mixes "1,200 kWh" and "500 Wh" (the clearing history, with big and small)."""
    page, _ = open_page()
    base = {"start": 0, "end": 0, "households": 2, "clearingPrice": 100_000, "readingsRoot": "0x" + "00" * 32}

    def clearing(route):
        items = [
            {**base, "intervalId": 1_000 + i, "tradedWh": traded, "surplusWh": surplus, "gridImportWh": grid}
            for i, (traded, surplus, grid) in enumerate([(1_200, 1_500, 0), (500, 30, 250)])
        ]
        route.fulfill(json={"items": items, "nextCursor": None})

    page.route(re.compile(r".*/api/market/clearing\?.*"), clearing)
    page.goto("/market")
    rows = page.get_by_test_id("clearing-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    headers = page.get_by_test_id("clearing-table").locator("thead th").all_inner_texts()
    columns = [headers.index(name) for name in ("Negociado", "Excedente", "Importado de la red")]
    cells = [rows.nth(i).locator("td").nth(column).inner_text() for i in range(2) for column in columns]
    assert all(cell.endswith(" kWh") for cell in cells), cells
    assert "0,500 kWh" in cells and "0,030 kWh" in cells, cells


# What each variant of the done-means screenshots reads, in its language.
TEXTS = {
    "es": {
        "locale": "es-ES",
        "live": "Última lectura",
        "forecast24": "Predicción, próximas 24 h (P10–P90)",
        "served": "Consumo: modelo {model}",
        "role": "hogar",
        "decimal": ",",
        "placed": "Orden colocada.",
        "catch_up": "Reproduciendo el historial: 168 de 768 intervalos liquidados",
    },
    "en": {
        "locale": "en-US",
        "live": "Latest reading",
        "forecast24": "Forecast, next 24 h (P10–P90)",
        "served": "Consumption: model {model}",
        "role": "household",
        "decimal": ".",
        "placed": "Order placed.",
        "catch_up": "Replaying history: 168 of 768 intervals settled",
    },
}

# Columns of a chart's canvas, below its legend (the top quarter), that hold pixels of the P10–P90 band's fill
# (COLORS.band: rgba(56, 103, 214, 0.18)), of the consumption's opaque line colour (#3867d6: the dashed P50 and the
# measured values), and of both (the median drawn inside its band). The legend's boxes are 12 px wide.
_BAND_AND_LINE_COLUMNS = """(canvas) => {
    const top = Math.floor(canvas.height / 4);
    const { data } = canvas.getContext('2d').getImageData(0, top, canvas.width, canvas.height - top);
    const blue = (i) => Math.abs(data[i] - 56) <= 24 && Math.abs(data[i + 1] - 103) <= 24
        && Math.abs(data[i + 2] - 214) <= 24;
    const band = new Set(), line = new Set();
    for (let i = 0; i < data.length; i += 4) {
        if (!blue(i)) continue;
        const column = (i / 4) % canvas.width;
        if (Math.abs(data[i + 3] - 46) <= 6) band.add(column);
        else if (data[i + 3] >= 200) line.add(column);
    }
    return { band: band.size, line: line.size, both: [...line].filter((x) => band.has(x)).length };
}"""


@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_screenshots_of_the_first_minutes(browser, stack, community_forecast, lang, device):
    """Done-means screenshots (benchmarks/results/screenshots/first-hour-*), in Spanish and English, desktop and
    phone, each taken once what it shows is asserted on the page: the dashboard with live readings and the
    forecast with its P10–P90 band, the wallet menu offering the demo households, a demo household's order
    placed without MetaMask, and the catch-up note."""
    texts = TEXTS[lang]
    name = f"{lang}-{device}"
    context = _context(browser, stack, texts["locale"], viewport=DESKTOP if device == "desktop" else PHONE)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.get_by_test_id("latest-reading")).to_contain_text(texts["live"], timeout=20_000)
        screenshot(page, f"first-hour-live-{name}")

        # The stored run on the 24 h card: its band and median drawn, and the model that made it named under it.
        forecast = page.locator("section.card", has=page.get_by_role("heading", name=texts["forecast24"]))
        expect(forecast.get_by_test_id("forecast-source")).to_contain_text(
            texts["served"].format(model=community_forecast.served[24])
        )
        canvas = forecast.locator("canvas")
        expect(canvas).to_be_visible()
        page.wait_for_function(f"(canvas) => ({_BAND_AND_LINE_COLUMNS})(canvas).both > 0", arg=canvas.element_handle())
        columns = canvas.evaluate(_BAND_AND_LINE_COLUMNS)
        # 24 hours span a fifth of the plot (48 past hours precede them) even on a phone: many more than 12 px.
        assert columns["band"] >= 40 and columns["line"] >= 20 and columns["both"] >= 20, columns
        screenshot(page, f"first-hour-forecast-{name}")

        # The same dashboard while settlement replays history (the summary answered as during a replay).
        summary = re.compile(r".*/api/community/summary$")
        page.route(summary, _replaying_summary)
        page.reload()
        note = page.get_by_test_id("catch-up")
        expect(note).to_contain_text(texts["catch_up"])
        expect(note).to_be_visible()
        screenshot(page, f"first-hour-catch-up-{name}")
        page.unroute(summary)
        page.reload()

        page.get_by_test_id("connect-wallet").click()
        demo = page.get_by_test_id("demo-households").locator("button")
        expect(demo).to_have_count(2)
        screenshot(page, f"first-hour-demo-households-{name}")

        # A demo household (no injected wallet) signs in and places an order that lands on-chain.
        market = stack.contract("EnergyMarket")
        demo.filter(has_text=stack.bob.address[:6]).click()
        expect(page.get_by_test_id("wallet-address")).to_have_attribute("title", stack.bob.address, timeout=20_000)
        page.get_by_test_id("sign-in").click()
        expect(page.get_by_test_id("wallet-role")).to_have_text(texts["role"])
        before = market.functions.nextOrderId().call()
        page.goto("/market")
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        page.get_by_test_id("side-bid").check()
        page.get_by_test_id("order-amount").fill(f"0{texts['decimal']}010")
        page.get_by_test_id("order-price").fill(f"0{texts['decimal']}100")
        page.get_by_test_id("place-order").click()
        placed = page.get_by_test_id("order-form").get_by_test_id("form-message")
        expect(placed).to_have_text(texts["placed"], timeout=30_000)
        assert market.functions.nextOrderId().call() == before + 1
        assert stack.bob.address in market.functions.getOrder(before).call()
        expect(page.get_by_test_id(f"cancel-{before}")).to_be_visible(timeout=20_000)  # listed under "my orders"
        # Dismissed (their × buttons, all at once: they also leave on their own), as they would hide the message.
        page.evaluate("document.querySelectorAll('.tx-item .tx-close').forEach((button) => button.click())")
        expect(page.locator(".tx-item")).to_have_count(0)
        expect(placed).to_be_visible()
        screenshot(page, f"first-hour-demo-household-order-{name}")
    finally:
        context.close()
