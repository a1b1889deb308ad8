"""`vatio oracle` started in another directory writes its archive where `vatio serve` reads it.

No default path depends on the directory a process starts in: the oracle
below is given no --archive-dir, only the var root ($VATIO_VAR_DIR) that the
web app is given too, and it runs in a scratch directory, while the web app
is built in yet another one. The archive it writes for a settled interval is
the document the web app serves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fault_helpers import start_publishing, wait_until

from backend.settings import OracleSettings
from backend.web.app import create_app
from backend.web.config import Config


def test_an_oracle_started_elsewhere_archives_where_the_web_app_serves(
    tmp_path: Path, make_community, broker, make_database, make_oracle, make_fleet, monkeypatch
):
    var_dir = tmp_path / "var"
    oracle_cwd, web_cwd = tmp_path / "oracle-cwd", tmp_path / "web-cwd"
    oracle_cwd.mkdir()
    web_cwd.mkdir()
    community = make_community(households=2, traders=0)
    database = make_database("sqlite")
    oracle = make_oracle(
        community,
        broker,
        database,
        archive_dir=None,
        cwd=oracle_cwd,
        environment={"VATIO_VAR_DIR": str(var_dir), "VATIO_ARCHIVE_DIR": ""},
    )
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)
    settled = wait_until(database.settled_ids, 60, "an interval to settle", oracle.tail)
    interval_id = settled[0]
    written = var_dir / "archive" / str(community.chain_id) / f"{interval_id}.json"
    wait_until(written.is_file, 30, f"the archive of interval {interval_id} under {var_dir}", oracle.tail)
    fleet.stop()
    oracle.stop()
    assert not any(oracle_cwd.iterdir()), "the oracle wrote into its working directory"

    monkeypatch.chdir(web_cwd)
    environ = {
        "VATIO_VAR_DIR": str(var_dir),
        "VATIO_DATABASE_URL": database.url,
        "VATIO_RPC_URL": community.node.url,
        "VATIO_DEPLOYMENT": str(community.deployment_path),
    }
    config = Config.from_env(environ)
    assert config.archive_dir == OracleSettings.from_env(environ).archive_dir == var_dir / "archive"
    client = create_app(config).test_client()
    response = client.get(f"/api/intervals/{interval_id}/archive")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == json.loads(written.read_text())


@pytest.fixture(autouse=True)
def _no_archive_dir_from_the_caller(monkeypatch):
    """The test's own environment must not name an archive: the var root alone decides."""
    monkeypatch.delenv("VATIO_ARCHIVE_DIR", raising=False)
    monkeypatch.delenv("VATIO_VAR_DIR", raising=False)
