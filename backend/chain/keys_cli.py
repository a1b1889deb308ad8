"""`vatio keys new|show-address`: the chain keys' keystores (deployer and admin, oracle); docs/keys.md."""

from __future__ import annotations

from pathlib import Path

import click

from backend.chain.keys import KeyRefused, create_keystore, keystore_address, load_keystore, read_password

__all__ = ["keys"]

password_file_option = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File whose first line is the password; without it: a prompt.",
)


@click.group()
def keys() -> None:
    """Encrypted keystores (eth-account's format) for the deployer, admin and oracle keys."""


@keys.command("new")
@click.argument("keystore", type=click.Path(dir_okay=False, path_type=Path))
@password_file_option
def new(keystore: Path, password_file: Path | None) -> None:
    """Make a new key in KEYSTORE (mode 0600, never overwriting a file) and print its address."""
    try:
        password = read_password(
            password_file,
            prompt=lambda: click.prompt("new keystore password", hide_input=True, confirmation_prompt=True),
        )
        address = create_keystore(keystore, password)
    except KeyRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(address)


@keys.command("show-address")
@click.argument("keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Open the keystore with its password and check the address it names.")
@password_file_option
def show_address(keystore: Path, check: bool, password_file: Path | None) -> None:
    """Print the address a KEYSTORE holds (e.g. to grant it ORACLE_ROLE); --check also opens it."""
    try:
        if not check:
            click.echo(keystore_address(keystore))
            return
        password = read_password(password_file, prompt=lambda: click.prompt("keystore password", hide_input=True))
        account = load_keystore(keystore, password)
        named = keystore_address(keystore)
        if named != account.address:
            raise KeyRefused(f"{keystore} names {named} but holds the key of {account.address}")
    except KeyRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(account.address)
