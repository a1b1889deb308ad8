"""The broker logins of the oracle and the simulator: VATIO_MQTT_USERNAME / VATIO_MQTT_PASSWORD_FILE, the URL's
user, or a folder of per-meter password files; bad values stop the process before it connects."""

from __future__ import annotations

import pytest

from backend.settings import OracleSettings, SettingsError, SimulatorSettings


def test_the_oracle_logs_in_from_its_password_file_or_the_url(tmp_path):
    password_file = tmp_path / "oracle.password"
    password_file.write_text("s3cret\n")
    settings = OracleSettings.from_env(
        {"VATIO_MQTT_USERNAME": "oracle", "VATIO_MQTT_PASSWORD_FILE": str(password_file)}
    )
    assert settings.mqtt_login() == ("oracle", "s3cret")
    in_url = OracleSettings.from_env({"VATIO_MQTT_URL": "mqtt://oracle:fromurl@127.0.0.1:1884"})
    assert in_url.mqtt_login() == ("oracle", "fromurl")
    assert OracleSettings.from_env({}).mqtt_login() == (None, None)  # an anonymous broker
    assert "s3cret" not in repr(settings)


def test_a_password_file_without_a_user_or_that_is_missing_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="VATIO_MQTT_PASSWORD_FILE"):
        OracleSettings.from_env(
            {"VATIO_MQTT_USERNAME": "oracle", "VATIO_MQTT_PASSWORD_FILE": str(tmp_path / "missing")}
        )
    (tmp_path / "pw").write_text("x\n")
    with pytest.raises(SettingsError, match="needs VATIO_MQTT_USERNAME"):
        OracleSettings.from_env({"VATIO_MQTT_PASSWORD_FILE": str(tmp_path / "pw")})
    with pytest.raises(SettingsError, match="VATIO_MQTT_CREDENTIALS_DIR"):
        SimulatorSettings.from_env({"VATIO_MQTT_CREDENTIALS_DIR": str(tmp_path / "nowhere")})
    assert SimulatorSettings.from_env({"VATIO_MQTT_CREDENTIALS_DIR": str(tmp_path)}).mqtt_credentials_dir == tmp_path
