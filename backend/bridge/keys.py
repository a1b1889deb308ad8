"""The bridge's meter key: an eth-account (Web3 Secret Storage) keystore, its password from a file or a prompt.

A raw key on the command line ends up in shell history and ``ps``: it is refused unless the
operator says ``--insecure-key`` and the chain is a local one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

__all__ = ["LOCAL_CHAIN_IDS", "KeyRefused", "create_keystore", "load_key", "read_password"]

LOCAL_CHAIN_IDS = frozenset({31337, 1337})  # Anvil and Ganache/Hardhat-style dev chains


class KeyRefused(ValueError):
    """A key source the bridge will not use, or a keystore it cannot open."""


def read_password(password_file: Path | None, prompt=None) -> str:
    """The keystore password: the first line of ``password_file``, else ``prompt()`` (hidden input)."""
    if password_file is not None:
        lines = Path(password_file).read_text().splitlines()
        if not lines or not lines[0]:
            raise KeyRefused(f"password file {password_file} is empty")
        return lines[0]
    if prompt is None:
        raise KeyRefused("the keystore needs a password: give --password-file or run interactively")
    return prompt()


def create_keystore(path: Path, password: str, iterations: int | None = None) -> str:
    """Make a new meter key, write it encrypted to ``path`` (mode 0600, never overwriting); return its address."""
    if len(password) < 8:
        raise KeyRefused("use a keystore password of at least 8 characters")
    path = Path(path)
    if path.exists():
        raise KeyRefused(f"{path} exists: a meter key is never overwritten")
    account = Account.create()
    keystore = Account.encrypt(account.key, password, iterations=iterations)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(keystore, file)
    return account.address


def load_key(
    *, keystore: Path | None, password: str | None, raw_key: str | None, insecure_key: bool, chain_id: int
) -> tuple[bytes, str]:
    """(private key bytes, checksummed address) from a keystore, or a raw key where that is allowed."""
    if keystore is not None and raw_key is not None:
        raise KeyRefused("give either a keystore or a raw key, not both")
    if raw_key is not None:
        if not insecure_key:
            raise KeyRefused(
                "a raw key on the command line is refused: use a keystore (vatio bridge keygen), "
                "or --insecure-key on a local chain"
            )
        if chain_id not in LOCAL_CHAIN_IDS:
            raise KeyRefused(f"--insecure-key is for local chains only ({sorted(LOCAL_CHAIN_IDS)}), not {chain_id}")
        try:
            account = Account.from_key(raw_key)
        except (ValueError, TypeError) as error:
            raise KeyRefused(f"not a private key: {error}") from None
        return bytes(account.key), account.address
    if keystore is None:
        raise KeyRefused("the bridge needs its meter key: --keystore FILE (make one with vatio bridge keygen)")
    if password is None:
        raise KeyRefused("the keystore needs its password")
    try:
        key = Account.decrypt(json.loads(Path(keystore).read_text()), password)
    except (OSError, json.JSONDecodeError) as error:
        raise KeyRefused(f"cannot read keystore {keystore}: {error}") from None
    except ValueError as error:  # eth-account: "MAC mismatch" for a wrong password
        raise KeyRefused(f"cannot open keystore {keystore}: {error} (wrong password?)") from None
    account = Account.from_key(key)
    return bytes(account.key), account.address
