"""A household downloads this month's statement PDF from its page; the PDF's text carries the total the page shows.

The stack deploys flat tariffs only, so this test registers the Spanish example schedule (config/tariffs) from the
next intervals on, as the admin would, and waits for an interval settled under it. The schedule stays in force for
the tests that run after this one in the session (test_web_log.py, which places no orders).
"""

from __future__ import annotations

import datetime as dt
import re

from e2e_pages import go, sign_in
from playwright.sync_api import expect
from pypdf import PdfReader

from backend.chain.deploy import Deployer
from backend.chain.tariffs import TARIFFS_DIR, register_schedule
from backend.tariffs.schema import load_schedule


def test_a_household_downloads_its_statement_pdf_with_the_total(open_page, stack):
    schedule = load_schedule(TARIFFS_DIR / "es-2.0td-example.toml")
    registered = register_schedule(Deployer(stack.web3, stack.admin), stack.contract("CommunityRegistry"), schedule)
    seconds = stack.deployment.settings["intervalSeconds"]
    # The month of the first interval the schedule bills, local to the schedule (Madrid).
    month = f"{dt.datetime.fromtimestamp(registered.effective_from * seconds, schedule.zone):%Y-%m}"

    page, _ = open_page(stack.alice, path="/")
    sign_in(page)
    go(page, "Mi hogar")
    link = page.get_by_test_id(f"statement-pdf-{month}")
    # The card reloads on every settlement: the first one under the schedule is a minute or so away.
    expect(link).to_be_visible(timeout=120_000)
    # A settlement every 15 s may land between reading the page and downloading: then the page catches up and the
    # next try matches.
    for _ in range(4):
        shown = page.get_by_test_id(f"statement-total-{month}").inner_text()
        total = re.sub(r"\s*€$", "", shown.replace("\u00a0", " ")).strip()
        assert re.fullmatch(r"-?[\d.]+,\d{2,4}", total), shown
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename == f"vatio-{month}-{stack.alice.address}.pdf"
        text = " ".join("\n".join(p.extract_text() for p in PdfReader(download.value.path()).pages).split())
        assert "Resumen mensual de energía" in text  # the page's language (es)
        assert stack.alice.address in text
        if f"Con la comunidad {total} EUR" in text:
            break
        page.wait_for_timeout(3_000)
    assert f"Con la comunidad {total} EUR" in text, (shown, text[:600])

    # The month's KPIs beside the statement: the saving with both bills, and the shares as percentages.
    expect(page.get_by_test_id("kpi-saving")).to_contain_text("€", timeout=60_000)
    expect(page.get_by_test_id("kpi-saving")).to_contain_text("con la comunidad")
    expect(page.get_by_test_id("kpi-self-sufficiency")).to_contain_text(re.compile(r"\d\s?%|—"))
    # The dashboard shows the community's.
    go(page, "Comunidad")
    expect(page.locator("#community-kpis").get_by_test_id("kpi-saving")).to_contain_text("€", timeout=60_000)
