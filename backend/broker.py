"""The MQTT broker the meters and the oracle meet at.

`vatio demo` uses a broker that already answers at the configured URL, and
otherwise starts Mosquitto itself with the repo's config (config/mosquitto.conf:
unlimited QoS 1 queues and persistence, because Mosquitto's defaults drop
messages for a slow subscriber) on a free port, keeping its persistence file
under the demo's state folder so a restarted demo finds its queued messages.
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


def broker_address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
    return parsed.hostname, parsed.port or 1883


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

    def stop(self) -> None:
        """SIGTERM lets Mosquitto write its persistence file before exiting."""
        stop_process_group(self.process)

    def kill(self) -> None:
        """A crash: no chance to save anything."""
        kill_process_group(self.process)


def start_mosquitto(state_dir: Path, port: int | None = None, timeout: float = 10.0) -> MosquittoBroker:
    """Mosquitto with the repo's config on 127.0.0.1:`port` (a free one by
    default), persisting into `state_dir`. Returns once it accepts connections."""
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = MOSQUITTO_CONFIG.read_text().replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    config += f"\npersistence_location {state_dir.resolve()}/\n"
    # Started as root, Mosquitto switches to its default `user mosquitto`, which
    # cannot write our state_dir: every save would fail, and a restart would
    # forget the oracle's session and queued readings. No effect when not root.
    config += f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
    config_path = state_dir / "mosquitto.conf"
    config_path.write_text(config)
    log = open(state_dir / "mosquitto.log", "ab")
    process = subprocess.Popen([find_mosquitto(), "-c", str(config_path)], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"mqtt://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not broker_answers(url, timeout=0.2):
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with code {process.returncode}; see {state_dir / 'mosquitto.log'}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"mosquitto did not listen on port {port} within {timeout:.0f} s")
        time.sleep(0.05)
    return MosquittoBroker(process=process, url=url, config_path=config_path)


def find_or_start_broker(url: str, state_dir: Path, progress=print) -> tuple[str, MosquittoBroker | None]:
    """(URL to use, the broker we started or None when one already answered)."""
    if broker_answers(url):
        progress(f"Using the MQTT broker at {url}")
        return url, None
    broker = start_mosquitto(state_dir)
    progress(f"Started Mosquitto at {broker.url} (config {broker.config_path})")
    return broker.url, broker
