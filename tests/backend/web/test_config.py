"""Config from the environment fails fast, naming the variable; the web app never imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backend.web.config import Config, ConfigError


def _env(tmp_path, **overrides) -> dict:
    deployment = tmp_path / "31337.json"
    deployment.write_text(json.dumps({"chainId": 31337, "deployBlock": 1, "contracts": {}, "settings": {}}))
    return {"VATIO_DEPLOYMENT": str(deployment), "VATIO_DATABASE_URL": f"sqlite:///{tmp_path}/v.db", **overrides}


def test_good_environment(tmp_path):
    config = Config.from_env(
        _env(
            tmp_path,
            VATIO_REDIS_URL="redis://127.0.0.1:6379/0",
            VATIO_SECRET_KEY="x" * 32,
            VATIO_SIWE_DOMAINS="vatio.example, localhost:5000",
            VATIO_COOKIE_SECURE="true",
            VATIO_ARCHIVE_DIR=str(tmp_path / "a"),
        )
    )
    assert config.chain_id == 31337 and config.siwe_domains == ("vatio.example", "localhost:5000")
    assert config.cookie_secure and config.archive_dir == tmp_path / "a"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VATIO_DATABASE_URL", "mysql://x/y"),
        ("VATIO_RPC_URL", "ftp://node"),
        ("VATIO_RPC_URL", "http://node:notaport"),
        ("VATIO_REDIS_URL", "http://127.0.0.1:6379"),
        ("VATIO_REDIS_URL", "redis://127.0.0.1:6379"),  # without VATIO_SECRET_KEY: workers could not share sessions
        ("VATIO_SECRET_KEY", "short"),
        ("VATIO_SIWE_DOMAINS", "https://vatio.example/login"),
        ("VATIO_COOKIE_SECURE", "maybe"),
        ("VATIO_RATE_LIMIT_SIGNIN", "lots"),
        ("VATIO_LIVE_READINGS_PER_S", "0"),
        ("VATIO_DEPLOYMENT", "/nonexistent/31337.json"),
        ("VATIO_CHAIN_ID", "abc"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(tmp_path, variable, value):
    env = _env(tmp_path, **{variable: value})
    if variable == "VATIO_CHAIN_ID":
        del env["VATIO_DEPLOYMENT"]
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)


def test_unreachable_chain_without_deployment_says_what_to_do(tmp_path):
    env = _env(tmp_path, VATIO_RPC_URL="http://127.0.0.1:1")
    del env["VATIO_DEPLOYMENT"]
    with pytest.raises(ConfigError, match="VATIO_DEPLOYMENT or VATIO_CHAIN_ID"):
        Config.from_env(env)


@pytest.mark.slow  # a fresh interpreter builds the app
def test_create_app_does_not_import_tensorflow(tmp_path):
    code = (
        "import sys; from backend.web.app import create_app; from backend.web.config import Config; "
        f"app = create_app(Config(database_url='sqlite:///{tmp_path}/v.db', rpc_url=None)); "
        "app.test_client().get('/api/openapi.json'); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
