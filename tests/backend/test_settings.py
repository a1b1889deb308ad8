"""backend/settings.py: each process's settings, read once from the environment, checked, and independent of the cwd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.cli import main
from backend.paths import DEPLOYMENTS_DIR, REPO_ROOT, VAR_DIR
from backend.settings import (
    AuditSettings,
    DemoSettings,
    ForecastSettings,
    OracleSettings,
    SettingsError,
    SimulatorSettings,
)
from backend.web.config import Config, ConfigError

ORACLE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture
def deployments(tmp_path: Path) -> Path:
    """A folder holding a deployment file for chain 31337 (no node needed to read it)."""
    folder = tmp_path / "deployments"
    folder.mkdir()
    (folder / "31337.json").write_text(json.dumps({"chainId": 31337, "deployBlock": 0, "contracts": {}}))
    return folder


def _web_environ(deployments: Path, **more: str) -> dict[str, str]:
    return {"VATIO_DEPLOYMENTS_DIR": str(deployments), "VATIO_CHAIN_ID": "31337", **more}


def test_defaults_live_under_the_repo_var_root_whatever_the_working_directory(tmp_path, monkeypatch, deployments):
    monkeypatch.chdir(tmp_path)
    oracle = OracleSettings.from_env({})
    assert oracle.archive_dir == VAR_DIR / "archive" == REPO_ROOT / "var" / "archive"
    assert oracle.database_url == f"sqlite:///{VAR_DIR / 'vatio.db'}"
    assert oracle.deployments_dir == DEPLOYMENTS_DIR
    assert AuditSettings.from_env({}).archive == str(VAR_DIR / "archive")
    assert Config.from_env(_web_environ(deployments)).archive_dir == VAR_DIR / "archive"
    forecast = ForecastSettings.from_env({})
    assert (forecast.model_dir, forecast.eval_dir, forecast.forecasts_file) == (
        VAR_DIR / "models",
        VAR_DIR / "forecast-eval",
        VAR_DIR / "forecasts" / "latest.json",
    )
    assert DemoSettings.from_env({}).var_dir == VAR_DIR


def test_one_var_root_moves_every_default_path(tmp_path, deployments):
    var = tmp_path / "state"
    environ = {"VATIO_VAR_DIR": str(var)}
    oracle = OracleSettings.from_env(environ)
    assert oracle.archive_dir == var / "archive"
    assert oracle.database_url == f"sqlite:///{var / 'vatio.db'}"
    assert AuditSettings.from_env(environ).archive == str(var / "archive")
    web = Config.from_env(_web_environ(deployments, **environ))
    assert (web.archive_dir, web.database_url) == (oracle.archive_dir, oracle.database_url)
    forecast = ForecastSettings.from_env(environ)
    assert forecast.eval_dir == var / "forecast-eval" and forecast.model_dir == var / "models"
    demo = DemoSettings.from_env(environ)
    assert demo.var_dir == var and demo.archive_dir == oracle.archive_dir and demo.database_url == oracle.database_url


def test_oracle_and_web_resolve_one_archive_from_different_directories(tmp_path, monkeypatch, deployments):
    """A relative VATIO_ARCHIVE_DIR is resolved once, at start-up; the defaults never depend on the cwd."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    environ = _web_environ(deployments, VATIO_VAR_DIR=str(tmp_path / "var"))
    monkeypatch.chdir(first)
    oracle = OracleSettings.from_env(environ)
    monkeypatch.chdir(second)
    web = Config.from_env(environ)
    assert oracle.archive_dir == web.archive_dir == tmp_path / "var" / "archive"
    assert oracle.archive_dir.is_absolute()

    monkeypatch.chdir(first)
    explicit = OracleSettings.from_env({"VATIO_ARCHIVE_DIR": "archive"})
    assert explicit.archive_dir == first / "archive"  # an explicit relative path: from where the process starts


def test_options_win_over_variables_and_a_bad_variable_behind_an_option_is_not_read():
    environ = {"VATIO_RPC_URL": "ftp://nowhere", "VATIO_MQTT_URL": "mqtt://broker:1884", "VATIO_ORACLE_KEY": ORACLE_KEY}
    settings = OracleSettings.from_env(environ, rpc_url="http://node:8545", grace_s=5, community="north")
    assert settings.rpc_url == "http://node:8545"
    assert settings.mqtt_url == "mqtt://broker:1884"
    assert settings.grace_s == 5 and settings.mqtt_client_id == "vatio-oracle-north"
    assert settings.oracle_key == ORACLE_KEY and ORACLE_KEY not in repr(settings)
    with pytest.raises(SettingsError, match="VATIO_RPC_URL"):
        OracleSettings.from_env(environ)
    with pytest.raises(TypeError, match="no setting"):
        OracleSettings.from_env({}, archive="x")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VATIO_RPC_URL", "ftp://node"),
        ("VATIO_RPC_URL", "http://node:notaport"),
        ("VATIO_MQTT_URL", "http://broker"),
        ("VATIO_DATABASE_URL", "mysql://x/y"),
        ("VATIO_REDIS_URL", "http://127.0.0.1:6379"),
        ("VATIO_LIVE_READINGS_PER_S", "fast"),
        ("VATIO_LIVE_READINGS_PER_S", "0"),
        ("VATIO_ORACLE_KEY", "0x1234"),
        ("VATIO_DEPLOYMENT", "/nonexistent/31337.json"),
        ("VATIO_SOCKETIO_CHANNEL", None),
        ("VATIO_MAX_FEE_GWEI", "0"),
        ("VATIO_MAX_FEE_GWEI", "lots"),
        ("VATIO_STUCK_AFTER_S", "-5"),
        ("VATIO_FEE_BUMP", "1.05"),
    ],
)
def test_a_bad_oracle_variable_stops_start_up_naming_it(variable, value):
    with pytest.raises(SettingsError, match=variable):
        if value is None:  # an empty channel cannot come from the environment (empty means unset)
            OracleSettings(socketio_channel="")
        else:
            OracleSettings.from_env({variable: value})


def test_fee_settings_reach_the_settler_in_wei():
    from backend.oracle.runner import SettlerSettings

    settings = OracleSettings.from_env(
        {"VATIO_MAX_FEE_GWEI": "2.5", "VATIO_STUCK_AFTER_S": "90", "VATIO_FEE_BUMP": "1.2"}
    )
    settler = SettlerSettings.of(settings)
    assert (settler.max_fee_per_gas_wei, settler.stuck_after_s, settler.fee_bump) == (2_500_000_000, 90.0, 1.2)
    assert SettlerSettings.of(OracleSettings.from_env({})).max_fee_per_gas_wei is None


def test_paths_that_are_files_are_refused(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(SettingsError, match="VATIO_ARCHIVE_DIR"):
        OracleSettings.from_env({"VATIO_ARCHIVE_DIR": str(a_file)})
    with pytest.raises(SettingsError, match="VATIO_ARCHIVE_DIR"):
        AuditSettings.from_env({"VATIO_ARCHIVE_DIR": str(a_file)})
    with pytest.raises(SettingsError, match="VATIO_MODEL_DIR"):
        ForecastSettings.from_env({"VATIO_MODEL_DIR": str(a_file)})
    with pytest.raises(SettingsError, match="--checkpoint-dir"):
        ForecastSettings.from_env({}, eval_dir=a_file)
    with pytest.raises(SettingsError, match="VATIO_VAR_DIR"):
        DemoSettings.from_env({"VATIO_VAR_DIR": str(a_file)})


def test_other_processes_check_their_values():
    assert AuditSettings.from_env({"VATIO_ARCHIVE_DIR": "https://vatio.example"}).archive == "https://vatio.example"
    with pytest.raises(SettingsError, match="VATIO_MQTT_URL"):
        SimulatorSettings.from_env({"VATIO_MQTT_URL": "ftp://broker"})
    with pytest.raises(SettingsError, match="VATIO_REDIS_URL"):
        ForecastSettings.from_env({"VATIO_REDIS_URL": "ftp://cache"})
    with pytest.raises(SettingsError, match="--web-port"):
        DemoSettings.from_env({}, web_port=70000)
    with pytest.raises(SettingsError, match="must differ"):
        DemoSettings.from_env({}, chain_port=5000, web_port=5000)
    with pytest.raises(SettingsError, match="--confirmations"):
        OracleSettings(confirmations=0)


def test_the_web_config_raises_the_shared_error(deployments):
    assert ConfigError is SettingsError
    with pytest.raises(SettingsError, match="VATIO_COOKIE_SECURE"):
        Config.from_env(_web_environ(deployments, VATIO_COOKIE_SECURE="maybe"))
    with pytest.raises(SettingsError, match="no deployment for chain 31337"):
        Config.from_env({"VATIO_DEPLOYMENTS_DIR": str(deployments.parent / "empty"), "VATIO_CHAIN_ID": "31337"})


def test_the_deployment_file_is_checked_against_the_node(deployments, tmp_path):
    settings = SimulatorSettings.from_env({"VATIO_DEPLOYMENTS_DIR": str(deployments)})
    assert settings.load_deployment(31337).chain_id == 31337
    with pytest.raises(SettingsError, match="no deployment for chain 1"):
        settings.load_deployment(1)
    other = SimulatorSettings.from_env({"VATIO_DEPLOYMENT": str(deployments / "31337.json")})
    with pytest.raises(SettingsError, match="is for chain 31337, the node is on chain 5"):
        other.load_deployment(5)


def test_vatio_oracle_fails_fast_naming_the_variable(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["oracle"], env={"VATIO_LIVE_READINGS_PER_S": "lots"})
    assert result.exit_code != 0
    assert "VATIO_LIVE_READINGS_PER_S must be a number" in result.output
    result = runner.invoke(
        main, ["oracle", "--rpc-url", "http://127.0.0.1:9", "--database-url", f"sqlite:///{tmp_path / 'v.db'}"]
    )
    assert result.exit_code != 0 and "no JSON-RPC node answers at http://127.0.0.1:9" in result.output
    assert not (tmp_path / "v.db").exists()  # nothing was written before the chain answered


def test_vatio_audit_and_forecast_fail_fast_naming_the_variable(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["audit"], env={"VATIO_RPC_URL": "ftp://node"})
    assert result.exit_code == 2 and "VATIO_RPC_URL" in result.output
    result = runner.invoke(
        main, ["forecast", "advice", "--household", "0xabc"], env={"VATIO_DATABASE_URL": "mysql://x/y"}
    )
    assert result.exit_code != 0 and "VATIO_DATABASE_URL" in result.output
