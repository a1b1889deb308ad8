"""The bridge's meter key: an eth-account (Web3 Secret Storage) keystore, its password from a file or a prompt.

Keystores are made, read and unlocked as every other Vatio key is (backend/chain/keys.py). What is the
bridge's own: a raw key on the command line ends up in shell history and ``ps``, so it is refused unless
the operator says ``--insecure-key`` and the chain is a local one.
"""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

from backend.chain.keys import KeyRefused, create_keystore, load_keystore, read_password
from backend.chain.networks import LOCAL_CHAIN_IDS

__all__ = ["LOCAL_CHAIN_IDS", "KeyRefused", "create_keystore", "load_key", "read_password"]


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
    account = load_keystore(keystore, password)
    return bytes(account.key), account.address
