"""`vatio oracle`: the whole oracle in one process, one thread per stage.

    MQTT --> ingest (OracleService: verify, commit, then ack)
    settler thread: close due intervals -> plan from on-chain orders
                    -> send through the outbox -> write the readings archive
    indexer thread: contract events -> chain_events

Each stage keeps its state in the database and resumes from it, so the
process can be killed at any point (`kill -9` included) and restarted. With
an MQTT shared subscription several oracle processes can split the ingest;
only one of them should settle (`--no-settle` on the others), since one key
sends the settlements.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.chain.deploy import Deployment
from backend.oracle.archive import ArchiveContext, build_archive, publish_settled, write_archive
from backend.oracle.closing import close_due
from backend.oracle.outbox import OutboxSender
from backend.oracle.settlement import plan_closed_intervals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettlerSettings:
    grace_s: int = 60
    confirmations: int = 1
    archive_dir: Path = Path("var/archive")
    poll_s: float = 1.0


class Settler:
    """Moves intervals from readings to an archived on-chain settlement, one
    pass at a time; every pass starts from what the database says."""

    def __init__(self, sessions: sessionmaker[Session], web3: Web3, deployment: Deployment,
                 account: LocalAccount, settings: SettlerSettings,
                 on_settled: Callable[[int, str, int], None] | None = None, clock: Callable[[], float] = time.time):
        self.sessions = sessions
        self.web3 = web3
        self.deployment = deployment
        self.settings = settings
        self.clock = clock
        self.context = ArchiveContext.from_deployment(deployment)
        self.on_settled = on_settled
        self.sender = OutboxSender(web3, deployment, account, sessions, confirmations=settings.confirmations,
                                   on_settled=self._settled)

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
        closed = close_due(self.sessions, self.context.interval_seconds, self.settings.grace_s,
                           self.context.domain, now=self.clock())
        if closed:
            log.info("closed %d interval(s), last %d", len(closed), closed[-1].interval_id)
        plan_closed_intervals(self.sessions, self.web3, self.deployment)
        self.sender.run_until_idle()

    def run(self, stop: threading.Event) -> None:
        self.archive_missing()
        while not stop.is_set():
            try:
                self.step()
            except OSError as error:  # the node or the database is away; nothing was half-written
                log.warning("settler waiting: %s", error)
            except Exception:
                log.exception("settler pass failed; retrying")
            stop.wait(self.settings.poll_s)


def start_thread(name: str, target: Callable[[threading.Event], None], stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    return thread
