"""The meter key: keystore round trip, `vatio bridge keygen`, and the raw-key refusals."""

from __future__ import annotations

import json
import stat

import pytest
from bridge_helpers import TEST_KEY, TEST_METER
from click.testing import CliRunner

from backend.bridge.cli import bridge as bridge_command
from backend.bridge.keys import KeyRefused, create_keystore, load_key, read_password

RAW_KEY = "0x" + TEST_KEY.hex()


def test_keystore_round_trip(tmp_path):
    path = tmp_path / "meter.json"
    address = create_keystore(path, "correct horse", iterations=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["address"].lower() == address[2:].lower()
    key, loaded = load_key(keystore=path, password="correct horse", raw_key=None, insecure_key=False, chain_id=100)
    assert loaded == address and len(key) == 32
    with pytest.raises(KeyRefused, match="wrong password"):
        load_key(keystore=path, password="wrong horse!", raw_key=None, insecure_key=False, chain_id=100)
    with pytest.raises(KeyRefused, match="never overwritten"):
        create_keystore(path, "correct horse", iterations=2)


def test_raw_key_refused_without_insecure_key_and_off_local_chains():
    with pytest.raises(KeyRefused, match="refused"):
        load_key(keystore=None, password=None, raw_key=RAW_KEY, insecure_key=False, chain_id=31337)
    with pytest.raises(KeyRefused, match="local chains only"):
        load_key(keystore=None, password=None, raw_key=RAW_KEY, insecure_key=True, chain_id=100)
    assert load_key(keystore=None, password=None, raw_key=RAW_KEY, insecure_key=True, chain_id=31337) == (
        TEST_KEY,
        TEST_METER,
    )


def test_password_from_file_or_prompt(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("from the file\nignored\n")
    assert read_password(password_file, prompt=lambda: "prompted") == "from the file"
    assert read_password(None, prompt=lambda: "prompted") == "prompted"
    with pytest.raises(KeyRefused):
        read_password(None)


def test_keygen_command_prints_the_address_to_register(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("a long password\n")
    keystore = tmp_path / "keys" / "meter.json"
    result = CliRunner().invoke(
        bridge_command, ["keygen", "--keystore", str(keystore), "--password-file", str(password_file)]
    )
    assert result.exit_code == 0, result.output
    address = result.output.split("meter address to register: ")[1].strip()
    _, loaded = load_key(keystore=keystore, password="a long password", raw_key=None, insecure_key=False, chain_id=100)
    assert loaded == address


def test_bridge_command_refuses_a_raw_key(tmp_path):
    result = CliRunner().invoke(
        bridge_command,
        [
            "--p1",
            "/dev/null",
            "--chain-id",
            "31337",
            "--registry",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "--private-key",
            RAW_KEY,
            "--state-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0 and "raw key on the command line is refused" in result.output
