"""Browser tests against a running community: Debian's Chromium driven by Playwright.

Chromium is /usr/bin/chromium (apt package `chromium`); no browser is ever
downloaded. The stack (e2e_stack.py) is started once per session; each test
opens browser contexts with an injected wallet (e2e_wallet.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_forecast import StoredRun, store_community_forecast
from e2e_stack import Stack, start_stack, stop_stack
from e2e_wallet import InjectedWallet
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = os.environ.get("VATIO_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make setup does, as root)")
    running, node = start_stack(tmp_path_factory.mktemp("e2e"))
    try:
        yield running
    finally:
        stop_stack(running, node)
        for name in ("oracle.log", "web.log"):
            print(f"--- {name} (tail) ---\n" + (running.logs / name).read_text()[-1500:])


@pytest.fixture(scope="session")
def community_forecast(stack) -> StoredRun:
    """The community's load forecast (24 h and 7 days, P10–P90) stored in the stack's database (e2e_forecast.py),
    at the level of the stack's meters' consumption."""
    level_kw = sum(meter.consumed_wh_per_s for meter in stack.meters.meters.values()) * 3.6  # Wh/s -> kW
    return store_community_forecast(stack.database_url, level_kw)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, stack) -> Iterator[Callable[..., tuple[Page, InjectedWallet | None]]]:
    """Open a page in a fresh context (own cookies and storage), with a wallet for `account` if given."""
    contexts: list[BrowserContext] = []

    def open_(account=None, viewport=DESKTOP, path: str = "/") -> tuple[Page, InjectedWallet | None]:
        context = browser.new_context(
            viewport=viewport, base_url=stack.web_url, locale="es-ES", timezone_id="Europe/Madrid"
        )
        contexts.append(context)
        wallet = None
        if account is not None:
            wallet = InjectedWallet(account, stack.rpc_url, stack.deployment.chain_id)
            wallet.install(context)
        page = context.new_page()
        page.on("pageerror", lambda error: print(f"page error: {error}"))
        page.goto(path)
        expect(page.locator("body[data-ready=true]")).to_have_count(1)
        return page, wallet

    yield open_
    for context in contexts:
        context.close()
