"""Keystores for the chain keys: `vatio keys new|show-address`, passwords from a file or a prompt."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner
from eth_account import Account

from backend.chain.keys import KeyRefused, create_keystore, load_keystore, read_password, resolve_account
from backend.cli import main


def test_keys_new_then_show_address(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("a long enough password\n")
    keystore = tmp_path / "oracle.json"
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "new", str(keystore), "--password-file", str(password_file)])
    assert result.exit_code == 0, result.output
    address = result.output.strip()
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert "crypto" in json.loads(keystore.read_text())
    assert runner.invoke(main, ["keys", "show-address", str(keystore)]).output.strip() == address
    checked = runner.invoke(
        main, ["keys", "show-address", str(keystore), "--check", "--password-file", str(password_file)]
    )
    assert checked.exit_code == 0 and checked.output.strip() == address
    assert load_keystore(keystore, "a long enough password").address == address

    again = runner.invoke(main, ["keys", "new", str(keystore), "--password-file", str(password_file)])
    assert again.exit_code != 0 and "never overwritten" in again.output


def test_keys_new_prompts_twice_and_refuses_a_short_password(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "new", str(tmp_path / "a.json")], input="tiny\ntiny\n")
    assert result.exit_code != 0 and "at least 8 characters" in result.output
    assert not (tmp_path / "a.json").exists()
    result = runner.invoke(main, ["keys", "new", str(tmp_path / "b.json")], input="long password\nlong password\n")
    assert result.exit_code == 0, result.output


def test_show_address_check_refuses_a_wrong_password(tmp_path):
    keystore = tmp_path / "k.json"
    create_keystore(keystore, "the right one", iterations=2)
    result = CliRunner().invoke(main, ["keys", "show-address", str(keystore), "--check"], input="the wrong one\n")
    assert result.exit_code != 0 and "wrong password?" in result.output


def test_read_password_from_file_or_prompt(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(KeyRefused, match="is empty"):
        read_password(empty)
    with pytest.raises(KeyRefused, match="run interactively"):
        read_password(None)
    assert read_password(None, prompt=lambda: "typed") == "typed"


def test_raw_keys_are_for_local_chains_only(tmp_path):
    key = Account.create()
    for chain_id in (100, 10200, 246, 73799, 1):
        with pytest.raises(KeyRefused, match=f"raw oracle private key is refused on chain {chain_id}"):
            resolve_account(key.key.hex(), None, None, chain_id, role="oracle")
    assert resolve_account(key.key.hex(), None, None, 1337).address == key.address
    keystore = tmp_path / "k.json"
    create_keystore(keystore, "password123", iterations=2)
    with pytest.raises(KeyRefused, match="not both"):
        resolve_account(key.key.hex(), keystore, "password123", 31337)
    not_a_keystore = tmp_path / "n.json"
    not_a_keystore.write_text('{"address": "00"}')
    with pytest.raises(KeyRefused, match="not an eth-account keystore"):
        load_keystore(not_a_keystore, "x")
