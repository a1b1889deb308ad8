"""The chain keys (deployer, admin, oracle): eth-account keystores (Web3 Secret Storage), never raw on a real chain.

A keystore's password comes from a file (its first line) or a prompt. A raw
private key (VATIO_ORACLE_KEY, VATIO_DEPLOYER_KEY, --private-key) ends up in
shell history, `ps` and process environments: it is refused on every chain id
but the local ones. docs/keys.md says where each key should live.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from backend.chain.networks import LOCAL_CHAIN_IDS

__all__ = [
    "ANVIL_DEPLOYER_KEY",
    "KeyRefused",
    "create_keystore",
    "keystore_address",
    "load_keystore",
    "read_password",
    "resolve_account",
]

# Anvil's first default account: public knowledge, accepted on local chains only.
ANVIL_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
MIN_PASSWORD_CHARS = 8


class KeyRefused(ValueError):
    """A key source that is not used here, or a keystore that cannot be opened; the message says which."""


def read_password(password_file: Path | None, prompt: Callable[[], str] | None = None) -> str:
    """The keystore password: the first line of `password_file`, else `prompt()` (hidden input)."""
    if password_file is not None:
        try:
            lines = Path(password_file).read_text().splitlines()
        except OSError as error:
            raise KeyRefused(f"cannot read the password file {password_file}: {error}") from None
        if not lines or not lines[0]:
            raise KeyRefused(f"the password file {password_file} is empty")
        return lines[0]
    if prompt is None:
        raise KeyRefused("the keystore needs its password: give a password file or run interactively")
    return prompt()


def create_keystore(path: Path, password: str, iterations: int | None = None) -> str:
    """Make a new key, write it encrypted to `path` (mode 0600, never overwriting one); return its address."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise KeyRefused(f"use a keystore password of at least {MIN_PASSWORD_CHARS} characters")
    path = Path(path)
    if path.exists():
        raise KeyRefused(f"{path} exists: a key is never overwritten")
    account = Account.create()
    keystore = Account.encrypt(account.key, password, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(keystore, file)
    return account.address


def _read_keystore(path: Path) -> dict:
    try:
        keystore = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise KeyRefused(f"cannot read keystore {path}: {error}") from None
    if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
        raise KeyRefused(f"{path} is not an eth-account keystore (no 'crypto' section)")
    return keystore


def keystore_address(path: Path) -> str:
    """The checksummed address a keystore holds, read without its password (the file's `address` field)."""
    from web3 import Web3

    address = _read_keystore(path).get("address")
    if not address:
        raise KeyRefused(f"keystore {path} does not name its address; open it with the password instead")
    return Web3.to_checksum_address(address if address.startswith("0x") else "0x" + address)


def load_keystore(path: Path, password: str) -> LocalAccount:
    """The account in the keystore at `path`; KeyRefused for a wrong password or a file that is not a keystore."""
    keystore = _read_keystore(path)
    try:
        return Account.from_key(Account.decrypt(keystore, password))
    except ValueError as error:  # eth-account: "MAC mismatch" for a wrong password
        raise KeyRefused(f"cannot open keystore {path}: {error} (wrong password?)") from None


def resolve_account(
    private_key: str | None, keystore: Path | None, password: str | None, chain_id: int, role: str = "deployer"
) -> LocalAccount:
    """The `role`'s account: from its keystore; a raw key on local chains only; Anvil's first account by default there.

    Raises KeyRefused (a ValueError) naming what to give instead.
    """
    local = chain_id in LOCAL_CHAIN_IDS
    if keystore is not None and private_key:
        raise KeyRefused(f"the {role} key: give a keystore or a raw key, not both")
    if keystore is not None:
        if password is None:
            raise KeyRefused(f"the {role} keystore needs its password (a password file or the prompt)")
        return load_keystore(keystore, password)
    if private_key:
        if not local:
            raise KeyRefused(
                f"a raw {role} private key is refused on chain {chain_id} (only local chains "
                f"{sorted(LOCAL_CHAIN_IDS)} take one): use a keystore (`vatio keys new`)"
            )
        try:
            return Account.from_key(private_key)
        except (ValueError, TypeError) as error:
            raise KeyRefused(f"the {role} key is not a private key: {error}") from None
    if local:
        return Account.from_key(ANVIL_DEPLOYER_KEY)
    raise KeyRefused(f"chain {chain_id} is not local: the {role} key must come from a keystore (--keystore)")
