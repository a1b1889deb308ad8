"""What the browser tests do on a page, in one place: sign in, wait for things, save screenshots."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "screenshots"


def sign_in(page: Page, role_text: str = "hogar") -> None:
    """Connect the injected wallet and sign in with Ethereum (the page is in Spanish)."""
    page.get_by_test_id("connect-wallet").click()
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("wallet-role")).to_have_text(role_text)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # scrolled, a full-page shot draws the sticky header mid-page
    page.wait_for_timeout(400)  # charts draw on the next animation frame
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def go(page: Page, link_text: str) -> None:
    """Follow a link of the main navigation (client-side: the page is not reloaded)."""
    page.locator("nav.main-nav").get_by_role("link", name=link_text, exact=True).click()
