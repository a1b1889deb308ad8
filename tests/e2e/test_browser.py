"""The site in a real browser, against the running community (chain, broker, oracle, web).

The tests run in file order and share one stack: household A's surplus,
credited by the first settlements, is what it sells in the trade test.
"""

from __future__ import annotations

import json
import re
import time

from e2e_pages import go, screenshot, sign_in
from e2e_stack import INTERVAL_S
from eth_account import Account
from playwright.sync_api import expect

SETTLE_TIMEOUT_MS = (4 * INTERVAL_S + 30) * 1000  # a few intervals, the grace and a settlement


def _last_reading_seq(page) -> int:
    """The seq the household page shows as its last reading; -1 while it shows none (e.g. re-rendering after a reconnect)."""
    shown = re.search(r"n\.º (\d+)", page.get_by_test_id("last-reading").inner_text())
    return int(shown.group(1)) if shown else -1


def _wait_until(page, predicate, timeout_s: float, what: str):
    """Poll a Python-side condition while the page keeps running (its wallet calls are served meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(500)
    raise AssertionError(f"timed out waiting for {what}")


def test_household_signs_in_and_sees_its_dashboard(open_page, stack):
    page, wallet = open_page(stack.alice)
    expect(page.get_by_test_id("summary")).to_be_visible()
    sign_in(page)
    assert wallet.signed_messages == 1
    expect(page.get_by_test_id("wallet-address")).to_contain_text(stack.alice.address[:6])
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "connected")

    go(page, "Mi hogar")
    expect(page.get_by_test_id("household-address")).to_have_text(stack.alice.address)
    expect(page.get_by_test_id("balance-wallet-euro")).to_contain_text("1000,00 €")
    expect(page.get_by_test_id("live-power")).to_be_visible()
    screenshot(page, "household")


def test_a_reading_published_to_mqtt_appears_live(open_page, stack):
    page, _ = open_page(stack.alice, path="/")
    sign_in(page)
    go(page, "Mi hogar")
    expect(page.get_by_test_id("live-power")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    seq = stack.meters.publish(stack.alice.address, power_w=4321)
    # The feed publishes on its own clock too: the page shows this reading or a later one, without a reload.
    expect(page.get_by_test_id("last-reading")).to_contain_text(re.compile(r"n\.º \d+"), timeout=10_000)
    _wait_until(page, lambda: _last_reading_seq(page) >= seq, 10, f"reading #{seq} on the page")
    assert page.evaluate("window.__sameDocument") is True

    # The connection drops (the web server restarts): the page says so, reconnects by itself, and the
    # session cookie puts it back in its household's room.
    page.evaluate("""() => {
        window.__statuses = [];
        const badge = document.querySelector('[data-testid=live-status]');
        new MutationObserver(() => window.__statuses.push(badge.dataset.status)).observe(badge, { attributes: true });
    }""")
    stack.restart_web()
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "connected", timeout=20_000)
    assert "reconnecting" in page.evaluate("window.__statuses")
    seq = stack.meters.publish(stack.alice.address)
    _wait_until(page, lambda: _last_reading_seq(page) >= seq, 15, f"reading #{seq} after the reconnect")
    assert page.evaluate("window.__sameDocument") is True

    # The community dashboard follows the readings too.
    go(page, "Comunidad")
    expect(page.get_by_test_id("latest-reading")).to_contain_text("Última lectura", timeout=10_000)


def test_the_language_switch_changes_every_text_and_is_remembered(open_page, stack):
    page, _ = open_page()
    expect(page.locator("nav.main-nav")).to_contain_text("Mercado")
    expect(page.locator("h1")).to_have_text("Panel de la comunidad")
    page.get_by_test_id("lang-switch").select_option("en")
    expect(page.locator("h1")).to_have_text("Community dashboard")
    expect(page.locator("nav.main-nav")).to_contain_text("Market")
    expect(page.get_by_test_id("connect-wallet")).to_have_text("Connect wallet")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()
    expect(page.locator("h1")).to_have_text("Community dashboard")
    page.get_by_test_id("lang-switch").select_option("es")
    expect(page.locator("h1")).to_have_text("Panel de la comunidad")


def test_a_bad_order_is_explained_and_sends_nothing(open_page, stack):
    page, wallet = open_page(stack.alice, path="/")
    sign_in(page)
    go(page, "Mercado")
    form = page.get_by_test_id("order-form")
    expect(form).to_be_visible()
    page.get_by_test_id("side-bid").check()
    sent_before = len(wallet.sent)

    page.get_by_test_id("order-amount").fill("0")
    page.get_by_test_id("order-price").fill("0,10")
    page.get_by_test_id("place-order").click()
    expect(form.get_by_test_id("form-message")).to_have_text("Indica una cantidad de energía mayor que cero.")

    page.get_by_test_id("order-amount").fill("0,5")
    page.get_by_test_id("order-price").fill("0,25")
    page.get_by_test_id("place-order").click()
    expect(form.get_by_test_id("form-message")).to_contain_text("supera el precio de la red")
    expect(form.get_by_test_id("form-message")).to_contain_text("0,200")
    screenshot(page, "market-bad-order")

    # A good order the person then refuses in the wallet: said in words, nothing sent either.
    page.get_by_test_id("order-price").fill("0,10")
    expect(page.get_by_test_id("order-preview")).to_contain_text("0,05 €")  # 0.5 kWh at 0.10 EUR escrowed
    wallet.reject_next = True
    page.get_by_test_id("place-order").click()
    expect(form.get_by_test_id("form-message")).to_have_text(
        "Rechazaste la solicitud en tu billetera. No se envió nada."
    )
    assert len(wallet.sent) == sent_before
    expect(page.get_by_test_id("my-orders").or_(page.get_by_text("No tienes órdenes."))).to_be_visible()


def test_an_ask_and_a_bid_settle_and_the_audit_page_verifies_the_interval(open_page, stack):
    market = stack.contract("EnergyMarket")
    token = stack.contract("EnergyToken")
    ask_wh = 30
    seller, seller_wallet = open_page(stack.alice, path="/")
    sign_in(seller)
    # A's surplus is credited as kWh tokens by the first settlements.
    _wait_until(
        seller,
        lambda: token.functions.balanceOf(stack.alice.address).call() >= ask_wh,
        SETTLE_TIMEOUT_MS / 1000,
        "household A's first credited surplus",
    )

    go(seller, "Mercado")
    seller.get_by_test_id("side-ask").check()
    seller.get_by_test_id("order-amount").fill("0,030")
    seller.get_by_test_id("order-price").fill("0,060")
    seller.get_by_test_id("order-intervals").fill("20")
    expect(seller.get_by_test_id("order-preview")).to_contain_text("30 Wh")
    seller.get_by_test_id("place-order").click()
    expect(seller.get_by_test_id("order-form").get_by_test_id("form-message")).to_have_text(
        "Orden colocada.", timeout=30_000
    )
    assert len(seller_wallet.sent) == 2  # approve, placeOrder
    expect(seller.get_by_test_id("book-asks")).to_contain_text("0,060 €/kWh")

    buyer, buyer_wallet = open_page(stack.bob, path="/")
    sign_in(buyer)
    go(buyer, "Mercado")
    buyer.get_by_test_id("side-bid").check()
    buyer.get_by_test_id("order-amount").fill("0,030")
    buyer.get_by_test_id("order-price").fill("0,150")
    buyer.get_by_test_id("order-intervals").fill("20")
    expect(buyer.get_by_test_id("order-preview")).to_contain_text("0,0045 €")  # ceil(30 Wh x 0.15 EUR/kWh)
    buyer.get_by_test_id("place-order").click()
    expect(buyer.get_by_test_id("order-form").get_by_test_id("form-message")).to_have_text(
        "Orden colocada.", timeout=30_000
    )
    assert len(buyer_wallet.sent) == 2
    screenshot(buyer, "market")

    ask_id, bid_id = market.functions.nextOrderId().call() - 2, market.functions.nextOrderId().call() - 1
    fills = _wait_until(
        buyer,
        lambda: market.events.Filled.get_logs(from_block=0, argument_filters={"orderId": [ask_id, bid_id]}),
        SETTLE_TIMEOUT_MS / 1000,
        "the orders' fills",
    )
    interval_id = fills[0]["args"]["intervalId"]
    assert {f["args"]["orderId"] for f in fills} == {ask_id, bid_id}
    value = fills[0]["args"]["value"]

    for page, order_id in ((seller, ask_id), (buyer, bid_id)):
        go(page, "Mi hogar")
        expect(page.get_by_test_id("fills-table")).to_contain_text(f"#{order_id}", timeout=20_000)
        expect(page.get_by_test_id("fills-table")).to_contain_text(f"#{interval_id}")
    expect(seller.get_by_test_id("balance-market-euro")).not_to_have_text("0,00 €")  # the sale's proceeds
    assert market.functions.getAccount(stack.alice.address).call()[0] == value
    # The KPI card (savings included) bills by a tariff schedule: this stack has flat tariffs only, so it says so
    # (tests/e2e/test_statements.py checks the figures under a schedule).
    expect(buyer.get_by_test_id("kpis")).to_contain_text("No hay tarifa registrada en la cadena")
    screenshot(seller, "household-after-trade")
    for page in (seller, buyer):  # the orders, read from the chain, are filled
        go(page, "Mercado")
        expect(page.get_by_test_id("my-orders")).to_contain_text("30 Wh de 30 Wh")

    _wait_until(buyer, lambda: stack.archive_path(interval_id).is_file(), 30, "the interval's archive")
    buyer.goto(f"/audit/{interval_id}")
    result = buyer.get_by_test_id("audit-result")
    expect(result).to_have_attribute("data-ok", "true", timeout=30_000)
    expect(buyer.get_by_test_id("audit-verdict")).to_have_text(f"Verificado: el intervalo {interval_id} es correcto.")
    expect(buyer.get_by_test_id("audit-households")).to_contain_text("correcto")
    screenshot(buyer, "audit")
    stack.verified_interval = interval_id


def test_a_tampered_archive_makes_the_audit_page_say_what_differs(open_page, stack):
    interval_id = getattr(stack, "verified_interval", None)
    if interval_id is None:  # run alone: take any archived interval
        archived = sorted(stack.archive_path(0).parent.glob("*.json"), key=lambda p: int(p.stem))
        assert archived, "no settled interval to tamper with"
        interval_id = int(archived[-1].stem)
    path = stack.archive_path(interval_id)
    original = path.read_bytes()
    document = json.loads(original)
    leaf = document["leaves"][0]
    reading = leaf["readings"][len(leaf["readings"]) // 2]
    reading["producedWh"] += 7  # one register, changed after the meter signed it
    try:
        path.write_text(json.dumps(document))
        page, _ = open_page(path=f"/audit/{interval_id}")
        result = page.get_by_test_id("audit-result")
        expect(result).to_have_attribute("data-ok", "false", timeout=30_000)
        expect(page.get_by_test_id("audit-verdict")).to_contain_text(f"El intervalo {interval_id} NO es correcto")
        differences = page.get_by_test_id("audit-differences")
        expect(differences).to_contain_text(f"la lectura n.º {reading['seq']} está firmada por")
        expect(differences).to_contain_text("readingsHash")
        expect(differences).to_contain_text(leaf["household"])
        screenshot(page, "audit-tampered")
    finally:
        path.write_bytes(original)


def test_a_burner_wallet_is_offered_on_the_local_chain_when_none_is_injected(open_page, stack):
    page, _ = open_page()  # no injected wallet
    page.get_by_test_id("connect-wallet").click()
    page.get_by_test_id("use-burner").click()
    address = page.get_by_test_id("wallet-address")
    expect(address).to_be_visible(timeout=20_000)
    burner = address.get_attribute("title")
    euro = stack.contract("Euro")
    _wait_until(page, lambda: euro.functions.balanceOf(burner).call() == 1_000 * 10**6, 20, "the faucet's test euros")
    assert stack.web3.eth.get_balance(burner) > 0  # gas money from anvil_setBalance
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("wallet-role")).to_have_text("visitante (solo lectura)")
    go(page, "Mi hogar")
    expect(page.get_by_test_id("not-household")).to_contain_text(burner)
    page.reload()  # the key stays in this browser: the same burner comes back
    expect(page.get_by_test_id("wallet-address")).to_have_attribute("title", burner, timeout=20_000)


def test_admin_page_and_phone_layout(open_page, stack):
    page, _ = open_page(stack.admin, path="/")
    sign_in(page, role_text="administración")
    go(page, "Administración")
    expect(page.get_by_test_id("households")).to_contain_text(stack.alice.address[:6])
    expect(page.locator("#health")).to_contain_text("bloque")

    # Registering a household: the API returns the unsigned transaction, the admin's wallet sends it.
    wallet, meter = Account.create().address, Account.create().address
    page.get_by_test_id("admin-wallet").fill(wallet)
    page.get_by_test_id("admin-meter").fill(meter)
    page.get_by_test_id("admin-register").click()
    expect(page.locator("#register").get_by_test_id("form-message")).to_have_text("Registrar hogar ✓", timeout=20_000)
    registry = stack.contract("CommunityRegistry")
    assert registry.functions.householdOfMeter(meter).call() == wallet
    page.get_by_test_id("admin-wallet").fill(wallet)  # twice: the API refuses before anything is signed
    page.get_by_test_id("admin-meter").fill(Account.create().address)
    page.get_by_test_id("admin-register").click()
    expect(page.locator("#register").get_by_test_id("form-message")).to_have_text(
        "Esa billetera ya es un hogar registrado."
    )
    screenshot(page, "admin")

    dashboard, _ = open_page(stack.alice, path="/")
    expect(dashboard.get_by_test_id("latest-reading")).to_contain_text("Última lectura", timeout=10_000)
    dashboard.wait_for_timeout(6_000)  # a few live points on the chart
    screenshot(dashboard, "dashboard")

    phone, _ = open_page(stack.alice, viewport={"width": 390, "height": 844}, path="/")
    expect(phone.get_by_test_id("summary")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "the page scrolls sideways"
    screenshot(phone, "phone-dashboard")
