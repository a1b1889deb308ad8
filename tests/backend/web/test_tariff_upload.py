"""The admin's tariff schedule upload and the week of bands, on a real Anvil community under the Spanish example.

A refused file answers 400 with every problem and leaves the registry as it was; a good one gives transactions
that, sent by the admin's key as the wallet would, register the version and its calendar exactly as
`vatio tariff add` does.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from conftest import Community
from eth_account import Account
from web3 import Web3
from web_helpers import sign_in

from backend.chain.anvil import start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community
from backend.chain.tariffs import TARIFFS_DIR, read_versions
from backend.tariffs.bands import interval_band_index
from backend.tariffs.onchain import calendar_words, first_interval
from backend.tariffs.schema import parse_schedule

pytestmark = pytest.mark.slow  # deploys to a real Anvil node

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"
SECONDS = 900
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture(scope="module")
def community():
    """This module's own chain: the Spanish example in force (version 1), households alice and bob."""
    node = start_anvil()
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        admin = Account.from_key(ANVIL_DEPLOYER_KEY)
        deployment = deploy_community(web3, admin, CommunitySettings(tariff_schedule=SPAIN))
        registry = deployment.contract(web3, "CommunityRegistry")
        alice, bob, carol = (Account.create() for _ in range(3))
        meters = {}
        for household in (alice, bob):
            meters[household.address] = Account.create()
            Deployer(web3, admin).call(
                registry.functions.registerHousehold(household.address, meters[household.address].address, 7_000)
            )
        yield Community(node.url, web3, deployment, admin, alice, bob, carol, meters)
    finally:
        node.stop()


def chain_today(web3) -> dt.date:
    return dt.datetime.fromtimestamp(web3.eth.get_block("latest")["timestamp"], MADRID).date()


def schedule_text(web3, days_ahead: int = 3, replace=()) -> str:
    """The Spanish example as version 2 from a local day `days_ahead` after the chain's today, P1 dearer."""
    start = chain_today(web3) + dt.timedelta(days=days_ahead)
    text = SPAIN.read_text()
    text = re.sub(r"(?m)^valid_from = .*$", f"valid_from = {start.isoformat()}", text)
    text = re.sub(r"(?m)^years = .*$", f"years = [{start.year}, {start.year + 1}]", text)
    text = re.sub(r"(?ms)^dates = \[.*?\]$", "dates = []", text)
    text = re.sub(r"(?m)^version = 1$", "version = 2", text).replace('"0.1650"', '"0.1750"')
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture
def admin_client(make_app, community, tmp_path):
    client = make_app(tariffs_dir=tmp_path / "tariffs").test_client()
    assert sign_in(client, community.admin).status_code == 200
    return client


def registry_state(community):
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    versions = read_versions(registry)
    day = community.web3.eth.get_block("latest")["timestamp"] // 86400
    return versions, [registry.functions.bandCalendar(versions[-1].version, d).call() for d in range(day, day + 10)]


def test_only_the_admin_may_upload(make_app, community):
    app = make_app()
    anonymous, household = app.test_client(), app.test_client()
    sign_in(household, community.alice)
    body = {"schedule": schedule_text(community.web3)}
    assert anonymous.post("/api/admin/tariff-schedules", json=body).status_code == 401
    response = household.post("/api/admin/tariff-schedules", json=body)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        # Shape: every unknown key and bad value in one answer.
        (
            [("[fixed]\n", '[fixed]\nper_week = "1"\n'), ('name = "ES', 'colour = "red"\nname = "ES')],
            ["unknown key 'per_week' in [fixed]", "unknown key 'colour' in the top level"],
        ),
        # Meaning: feed-in above retail, overlapping hours and a holiday outside the years, all at once.
        (
            [
                ('retail_import = "0.1300"\nfeed_in = "0.0600"', 'retail_import = "0.1300"\nfeed_in = "0.2000"'),
                ("hours = [[0, 8]]", "hours = [[0, 9]]"),
                ("dates = []", "dates = [2001-01-01]"),
            ],
            [
                "band 'P2': feed-in 0.2000 is above retail 0.1300",
                "weekday hour 8 is in more than one period (P2, P3): overlapping hours",
                "holidays 2001-01-01 are outside the schedule's years",
            ],
        ),
        ([("hours = [[0, 8]]", "hours = [[0, 7]]")], ["weekday hours 7 have no band (missing hours)"]),
        (
            [('retail_import = "0.0950"', 'retail_import = "-0.0950"')],
            ["retail_import -0.0950 is negative and the file does not set allow_negative_prices = true"],
        ),
        ([("format_version = 1", "format_version = 1\n[oops")], ["is not valid TOML"]),
    ],
)
def test_a_bad_file_is_refused_with_every_problem_and_nothing_changes(admin_client, community, replace, expected):
    before = registry_state(community)
    response = admin_client.post(
        "/api/admin/tariff-schedules", json={"schedule": schedule_text(community.web3, 4, replace)}
    )
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_schedule" and "nothing changed" in error["message"]
    problems = error["details"]["problems"]
    for sentence in expected:
        assert any(sentence in problem for problem in problems), (sentence, problems)
    assert registry_state(community) == before


def test_the_registry_rules_are_checked_before_anything_is_signed(admin_client, community):
    # The example as shipped: its valid_from is in the past, and it is the version in force already.
    response = admin_client.post("/api/admin/tariff-schedules", json={"schedule": SPAIN.read_text()})
    assert response.status_code == 400
    problems = response.get_json()["error"]["details"]["problems"]
    assert any("is not in the future: a new version applies from a future interval only" in p for p in problems)
    assert any("is already the newest version (1" in p for p in problems)
    now_interval = community.web3.eth.get_block("latest")["timestamp"] // SECONDS
    response = admin_client.post(
        "/api/admin/tariff-schedules", json={"schedule": schedule_text(community.web3), "fromInterval": now_interval}
    )
    assert response.status_code == 400
    [problem] = response.get_json()["error"]["details"]["problems"]
    assert "is not in the future: the earliest a new version may start" in problem
    for body in ({"schedule": ""}, {"schedule": 3}, {}, {"schedule": "x", "calendarDays": 0}):
        response = admin_client.post("/api/admin/tariff-schedules", json=body)
        assert response.status_code == 400, body


def test_the_transactions_register_the_version_and_its_calendar(admin_client, community, tmp_path):
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    text = schedule_text(community.web3, 2)
    schedule = parse_schedule(text.encode())
    response = admin_client.post("/api/admin/tariff-schedules", json={"schedule": text, "calendarDays": 40})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    start = first_interval(schedule, SECONDS)
    assert answer["version"] == 2 and answer["effectiveFrom"] == start
    assert answer["schedule"]["hash"] == "0x" + schedule.source_hash.hex()
    assert [t["function"] for t in answer["transactions"]] == ["addTariffVersion", "setBandCalendar", "setBandCalendar"]
    assert [t.get("days") for t in answer["transactions"]] == [None, 31, 9]
    # The file is kept under its hash, where statements and the week find it.
    assert (tmp_path / "tariffs" / f"{answer['schedule']['hash']}.toml").read_bytes() == text.encode()
    # The preview: the first week of the new version, its bands as the file gives them.
    preview = answer["week"]
    assert preview["from"] == start * SECONDS and len(preview["hours"]) == 168
    for hour in preview["hours"]:
        assert hour["version"] == 2
        assert hour["band"] == interval_band_index(schedule, hour["start"] // SECONDS, SECONDS)
    assert [b["retailPrice"] for b in preview["versions"][0]["bands"]] == [175_000, 130_000, 95_000]

    deployer = Deployer(community.web3, community.admin)
    for step in answer["transactions"]:
        tx = step["transaction"]
        assert deployer._send({"to": tx["to"], "data": tx["data"]})["status"] == 1
    versions = read_versions(registry)
    assert [v.version for v in versions] == [0, 1, 2]
    assert versions[2].schedule_hash == schedule.source_hash and versions[2].effective_from == start
    first_day = start * SECONDS // 86400
    words = [registry.functions.bandCalendar(2, day).call() for day in range(first_day, first_day + 41)]
    assert words[:40] == calendar_words(schedule, first_day, 40) and words[40] == 0
    for interval_id in range(start, start + 96, 5):
        assert registry.functions.bandOf(interval_id).call() == [2, interval_band_index(schedule, interval_id, SECONDS)]

    # The week across the change: version 1 until the new start, then version 2 with its dearer P1.
    week = admin_client.get(f"/api/tariffs/week?from={start * SECONDS - 86400}").get_json()
    assert [v["version"] for v in week["versions"]] == [1, 2]
    assert [h["version"] for h in week["hours"]] == [1] * 24 + [2] * 144
    assert week["versions"][1]["name"] == schedule.name and week["versions"][1]["fileFound"]
    assert week["versions"][1]["bands"][0]["prices"]["retailImport"] == "0.1750"
    # Sent again, the same file is now the newest version: refused.
    again = admin_client.post("/api/admin/tariff-schedules", json={"schedule": text})
    assert any("already the newest version (2" in p for p in again.get_json()["error"]["details"]["problems"])


def test_the_week_in_force_is_public(client, community):
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    spain_start = read_versions(registry)[1].effective_from * SECONDS
    first_hour = -(-spain_start // 3600) * 3600
    answer = client.get(f"/api/tariffs/week?from={first_hour + 1800}")  # rounded down to the hour
    assert answer.status_code == 200
    week = answer.get_json()
    assert week["from"] == first_hour and week["to"] == first_hour + 168 * 3600
    assert week["versions"][0]["version"] == 1 and week["versions"][0]["name"] == "ES 2.0TD-like example"
    assert [b["name"] for b in week["versions"][0]["bands"]] == ["P1", "P2", "P3"]
    spain = parse_schedule(SPAIN.read_bytes())
    for hour in week["hours"][:24]:
        assert hour["version"] == 1
        assert hour["band"] == interval_band_index(spain, hour["start"] // SECONDS, SECONDS)
    for version in week["versions"][1:]:  # version 2 when the upload test ran: its file is not on this app
        assert not version["fileFound"] and version["name"] is None
        assert all(h["band"] is None for h in week["hours"] if h["version"] == version["version"])
    # From now: the deployment's flat version 0 until the schedule starts, half an hour after the deployment.
    now = client.get("/api/tariffs/week").get_json()
    assert now["versions"][0]["flat"] and now["versions"][0]["bands"][0]["name"] == "flat"
    assert client.get("/api/tariffs/week?from=x").status_code == 400


def test_an_order_preview_checks_the_band_its_first_interval_falls_in(make_app, community):
    """placeOrder checks a limit against the band of validFrom: so must the preview, not against the band of now."""
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    start = read_versions(registry)[1].effective_from
    bands = {}  # band -> its first interval in the next week (a weekend has no P1), as the registry gives it
    for interval_id in range(start, start + 7 * 96):
        bands.setdefault(registry.functions.bandOf(interval_id).call()[1], interval_id)
    peak, valley = bands[0], bands[2]  # P1: 0.060-0.165, P3: 0.060-0.095 EUR/kWh
    client = make_app().test_client()
    sign_in(client, community.alice)

    def preview(valid_from: int, price: int) -> str:
        body = {"side": "ask", "limitPrice": price, "amountWh": 100, "validFrom": valid_from}
        return client.post("/api/market/orders/preview", json=body).get_json()["error"]["code"]

    assert preview(valley, 120_000) == "invalid_price"  # above the valley's retail bound
    # In the peak band the same limit passes the price check; Alice then holds no kWh tokens to escrow.
    assert preview(peak, 120_000) == "insufficient_balance"
    # Beyond the band calendar the registry has no band: a window error, not an unreachable chain.
    assert preview(start + 4 * 365 * 96, 100_000) == "invalid_window"
