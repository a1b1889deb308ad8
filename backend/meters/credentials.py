"""`vatio meter credentials ADDRESS`: create or rotate a meter's login on the community broker."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["meter"]


@click.group()
def meter() -> None:
    """A meter's access to the community broker."""


@meter.command()
@click.argument("address")
@click.option("--community", default="demo", show_default=True, help="The MQTT community topic level of the ACL.")
@click.option(
    "--auth-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="<var>/broker/auth (the broker `vatio demo` starts)",
    help="The broker's auth folder: mosquitto.passwd and mosquitto.acl.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the password to this file (mode 0600) instead of printing it.",
)
@click.option(
    "--broker-pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="<auth-dir>/../mosquitto.pid",
    help="The running Mosquitto to tell (SIGHUP) to reread its password file and ACL.",
)
def credentials(
    address: str, community: str, auth_dir: Path | None, out: Path | None, broker_pid_file: Path | None
) -> None:
    """Create or rotate the broker login of the meter ADDRESS (its username is ADDRESS, checksummed)."""
    from backend.broker_auth import (
        BrokerAuth,
        CredentialsError,
        canonical_meter_user,
        default_auth_dir,
        reload_broker,
        write_private,
    )

    try:
        username = canonical_meter_user(address)
        auth = BrokerAuth(auth_dir or default_auth_dir(), community)
        auth.refresh_acl()  # missing or older than the template: (re)written; another community's: refused
        rotated = auth.password_file.exists() and any(
            line.split(":", 1)[0] == username for line in auth.password_file.read_text().splitlines()
        )
        password = auth.set_password(username, keep=False)
    except CredentialsError as error:
        raise click.ClickException(str(error)) from None
    if out is not None:
        write_private(out.absolute(), password + "\n")
    pid = reload_broker(broker_pid_file or auth.directory.parent / "mosquitto.pid")
    click.echo(f"{'rotated' if rotated else 'created'} the broker login of meter {username} in {auth.password_file}")
    click.echo(f"username: {username}")
    click.echo(f"password: written to {out} (mode 0600)" if out is not None else f"password: {password}")
    click.echo(f"it may publish only to vatio/{community}/meters/{username}/readings")
    click.echo(
        f"Mosquitto (pid {pid}) rereads its password file and ACL now"
        if pid is not None
        else "no running Mosquitto of this folder was found: it reads them when it starts (or SIGHUP it)"
    )
    click.echo(
        f"bridge: vatio bridge ... --broker-username {username} --broker-password-file "
        f"{out if out is not None else 'FILE'}"
    )
