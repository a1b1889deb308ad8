"""The admin uploads a tariff schedule on the admin page: a bad file shows every problem and sends nothing; a good
one shows its first week's bands and prices, and the admin's wallet registers it with its band calendar.

The version starts at the next local midnight (Madrid), so the tests that run after this one in the session still
trade under the tariff in force now.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from e2e_pages import go, screenshot, sign_in
from playwright.sync_api import expect

from backend.chain.tariffs import TARIFFS_DIR, read_versions
from backend.tariffs.onchain import calendar_words
from backend.tariffs.schema import parse_schedule

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"


def schedule_file(stack, folder, name, replace=()):
    """The Spanish example from the chain's tomorrow (Madrid), P1 dearer, no holidays."""
    now = stack.web3.eth.get_block("latest")["timestamp"]
    start = dt.datetime.fromtimestamp(now, ZoneInfo("Europe/Madrid")).date() + dt.timedelta(days=1)
    text = SPAIN.read_text()
    text = re.sub(r"(?m)^valid_from = .*$", f"valid_from = {start.isoformat()}", text)
    text = re.sub(r"(?m)^years = .*$", f"years = [{start.year}, {start.year + 1}]", text)
    text = re.sub(r"(?ms)^dates = \[.*?\]$", "dates = []", text).replace('"0.1650"', '"0.1750"')
    for old, new in replace:
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text)
    return path


def test_the_admin_uploads_a_schedule_and_registers_it(open_page, stack, tmp_path):
    registry = stack.contract("CommunityRegistry")
    before = read_versions(registry)
    page, _ = open_page(stack.admin, path="/")
    sign_in(page, role_text="administración")
    go(page, "Administración")
    expect(page.get_by_test_id("tariff-week-bands")).to_be_visible()  # the week in force

    # A bad file: every problem listed at once, nothing to send.
    bad = schedule_file(
        stack,
        tmp_path,
        "bad.toml",
        [
            ('retail_import = "0.1300"\nfeed_in = "0.0600"', 'retail_import = "0.1300"\nfeed_in = "0.2000"'),
            ("hours = [[0, 8]]", "hours = [[0, 9]]"),
        ],
    )
    page.get_by_test_id("schedule-file").set_input_files(str(bad))
    problems = page.get_by_test_id("schedule-problems")
    expect(problems).to_contain_text("2 problemas")
    expect(problems).to_contain_text("feed-in 0.2000 is above retail 0.1300")
    expect(problems).to_contain_text("weekday hour 8 is in more than one period")
    expect(page.get_by_test_id("schedule-send")).to_be_disabled()

    # A good one: its first week drawn, its bands' prices and bounds, then registered from the wallet.
    good = schedule_file(stack, tmp_path, "good.toml")
    schedule = parse_schedule(good.read_bytes())
    page.get_by_test_id("schedule-file").set_input_files(str(good))
    expect(page.get_by_test_id("schedule-summary")).to_contain_text(f"versión {len(before)} desde", ignore_case=True)
    expect(page.get_by_test_id("schedule-preview").locator("canvas")).to_be_visible()
    bands = page.get_by_test_id("schedule-preview-bands")
    expect(bands).to_contain_text("P1")
    expect(bands).to_contain_text("0,1750")
    expect(problems).to_be_empty()
    screenshot(page, "admin-tariff-upload")
    page.get_by_test_id("schedule-send").click()
    expect(page.get_by_test_id("schedule-message")).to_contain_text(f"Versión {len(before)} registrada", timeout=60_000)

    versions = read_versions(registry)
    assert len(versions) == len(before) + 1
    added = versions[-1]
    assert added.schedule_hash == schedule.source_hash and added.band_count == 3
    seconds = stack.deployment.settings["intervalSeconds"]
    first_day = added.effective_from * seconds // 86400
    words = [registry.functions.bandCalendar(added.version, d).call() for d in range(first_day, first_day + 62)]
    assert words == calendar_words(schedule, first_day, 62)
    # The server kept the file: the week from the start shows the new version's bands by name.
    week = page.request.get(f"/api/tariffs/week?from={added.effective_from * seconds}").json()
    assert week["versions"][0]["version"] == added.version and week["versions"][0]["fileFound"]
    assert [b["name"] for b in week["versions"][0]["bands"]] == ["P1", "P2", "P3"]
