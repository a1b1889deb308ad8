"""`vatio oracle`: the whole oracle in one process, one thread per stage.

    MQTT --> ingest (OracleService: verify, commit, then ack)
    settler thread: close due intervals -> plan from on-chain orders
                    -> send through the outbox -> write the readings archive
    indexer thread: contract events -> chain_events

`build_oracle(settings)` wires these from an OracleSettings (the command
line, the e2e launcher and tests all start the oracle through it), and
`Oracle.run` keeps them running until SIGTERM or Ctrl-C.

Each stage keeps its state in the database and resumes from it, so the
process can be killed at any point (`kill -9` included) and restarted.

The production profile (docs/production.md) splits the stages over processes
with `--role`: `ingest` workers (MQTT only, several sharing the meters through
an MQTT shared subscription, `--share-group`) and `settle` processes (settler
and indexer). Of the settle processes exactly one acts, the holder of a
PostgreSQL advisory lock (backend/oracle/leader.py); the others stand by and
take over when its session ends. With SQLite run one settling process only.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.chain.deploy import Deployment
from backend.chain.indexer import ChainMismatch, Indexer, NodeUnavailable
from backend.chain.market_state import MarketReader
from backend.chain.networks import LOCAL_CHAIN_IDS
from backend.oracle.archive import ArchiveContext, build_archive, publish_settled, write_archive
from backend.oracle.closing import close_due
from backend.oracle.leader import Leader, SingleProcessLeader, leader_for
from backend.oracle.metrics import OracleMetrics, chain_hooks
from backend.oracle.outbox import OutboxSender
from backend.oracle.registry_cache import RegistryCache
from backend.oracle.service import OracleService
from backend.oracle.settlement import plan_closed_intervals
from backend.settings import OracleSettings, SettingsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettlerSettings:
    archive_dir: Path  # absolute: OracleSettings resolves it once (no default relative to the working directory)
    grace_s: int = 60
    confirmations: int = 1
    poll_s: float = 1.0
    max_fee_per_gas_wei: int | None = None
    stuck_after_s: float = 180.0
    fee_bump: float = 1.125

    @classmethod
    def of(cls, settings: OracleSettings) -> SettlerSettings:
        return cls(
            archive_dir=settings.archive_dir,
            grace_s=settings.grace_s,
            confirmations=settings.confirmations,
            poll_s=settings.settle_poll_s,
            max_fee_per_gas_wei=settings.max_fee_per_gas_wei,
            stuck_after_s=settings.stuck_after_s,
            fee_bump=settings.fee_bump,
        )


class Settler:
    """Moves intervals from readings to an archived on-chain settlement, one
    pass at a time; every pass starts from what the database says."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        web3: Web3,
        deployment: Deployment,
        account: LocalAccount,
        settings: SettlerSettings,
        on_settled: Callable[[int, str, int], None] | None = None,
        clock: Callable[[], float] = time.time,
        leader: Leader | None = None,
    ):
        self.sessions = sessions
        self.web3 = web3
        self.deployment = deployment
        self.account = account
        self.settings = settings
        self.clock = clock
        self.context = ArchiveContext.from_deployment(deployment)
        self.on_settled = on_settled
        # Only the leader acts; SQLite's single process always leads.
        self.leader: Leader = leader or SingleProcessLeader()
        # Kept for the life of the process: the closed orders it has read are not read again (market_state.py).
        self.reader = MarketReader(web3)
        self.sender = self._new_sender()

    def _new_sender(self) -> OutboxSender:
        return OutboxSender(
            self.web3,
            self.deployment,
            self.account,
            self.sessions,
            confirmations=self.settings.confirmations,
            max_fee_per_gas_wei=self.settings.max_fee_per_gas_wei,
            stuck_after_s=self.settings.stuck_after_s,
            fee_bump=self.settings.fee_bump,
            on_settled=self._settled,
            reader=self.reader,
        )

    def _settled(self, interval_id: int, tx_hash: str, block: int) -> None:
        with self.sessions() as session:
            path = write_archive(build_archive(session, interval_id, self.context), self.settings.archive_dir)
        log.info("interval %d settled in %s; archive %s", interval_id, tx_hash, path)
        if self.on_settled is not None:
            self.on_settled(interval_id, tx_hash, block)

    def archive_missing(self) -> list[Path]:
        """Writes the archive of every settled interval that has none yet: the
        catch-up after a crash between a settlement and its archive."""
        with self.sessions() as session:
            return publish_settled(session, self.context, self.settings.archive_dir)

    def step(self) -> None:
        closed = close_due(
            self.sessions, self.context.interval_seconds, self.settings.grace_s, self.context.domain, now=self.clock()
        )
        if closed:
            log.info("closed %d interval(s), last %d", len(closed), closed[-1].interval_id)
        plan_closed_intervals(self.sessions, self.web3, self.deployment, reader=self.reader)
        self.sender.run_until_idle()

    def run(self, stop: threading.Event) -> None:
        was_leading = False
        while not stop.is_set():
            if not self.leader.lead():
                was_leading = False
                stop.wait(self.settings.poll_s)  # standing by: ask for the lock again next pass
                continue
            try:
                if not was_leading:
                    # Taking over (or starting): a fresh sender, whose nonces come from the chain and the outbox,
                    # and the archives a dead leader may have left unwritten.
                    self.sender = self._new_sender()
                    self.archive_missing()
                    was_leading = True
                self.step()
            except OSError as error:  # the node or the database is away; nothing was half-written
                log.warning("settler waiting: %s", error)
            except Exception:
                log.exception("settler pass failed; retrying")
            stop.wait(self.settings.poll_s)
        self.leader.release()


def index_while_leading(indexer: Indexer, leader: Leader, poll_s: float = 2.0) -> Callable[[threading.Event], None]:
    """The indexer's loop for a settle process: it follows the chain only while this process leads."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            if leader.leading():
                try:
                    indexer.poll(stop)
                except ChainMismatch:
                    raise  # the wrong chain: retrying cannot help
                except (NodeUnavailable, OperationalError) as error:
                    log.warning("indexer waiting: %s", error)
                except Exception:
                    log.exception("indexer poll failed; retrying")
            stop.wait(poll_s)

    return run


def start_thread(name: str, target: Callable[[threading.Event], None], stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    return thread


class OracleCannotStart(RuntimeError):
    """The oracle cannot start with these settings or this chain; the message says why."""


@dataclass
class Oracle:
    """One oracle process, wired: the MQTT ingest plus a settler and an indexer thread, as the settings ask."""

    settings: OracleSettings
    deployment: Deployment
    registry: RegistryCache
    service: OracleService | None  # None: a settle-only process
    settler: Settler | None
    indexer: Indexer | None
    metrics: OracleMetrics | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the metrics server and the threads, then subscribe; returns at once."""
        if self.metrics is not None and self.settings.metrics_port is not None:
            self.metrics.serve(self.settings.metrics_port)
        if self.settler is not None:
            self.threads.append(start_thread("oracle-settler", self.settler.run, self.stop_event))
        if self.indexer is not None:
            run = self.indexer.run if self.settler is None else index_while_leading(self.indexer, self.settler.leader)
            self.threads.append(start_thread("oracle-indexer", run, self.stop_event))
        if self.service is not None:
            self.service.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop ingesting (the broker keeps what was not acknowledged), then let each thread finish its pass."""
        self.stop_event.set()
        if self.service is not None:
            self.service.stop()
        for thread in self.threads:
            thread.join(timeout=timeout_s)

    def describe(self) -> str:
        return (
            f"oracle ({self.settings.role}) for community {self.settings.community!r}: "
            f"{len(self.registry.meters)} meters known{', ingesting' if self.service else ''}"
            f"{', settling when leading' if self.settler else ''}{', indexing' if self.indexer else ''}"
            f"{f', metrics on port {self.settings.metrics_port}' if self.metrics else ''}"
        )

    def counts(self) -> str:
        parts = []
        if self.service is not None:
            parts.append(
                f"stored {self.service.stored}, rejected {self.service.rejected}, duplicates {self.service.duplicates}"
            )
        if self.settler is not None:
            parts.append("settler leading" if self.settler.leader.leading() else "settler standing by")
        return "; ".join(parts)

    def run(self, report: Callable[[str], None] = print, report_every_s: float = 10.0) -> None:
        """Start, report the counts every `report_every_s`, and stop cleanly on SIGTERM or Ctrl-C."""
        self.start()
        report(f"{self.describe()}; Ctrl-C stops")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        try:
            while not self.stop_event.wait(report_every_s):
                report(self.counts())
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def build_oracle(settings: OracleSettings, web3: Web3 | None = None) -> Oracle:
    """Wire the oracle from `settings`: deployment, database, registry cache, ingester, live pushes, settler, indexer.

    Nothing runs yet (`Oracle.start` or `Oracle.run`). Raises OracleCannotStart
    when the node does not answer, the deployment is missing or another
    chain's, or settling has no key.
    """
    from backend.chain.keys import read_password, resolve_account
    from backend.db.migrate import upgrade
    from backend.db.session import make_engine, session_factory
    from backend.oracle.bridge_status import BridgeStatusStore
    from backend.oracle.ingest import Ingester
    from backend.protocol.readings import MeterDomain

    web3 = web3 or Web3(Web3.HTTPProvider(settings.rpc_url))
    if not web3.is_connected():
        raise OracleCannotStart(f"no JSON-RPC node answers at {settings.rpc_url}")
    try:
        deployment = settings.load_deployment(web3.eth.chain_id)
    except SettingsError as error:
        raise OracleCannotStart(str(error)) from error
    account = None
    if settings.settles:
        if settings.max_fee_gwei is None and deployment.chain_id not in LOCAL_CHAIN_IDS:
            raise OracleCannotStart(
                f"chain {deployment.chain_id} is not a local chain: set VATIO_MAX_FEE_GWEI, the most "
                "the oracle may pay per gas, before it settles there (docs/outbox.md)"
            )
        try:
            password = read_password(settings.oracle_password_file) if settings.oracle_keystore is not None else None
            account = resolve_account(
                settings.oracle_key, settings.oracle_keystore, password, deployment.chain_id, role="oracle"
            )
        except ValueError as error:
            raise OracleCannotStart(
                f"settling needs the oracle key (VATIO_ORACLE_KEYSTORE and "
                f"VATIO_ORACLE_PASSWORD_FILE; VATIO_ORACLE_KEY on local chains): {error}"
            ) from error
    upgrade(settings.database_url)
    sessions = session_factory(make_engine(settings.database_url))
    registry = RegistryCache(web3, deployment)
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    ingester = Ingester(sessions, domain, settings.community, registry.lookup)
    reading_pusher = event_pusher = status_pusher = None
    if settings.redis_url:
        from backend.oracle.pushes import StatusPusher, live_pushers

        reading_pusher, event_pusher = live_pushers(
            settings.redis_url,
            settings.socketio_channel,
            settings.live_readings_per_s,
            sessions,
            deployment.settings["intervalSeconds"],
            registry.lookup,
        )
        status_pusher = StatusPusher(reading_pusher.publisher)
    leader = (
        leader_for(settings.database_url, deployment.chain_id, deployment.address("EnergyMarket"))
        if account is not None
        else None
    )
    metrics = None
    if settings.metrics_port is not None:
        metrics = OracleMetrics(
            sessions if account is not None else None, leader.leading if leader is not None else None
        )
    service = None
    if settings.ingests:
        username, password = settings.mqtt_login()
        service = OracleService(
            ingester,
            settings.mqtt_url,
            client_id=settings.mqtt_client_id,
            share_group=settings.share_group,
            on_committed=chain_hooks(reading_pusher, metrics and metrics.on_committed),
            username=username,
            password=password,
            statuses=BridgeStatusStore(sessions, settings.community, registry.lookup),
            on_statuses=status_pusher,
        )
    settler = (
        Settler(sessions, web3, deployment, account, SettlerSettings.of(settings), leader=leader)
        if account is not None
        else None
    )
    indexer = Indexer(web3, deployment, sessions, on_events=event_pusher) if settings.indexes else None
    return Oracle(settings, deployment, registry, service, settler, indexer, metrics)
