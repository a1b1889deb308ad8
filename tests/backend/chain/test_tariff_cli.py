"""`vatio tariff`: a new schedule version and more calendar days pushed on a real Anvil, and every refusal
leaving the registry as it was."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3

from backend.chain.anvil import start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, deploy_community
from backend.chain.tariffs import TARIFFS_DIR, read_versions
from backend.cli import main
from backend.tariffs.bands import interval_band_index
from backend.tariffs.onchain import calendar_words, first_interval
from backend.tariffs.schema import load_schedule

pytestmark = pytest.mark.slow  # deploys to a real Anvil node

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"
SECONDS = 900


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    node = start_anvil()
    web3 = Web3(Web3.HTTPProvider(node.url))
    deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings(tariff_schedule=SPAIN))
    path = deployment.save(tmp_path_factory.mktemp("deployments"))
    yield web3, deployment.contract(web3, "CommunityRegistry"), ["--rpc-url", node.url, "--deployment", str(path)]
    node.stop()


def next_year_file(web3, folder, days_ahead=3, replace=()):
    """The Spanish example as version 2, from a local day `days_ahead` after the chain's today, P1 dearer."""
    now = dt.datetime.fromtimestamp(web3.eth.get_block("latest")["timestamp"], ZoneInfo("Europe/Madrid"))
    start = now.date() + dt.timedelta(days=days_ahead)
    text = SPAIN.read_text()
    text = re.sub(r"(?m)^valid_from = .*$", f"valid_from = {start.isoformat()}", text)
    text = re.sub(r"(?m)^years = .*$", f"years = [{start.year}, {start.year + 1}]", text)
    text = re.sub(r"(?ms)^dates = \[.*?\]$", "dates = []", text)
    text = re.sub(r"(?m)^version = 1$", "version = 2", text).replace('"0.1650"', '"0.1750"')
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path = folder / f"es-v2-{days_ahead}.toml"
    path.write_text(text)
    return path


def vatio(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def state(web3, registry):
    """What a refused command must leave as it was: the versions, the latest version's next days."""
    versions = read_versions(registry)
    day = web3.eth.get_block("latest")["timestamp"] // 86400
    days = [registry.functions.bandCalendar(versions[-1].version, d).call() for d in range(day, day + 30)]
    return versions, days


@pytest.fixture(scope="module")
def added(community, tmp_path_factory):
    web3, registry, chain = community
    folder = tmp_path_factory.mktemp("tariffs")
    path = next_year_file(web3, folder)
    result = vatio("tariff", "add", path, *chain, "--calendar-days", 5)
    assert result.exit_code == 0, result.output
    return load_schedule(path), folder


def test_add_registers_the_file_from_its_valid_from_with_its_calendar(community, added):
    web3, registry, _ = community
    schedule, _ = added
    versions = read_versions(registry)
    assert [v.version for v in versions] == [0, 1, 2]
    assert versions[2].schedule_hash == schedule.source_hash
    start = versions[2].effective_from
    assert start == first_interval(schedule, SECONDS)  # local midnight of valid_from
    assert registry.functions.bandOf(start - 1).call()[0] == 1  # the old version until then
    for interval_id in range(start, start + 96):
        assert registry.functions.bandOf(interval_id).call() == [2, interval_band_index(schedule, interval_id, SECONDS)]
    assert tuple(registry.functions.bandBounds(2, 0).call()) == (60_000, 175_000)  # P1's new retail bound
    first_day = start * SECONDS // 86400
    pushed = [registry.functions.bandCalendar(2, day).call() for day in range(first_day, first_day + 6)]
    assert pushed[:5] == calendar_words(schedule, first_day, 5) and pushed[5] == 0


def test_calendar_pushes_the_next_days_after_the_last_one_set(community, added):
    web3, registry, chain = community
    schedule, folder = added
    first_day = read_versions(registry)[2].effective_from * SECONDS // 86400
    result = vatio("tariff", "calendar", *chain, "--days", 3, "--tariffs-dir", folder)
    assert result.exit_code == 0, result.output
    assert "set 3 days" in result.output
    words = [registry.functions.bandCalendar(2, day).call() for day in range(first_day, first_day + 9)]
    assert words[:8] == calendar_words(schedule, first_day, 8) and words[8] == 0
    shown = vatio("tariff", "show", *chain, "--tariffs-dir", folder)
    assert shown.exit_code == 0, shown.output
    last = dt.datetime.fromtimestamp((first_day + 7) * 86400, dt.UTC).date()
    assert f"calendar: up to {last.isoformat()} (UTC)" in shown.output
    assert "version 2: from interval" in shown.output and schedule.name in shown.output


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("past", "is not in the future: a new version applies from a future interval only"),
        ("feed_in_above_retail", "feed-in 0.2000 is above retail 0.1300"),
        ("unknown_key", "unknown"),
        ("same_file", "is already the newest version (2"),
        ("from_interval_past", "is not in the future: the earliest a new version may start"),
        ("not_admin", "is not the registry's admin"),
    ],
)
def test_add_refuses_with_a_clear_message_and_changes_nothing(community, added, tmp_path, how, message):
    web3, registry, chain = community
    _, folder = added
    path, extra = next_year_file(web3, tmp_path, days_ahead=5), []
    if how == "past":
        path = SPAIN
    elif how == "feed_in_above_retail":
        path = next_year_file(
            web3,
            tmp_path,
            6,
            [('retail_import = "0.1300"\nfeed_in = "0.0600"', 'retail_import = "0.1300"\nfeed_in = "0.2000"')],
        )
    elif how == "unknown_key":
        path = next_year_file(web3, tmp_path, 6, [("[fixed]\n", '[fixed]\nper_week = "1"\n')])
    elif how == "same_file":
        path = next(folder.glob("*.toml"))
    elif how == "from_interval_past":
        extra = ["--from-interval", web3.eth.get_block("latest")["timestamp"] // SECONDS]
    elif how == "not_admin":
        extra = ["--private-key", "0x" + Account.create().key.hex().removeprefix("0x")]
    before = state(web3, registry)
    result = vatio("tariff", "add", path, *chain, *extra)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert state(web3, registry) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", 0], "version 0 has a single band: it needs no calendar"),
        (["--version", 7], "--version 7: the registry has versions 0 to 2"),
        ([], "the file was changed or is missing"),  # no file with version 2's hash in config/tariffs
    ],
)
def test_calendar_refuses_with_a_clear_message_and_changes_nothing(community, added, args, message):
    web3, registry, chain = community
    before = state(web3, registry)
    result = vatio("tariff", "calendar", *chain, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert state(web3, registry) == before


def test_a_dry_run_sends_nothing(community, added, tmp_path):
    web3, registry, chain = community
    before = state(web3, registry)
    result = vatio("tariff", "add", next_year_file(web3, tmp_path, 9), *chain, "--dry-run")
    assert result.exit_code == 0 and "dry run: nothing sent" in result.output, result.output
    assert state(web3, registry) == before
