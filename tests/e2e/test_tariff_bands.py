"""The market's order form under a banded schedule (the Spanish example): it names the tariff band of the intervals
the order covers with that band's on-chain bounds, and refuses a limit outside them in words before the server's
preview is asked and before anything is signed.

The stack deploys flat tariffs; this test registers the Spanish example from the next intervals on unless an earlier
test in the session (test_statements.py) did. Either way it stays in force for the tests after this one, as there.
"""

from __future__ import annotations

import time

from e2e_pages import go, sign_in
from playwright.sync_api import expect

from backend.chain.deploy import Deployer
from backend.chain.tariffs import TARIFFS_DIR, read_versions, register_schedule, version_at
from backend.tariffs.schema import load_schedule

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"


def spanish_schedule_in_force(stack):
    """The Spanish example in force on the chain now: registered here when no version of it is."""
    registry = stack.contract("CommunityRegistry")
    schedule = load_schedule(SPAIN)
    seconds = stack.deployment.settings["intervalSeconds"]
    versions = read_versions(registry)
    now = stack.web3.eth.get_block("latest")["timestamp"] // seconds
    ours = [
        v
        for v in versions
        if v.schedule_hash == schedule.source_hash and v.version >= version_at(versions, now).version
    ]
    if not ours:
        ours = [register_schedule(Deployer(stack.web3, stack.admin), registry, schedule)]
    starts = ours[0].effective_from
    deadline = time.monotonic() + 10 * seconds
    # The page places orders from the wall clock's interval and the chain from its blocks': both must be there.
    while min(time.time(), stack.web3.eth.get_block("latest")["timestamp"]) // seconds < starts:
        assert time.monotonic() < deadline, f"the schedule's first interval {starts} never came"
        time.sleep(1)
    return registry, schedule


def euro_per_kwh(units: int) -> str:
    """The page's Spanish price: 95000 payment units -> "0,095 €/kWh"."""
    return f"{units / 1e6:.3f}".replace(".", ",") + " €/kWh"


def test_the_order_form_names_the_band_and_refuses_a_price_outside_it(open_page, stack):
    registry, schedule = spanish_schedule_in_force(stack)
    seconds = stack.deployment.settings["intervalSeconds"]
    page, wallet = open_page(stack.alice, path="/")
    previews: list[str] = []
    page.on("request", lambda request: "/api/market/orders/preview" in request.url and previews.append(request.url))
    sign_in(page)
    go(page, "Mercado")
    form = page.get_by_test_id("order-form")
    page.get_by_test_id("order-intervals").fill("1")

    # The band of the interval the order starts in, as the registry has it (its calendar, not the page's week).
    # An hour may turn between reading it and the page showing it: then the next try matches.
    for _ in range(3):
        interval = int(time.time()) // seconds
        _, band_index = registry.functions.bandOf(interval).call()
        feed_in, retail = registry.functions.priceBounds(interval).call()
        name = schedule.bands[band_index].name
        bounds = f"{euro_per_kwh(feed_in)} – {euro_per_kwh(retail)}"
        page.get_by_test_id("order-amount").fill("0,5")  # an input refreshes the bands of the window
        shown = page.get_by_test_id("order-band")
        expect(shown).to_contain_text("Periodo ")
        if f"Periodo {name} · {bounds}" in shown.inner_text():
            break
        page.wait_for_timeout(2_000)
    expect(shown).to_contain_text(f"Periodo {name} · {bounds}")
    expect(page.get_by_test_id("order-bands")).to_contain_text("1 intervalo")

    sent, signed = len(wallet.sent), wallet.signed_messages
    # Above the band's retail price, below its feed-in price: each refused in words, naming the band and its bounds.
    page.get_by_test_id("order-price").fill(euro_per_kwh(retail + 1_000).removesuffix(" €/kWh"))
    page.get_by_test_id("place-order").click()
    message = form.get_by_test_id("form-message")
    expect(message).to_contain_text(f"supera el precio de la red {euro_per_kwh(retail)} del periodo {name}")
    expect(message).to_contain_text(f"el periodo admite {bounds}")
    expect(page.get_by_test_id("order-preview")).to_have_text("")

    page.get_by_test_id("order-price").fill(euro_per_kwh(feed_in - 1_000).removesuffix(" €/kWh"))
    page.get_by_test_id("place-order").click()
    expect(message).to_contain_text(f"por debajo de la compensación {euro_per_kwh(feed_in)} del periodo {name}")
    assert (len(wallet.sent), wallet.signed_messages, previews) == (sent, signed, [])

    # Within the band: the form previews the order (a bid: Alice holds test euros, maybe no kWh tokens yet).
    page.get_by_test_id("side-bid").check()
    page.get_by_test_id("order-price").fill(euro_per_kwh(retail).removesuffix(" €/kWh"))
    expect(page.get_by_test_id("order-preview")).to_contain_text("garantía")
    expect(message).to_have_text("")

    # The clearing table names the band of each settled interval: one settled under the schedule, as the chain has it.
    row = page.get_by_test_id("clearing-table").locator("tbody tr").first
    expect(row).to_contain_text("Periodo ", timeout=60_000)
    settled = int(row.locator("td").first.inner_text().removeprefix("#"))
    _, settled_band = registry.functions.bandOf(settled).call()
    expect(row).to_contain_text(f"Periodo {schedule.bands[settled_band].name} · ")
