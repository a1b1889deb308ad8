"""Who may use the community's broker: Mosquitto's password file, its ACL, and each user's password file.

Mosquitto does the checking itself (``password_file``, ``acl_file``); this module only writes its
files, with its own tool (``mosquitto_passwd``) hashing the passwords. The ACL
(config/mosquitto.acl, rendered for one community) lets

- a meter, or the bridge holding its key, publish only to ``vatio/<community>/meters/<its address>/readings``:
  a ``pattern`` line with ``%u``, so its **username is its address, EIP-55 checksummed**, the very
  form its topic level carries (backend.protocol.topics; Mosquitto compares topics case-sensitively,
  so a lower-case topic is refused too);
- the ``oracle`` user read every meter's readings of the community (plainly or through a
  ``$share/<group>/`` subscription), and publish nothing.

Everything lives in one folder (``<var>/broker/auth`` by default, where `vatio demo` keeps its
broker's): ``mosquitto.passwd``, ``mosquitto.acl`` and ``passwords/<user>.password`` (mode 0600, the
password in clear for the process that logs in as that user).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from backend.paths import REPO_ROOT, var_dir

__all__ = [
    "ACL_TEMPLATE",
    "ORACLE_USER",
    "BrokerAuth",
    "CredentialsError",
    "canonical_meter_user",
    "default_auth_dir",
    "reload_broker",
    "write_private",
]

ACL_TEMPLATE = REPO_ROOT / "config" / "mosquitto.acl"
ORACLE_USER = "oracle"
PASSWORD_FILE = "mosquitto.passwd"
ACL_FILE = "mosquitto.acl"
PASSWORDS_DIR = "passwords"
PID_FILE = "mosquitto.pid"  # written by backend.broker.start_mosquitto beside its config


class CredentialsError(ValueError):
    """Credentials that cannot be made: a bad address or community, or no mosquitto_passwd."""


def default_auth_dir() -> Path:
    """The auth folder of the broker `vatio demo` starts: <var>/broker/auth."""
    return var_dir() / "broker" / "auth"


def canonical_meter_user(address: str) -> str:
    """The broker username of a meter: its address, EIP-55 checksummed (as in its topic)."""
    from eth_utils import is_address, to_checksum_address

    if not isinstance(address, str) or not address.startswith("0x") or not is_address(address):
        raise CredentialsError(f"a meter is named by its 0x address (40 hex digits), got {address!r}")
    return to_checksum_address(address)


def _check_community(community: str) -> None:
    if not community or any(c in community for c in "/+#%\n\x00 "):
        raise CredentialsError(f"the community must be one MQTT topic level (no / + # % or blanks), got {community!r}")


def _mosquitto_passwd() -> str:
    for candidate in (shutil.which("mosquitto_passwd"), "/usr/bin/mosquitto_passwd"):
        if candidate and Path(candidate).exists():
            return candidate
    raise CredentialsError("mosquitto_passwd is not installed (Debian's mosquitto package brings it)")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


@dataclass(frozen=True)
class BrokerAuth:
    """One community broker's auth folder: its password file, its ACL and the users' password files."""

    directory: Path
    community: str

    def __post_init__(self) -> None:
        _check_community(self.community)
        object.__setattr__(self, "directory", Path(self.directory).absolute())

    @property
    def password_file(self) -> Path:
        return self.directory / PASSWORD_FILE

    @property
    def acl_file(self) -> Path:
        return self.directory / ACL_FILE

    def user_password_file(self, username: str) -> Path:
        return self.directory / PASSWORDS_DIR / f"{username}.password"

    def password_of(self, username: str) -> str:
        """The clear password kept for ``username`` (first line of its file)."""
        return self.user_password_file(username).read_text().splitlines()[0]

    def rendered_acl(self) -> str:
        """config/mosquitto.acl rendered for this community: the ACL the folder should hold."""
        return ACL_TEMPLATE.read_text().replace("@COMMUNITY@", self.community).replace("@ORACLE_USER@", ORACLE_USER)

    def write_acl(self) -> Path:
        """Render config/mosquitto.acl for this community into the folder (replacing an older one)."""
        write_private(self.acl_file, self.rendered_acl())
        return self.acl_file

    def refresh_acl(self) -> bool:
        """Write the ACL when it is missing or differs from the template; True when it was (re)written.

        An auth folder made by an older Vatio keeps an older ACL, which silently drops what the
        template allows since (a bridge's status, for one): the broker denies it without a word.
        A folder whose ACL names another community is refused, not rewritten: each community's
        broker has its own folder.
        """
        written_for = self.acl_community()
        if written_for is not None and written_for != self.community:
            raise CredentialsError(
                f"{self.acl_file} is the ACL of community {written_for!r}, not "
                f"{self.community!r}: give each community's broker its own auth folder"
            )
        if self.acl_file.exists() and self.acl_file.read_text() == self.rendered_acl():
            return False
        self.write_acl()
        return True

    def set_password(self, username: str, password: str | None = None, keep: bool = True) -> str:
        """Create or rotate ``username`` in the password file and return its password.

        With ``keep`` (or when one is kept already), the clear password also goes to
        ``passwords/<user>.password`` (0600), for the processes of `vatio demo` that log in with it.

        The password goes to mosquitto_passwd on its standard input (asked twice, as on a
        terminal), not with ``-b`` on its command line, where any local user's ``ps`` would see it.
        """
        if not username or ":" in username or "\n" in username:
            raise CredentialsError(f"a broker username has no ':' or line break, got {username!r}")
        password = password or secrets.token_urlsafe(24)
        if "\n" in password:
            raise CredentialsError("a broker password has no line break")
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        command = [
            _mosquitto_passwd(),
            *([] if self.password_file.exists() else ["-c"]),
            str(self.password_file),
            username,
        ]
        completed = subprocess.run(
            command, input=f"{password}\n{password}\n", capture_output=True, text=True, timeout=30
        )
        if completed.returncode != 0:
            raise CredentialsError(
                f"mosquitto_passwd failed ({completed.returncode}): {(completed.stderr or completed.stdout).strip()}"
            )
        os.chmod(self.password_file, 0o600)
        if keep or self.user_password_file(username).exists():
            write_private(self.user_password_file(username), password + "\n")
        return password

    def acl_community(self) -> str | None:
        """The community the folder's ACL was written for, None without an ACL."""
        if not self.acl_file.exists():
            return None
        for line in self.acl_file.read_text().splitlines():
            if line.startswith("pattern write vatio/"):
                return line.split("/")[1]
        return None

    def ensure(self, meters: list[str]) -> bool:
        """Make the ACL (or bring an older one up to the template) and any missing password (the oracle's,
        each meter's); True when something was added or rewritten.

        Existing users keep their passwords, so a restarted demo's processes log in as before.
        """
        added = self.refresh_acl()
        users = [ORACLE_USER, *(canonical_meter_user(meter) for meter in meters)]
        known = set()
        if self.password_file.exists():
            known = {line.split(":", 1)[0] for line in self.password_file.read_text().splitlines() if ":" in line}
        for user in users:
            if user not in known or not self.user_password_file(user).exists():
                self.set_password(user)
                added = True
        return added


def reload_broker(pid_file: Path) -> int | None:
    """SIGHUP the Mosquitto whose pid ``pid_file`` holds, so that it rereads its password file and ACL.

    Returns the pid signalled, or None when no such Mosquitto runs (nothing to reload: it reads
    the files when it starts).
    """
    try:
        pid = int(Path(pid_file).read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except (OSError, ValueError, IndexError):
        return None
    if not command.endswith(b"mosquitto"):
        return None  # a stale pid file: the number belongs to another process now
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    return pid
