"""The oracle's Prometheus metrics, served by prometheus_client on --metrics-port (VATIO_METRICS_PORT).

Counted as the process works (one process's share; Prometheus sums the
workers):
  vatio_oracle_readings_total{outcome}         stored or duplicate; rate() is readings per second
  vatio_oracle_rejections_total{reason}        rejected messages, by the parser's or verifier's reason
  vatio_oracle_settler_leading                 1 while this process holds the settler lock
Read from the database at each scrape, on a settling process
(backend/readmodel/operations.py):
  vatio_intervals_unsettled, vatio_outbox_transactions{status}, vatio_settlement_gas_used_total
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from sqlalchemy.orm import Session, sessionmaker

from backend.oracle.ingest import DUPLICATE, REJECTED, STORED, Message, Outcome
from backend.readmodel.operations import DatabaseCollector

__all__ = ["OracleMetrics"]


class OracleMetrics:
    """One process's metrics on their own registry; `on_committed` is OracleService's hook."""

    def __init__(self, sessions: sessionmaker[Session] | None = None, leading: Callable[[], bool] | None = None):
        self.registry = CollectorRegistry()
        self.readings = Counter(
            "vatio_oracle_readings", "Readings this process committed, by outcome", ["outcome"], registry=self.registry
        )
        for outcome in (STORED, DUPLICATE):
            self.readings.labels(outcome)
        self.rejections = Counter(
            "vatio_oracle_rejections", "Messages this process rejected, by reason", ["reason"], registry=self.registry
        )
        if leading is not None:
            gauge = Gauge(
                "vatio_oracle_settler_leading", "1 while this process holds the settler lock", registry=self.registry
            )
            gauge.set_function(lambda: 1.0 if leading() else 0.0)
        if sessions is not None:
            self.registry.register(DatabaseCollector(sessions))

    def on_committed(self, messages: Sequence[Message], outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status == REJECTED:
                self.rejections.labels(outcome.reason or "unknown").inc()
            elif outcome.status in (STORED, DUPLICATE):
                self.readings.labels(outcome.status).inc()

    def serve(self, port: int, host: str = "127.0.0.1"):
        """Serve /metrics on `port` from a daemon thread (this host only: a scraper elsewhere goes through a proxy
        or an SSH tunnel, docs/production.md)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


def chain_hooks(*hooks: Callable | None) -> Callable | None:
    """One on_committed hook calling each given one in turn (None where none is given)."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def call_all(messages, outcomes) -> None:
        for hook in present:
            hook(messages, outcomes)

    return call_all
