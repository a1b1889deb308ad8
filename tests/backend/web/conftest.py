"""The web app on a real database (SQLite and PostgreSQL) and a real Anvil chain with a deployed community.

Wallets: `admin` (Anvil's deployer, the registry admin), households `alice`
and `bob` (registered with meters), `carol` (a wallet that is not registered).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete
from web3 import Web3
from web_helpers import DOMAIN, REDIS_URL
from werkzeug.serving import make_server

from backend.chain.anvil import free_port, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, Deployment, deploy_community
from backend.db.models import Base
from backend.db.session import session_factory
from backend.web.app import create_app
from backend.web.config import Config


@dataclass
class Community:
    url: str
    web3: Web3
    deployment: Deployment
    admin: LocalAccount
    alice: LocalAccount
    bob: LocalAccount
    carol: LocalAccount
    meters: dict[str, LocalAccount]  # household address -> meter key


@pytest.fixture(scope="session")
def community() -> Iterator[Community]:
    node = start_anvil()
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        admin = Account.from_key(ANVIL_DEPLOYER_KEY)
        deployment = deploy_community(web3, admin, CommunitySettings())
        registry = deployment.contract(web3, "CommunityRegistry")
        deployer = Deployer(web3, admin)
        alice, bob, carol = (Account.create() for _ in range(3))
        meters = {}
        for household in (alice, bob):
            meter = Account.create()
            deployer.call(registry.functions.registerHousehold(household.address, meter.address, 7_000))
            meters[household.address] = meter
        yield Community(node.url, web3, deployment, admin, alice, bob, carol, meters)
    finally:
        node.stop()


@pytest.fixture
def make_app(migrated_engine, community, tmp_path) -> Iterator[Callable[..., object]]:
    """Build apps on the migrated database and the chain; every table is emptied afterwards."""
    built = []

    def build(**overrides):
        settings = dict(
            database_url=migrated_engine.url.render_as_string(hide_password=False),
            rpc_url=community.url,
            deployment=community.deployment,
            archive_dir=tmp_path / "archive",
            siwe_domains=(DOMAIN,),
            rate_limits_enabled=False,
            redis_prefix=f"vatio:test:{secrets.token_hex(4)}:",
            socketio_channel=f"vatio-test-{secrets.token_hex(4)}",
        )
        settings.update(overrides)
        app = create_app(Config(**settings))
        app.testing = True
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["vatio"].engine.dispose()
    with session_factory(migrated_engine)() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sessions(migrated_engine):
    return session_factory(migrated_engine)


@pytest.fixture
def redis_server(make_app, community):
    """A real HTTP server (Socket.IO over long-polling) on a free port, its Socket.IO on the Redis queue.

    Flask-SocketIO's test client refuses a message queue, so these tests use
    a real python-socketio client over HTTP instead.
    """
    port = free_port()
    channel = f"vatio-test-{secrets.token_hex(4)}"
    app = make_app(
        redis_url=REDIS_URL, socketio_channel=channel, secret_key="k" * 40, siwe_domains=(f"127.0.0.1:{port}",)
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", channel
    server.shutdown()
    thread.join(5)
