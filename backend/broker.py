"""The MQTT broker the meters and the oracle meet at.

`vatio demo` uses a broker that already answers at the configured URL, and
otherwise starts Mosquitto itself with the repo's config (config/mosquitto.conf:
unlimited QoS 1 queues and persistence, because Mosquitto's defaults drop
messages for a slow subscriber) on a free port, keeping its persistence file
under the demo's state folder so a restarted demo finds its queued messages.

With `auth` (backend.broker_auth.BrokerAuth), config/mosquitto-auth.conf is added: no
anonymous clients, the password file and the per-meter ACL. With `tls`,
config/mosquitto-tls.conf adds a TLS listener beside the plain one. Without either, the
broker is the anonymous one of the tests and benchmarks that need no auth.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from backend.paths import REPO_ROOT
from backend.processes import free_port, kill_process_group, stop_process_group, tcp_answers

MOSQUITTO_CONFIG = REPO_ROOT / "config" / "mosquitto.conf"
MOSQUITTO_AUTH_CONFIG = REPO_ROOT / "config" / "mosquitto-auth.conf"
MOSQUITTO_TLS_CONFIG = REPO_ROOT / "config" / "mosquitto-tls.conf"
PID_FILE = "mosquitto.pid"  # beside the config: `vatio meter credentials` SIGHUPs the pid it holds


@dataclass(frozen=True)
class BrokerTLS:
    """A TLS listener: its port and the broker's certificate, key and CA files (PEM)."""

    certfile: Path
    keyfile: Path
    cafile: Path
    port: int | None = None  # None: a free one


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of an mqtt:// or mqtts:// URL; a user:password@ part is allowed and ignored here."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parsed.hostname:
        raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
    return parsed.hostname, parsed.port or (8883 if parsed.scheme in ("mqtts", "ssl") else 1883)


def broker_answers(url: str, timeout: float = 1.0) -> bool:
    return tcp_answers(*broker_address(url), timeout=timeout)


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("mosquitto is not installed: run `make setup` (it installs the Debian package)")


@dataclass
class MosquittoBroker:
    process: subprocess.Popen
    url: str
    config_path: Path
    tls_url: str | None = None  # mqtts://127.0.0.1:<port> when it has a TLS listener

    def stop(self) -> None:
        """SIGTERM lets Mosquitto write its persistence file before exiting."""
        stop_process_group(self.process)

    def kill(self) -> None:
        """A crash: no chance to save anything."""
        kill_process_group(self.process)


def start_mosquitto(
    state_dir: Path, port: int | None = None, timeout: float = 10.0, auth=None, tls: BrokerTLS | None = None
) -> MosquittoBroker:
    """Mosquitto with the repo's config on 127.0.0.1:`port` (a free one by
    default), persisting into `state_dir`. Returns once it accepts connections.

    `auth` (a backend.broker_auth.BrokerAuth) turns on the password file and
    ACL; `tls` adds a TLS listener. Its pid goes to `state_dir`/mosquitto.pid.
    """
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = MOSQUITTO_CONFIG.read_text().replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    if auth is not None:
        if not auth.password_file.exists() or not auth.acl_file.exists():
            raise FileNotFoundError(
                f"no password file or ACL in {auth.directory}: make them first "
                "(`vatio meter credentials`, or BrokerAuth.ensure)"
            )
        config = config.replace("allow_anonymous true\n", "")
        config += "\n" + (
            MOSQUITTO_AUTH_CONFIG.read_text()
            .replace("@PASSWORD_FILE@", str(auth.password_file))
            .replace("@ACL_FILE@", str(auth.acl_file))
        )
    tls_port = None
    if tls is not None:
        tls_port = tls.port or free_port()
        config += "\n" + (
            MOSQUITTO_TLS_CONFIG.read_text()
            .replace("@TLS_PORT@", str(tls_port))
            .replace("@CA_FILE@", str(Path(tls.cafile).resolve()))
            .replace("@CERT_FILE@", str(Path(tls.certfile).resolve()))
            .replace("@KEY_FILE@", str(Path(tls.keyfile).resolve()))
        )
    config += f"\npersistence_location {state_dir.resolve()}/\n"
    # Started as root, Mosquitto switches to its default `user mosquitto`, which
    # cannot write our state_dir: every save would fail, and a restart would
    # forget the oracle's session and queued readings. No effect when not root.
    config += f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
    config_path = state_dir / "mosquitto.conf"
    config_path.write_text(config)
    with open(state_dir / "mosquitto.log", "ab") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [find_mosquitto(), "-c", str(config_path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (state_dir / PID_FILE).write_text(f"{process.pid}\n")
    url = f"mqtt://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not broker_answers(url, timeout=0.2) or (tls_port and not tcp_answers("127.0.0.1", tls_port, 0.2)):
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with code {process.returncode}; see {state_dir / 'mosquitto.log'}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"mosquitto did not listen on port {port} within {timeout:.0f} s")
        time.sleep(0.05)
    return MosquittoBroker(
        process=process, url=url, config_path=config_path, tls_url=f"mqtts://127.0.0.1:{tls_port}" if tls_port else None
    )


def find_or_start_broker(url: str, state_dir: Path, progress=print, auth=None) -> tuple[str, MosquittoBroker | None]:
    """(URL to use, the broker we started or None when one already answered).

    A broker found answering is used as it is: `auth` applies only to the one started here.
    """
    if broker_answers(url):
        progress(f"Using the MQTT broker at {url}")
        return url, None
    broker = start_mosquitto(state_dir, auth=auth)
    progress(f"Started Mosquitto at {broker.url} (config {broker.config_path})")
    return broker.url, broker
