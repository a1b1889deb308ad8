"""The production profile of the web app: `vatio serve --production` runs gunicorn's gevent workers.

Two such servers (one with two workers) share one PostgreSQL database and one
Redis; Socket.IO clients connect to both over WebSocket (the only transport
the production server takes, so no sticky sessions are needed), and one live
event emitted into the message queue reaches every one of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import socketio
from click.testing import CliRunner
from web_helpers import REDIS_URL

from backend.cli import main
from backend.db.migrate import upgrade
from backend.processes import free_port, stop_process_group
from backend.readmodel.emitter import LiveEmitter

pytestmark = pytest.mark.slow  # starts gunicorn servers

CLIENTS_PER_SERVER = 3


class WebServer:
    """`vatio serve --production` as a subprocess, logging to a file."""

    def __init__(self, port: int, workers: int, environment: dict[str, str], log_path: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backend.cli",
                    "serve",
                    "--production",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                env={**os.environ, **environment, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=5) as response:
                    return json.loads(response.read())
            except OSError:  # not listening yet (URLError), or not answering yet
                time.sleep(0.3)
        pytest.fail(f"{self.url} did not answer within {timeout_s} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        stop_process_group(self.process, timeout=20)


@pytest.fixture
def production_servers(community, make_postgres_database, tmp_path):
    """Two production servers (two workers, then one) on one PostgreSQL database and one Redis channel."""
    database_url = make_postgres_database().render_as_string(hide_password=False)
    upgrade(database_url)
    channel = f"vatio-test-{secrets.token_hex(4)}"
    environment = {
        "VATIO_DATABASE_URL": database_url,
        "VATIO_RPC_URL": community.url,
        "VATIO_DEPLOYMENT": str(community.deployment.save(tmp_path / "deployment")),
        "VATIO_REDIS_URL": REDIS_URL,
        "VATIO_SOCKETIO_CHANNEL": channel,
        "VATIO_SECRET_KEY": secrets.token_hex(32),
        "VATIO_ARCHIVE_DIR": str(tmp_path / "archive"),
    }
    servers = [
        WebServer(free_port(), workers, environment, tmp_path / f"web-{n}.log") for n, workers in enumerate((2, 1))
    ]
    try:
        for server in servers:
            server.wait_healthy()
        yield servers, channel
    finally:
        for server in servers:
            server.stop()


async def _connect_all(urls: list[str]) -> list[tuple[socketio.AsyncClient, list, asyncio.Event]]:
    """Connected clients (WebSocket only), each recording the interval_settled events it receives."""
    clients = []
    for url in urls:
        client = socketio.AsyncClient(reconnection=False)
        received: list = []
        welcomed = asyncio.Event()
        client.on("interval_settled", lambda data, received=received: received.append(data))
        client.on("welcome", lambda data, welcomed=welcomed: welcomed.set())
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        await asyncio.wait_for(welcomed.wait(), 10)  # it joined its rooms
        clients.append((client, received, welcomed))
    return clients


def test_a_live_event_reaches_every_client_of_two_gunicorn_servers(production_servers):
    servers, channel = production_servers
    for server in servers:
        assert "Using worker: gevent" in server.log(), server.log()[-2000:]
    marker = {"intervalId": secrets.randbelow(10**9), "note": "one event through Redis"}

    async def scenario() -> list[list]:
        clients = await _connect_all([server.url for server in servers for _ in range(CLIENTS_PER_SERVER)])
        try:
            # Another process's emitter (the oracle's, the forecaster's) writes to the message queue only.
            await asyncio.to_thread(LiveEmitter(REDIS_URL, channel=channel).emit_interval_settled, marker)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(received for _, received, _ in clients):
                await asyncio.sleep(0.1)
            return [received for _, received, _ in clients]
        finally:
            for client, _, _ in clients:
                await client.disconnect()

    received = asyncio.run(scenario())
    assert len(received) == len(servers) * CLIENTS_PER_SERVER
    assert received == [[marker]] * len(received), "every client, on either server, gets the event exactly once"


def test_the_production_server_takes_websocket_only(production_servers):
    servers, _ = production_servers
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{servers[0].url}/socket.io/?EIO=4&transport=polling", timeout=5)
    assert refused.value.code == 400  # long-polling would need sticky sessions across workers


def test_serve_refuses_the_development_server_off_a_local_chain(community, tmp_path):
    deployment = json.loads(community.deployment.save(tmp_path / "local").read_text())
    deployment["chainId"] = 10200  # as if deployed to Chiado
    chiado = tmp_path / "chiado.json"
    chiado.write_text(json.dumps(deployment))
    environment = {
        "VATIO_DEPLOYMENT": str(chiado),
        "VATIO_DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "VATIO_RPC_URL": community.url,
    }
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())], env=environment)
    assert result.exit_code == 1
    assert "chain 10200 is not a local chain" in result.output and "--production" in result.output
    both = CliRunner().invoke(main, ["serve", "--production", "--dev"], env=environment)
    assert both.exit_code == 2 and "exclude each other" in both.output
