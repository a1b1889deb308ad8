"""How the deployment is doing, read from the stored rows: settlement lag, outbox states, gas, readings, rejections.

/api/health, the web's /metrics and the oracle's /metrics report these
(docs/production.md). Each query is one aggregate; none reads the readings
themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import OUTBOX_STATUSES, Interval, OutboxStatus, Reading, SettlementOutbox, rejection_counts

__all__ = ["DatabaseCollector", "SettlementLag", "outbox_states", "settlement_gas_used", "settlement_lag"]

UNSETTLED = ("closed", "settling")


@dataclass(frozen=True)
class SettlementLag:
    """Intervals closed (their entries fixed) but not yet settled on-chain, and the oldest of them."""

    intervals: int
    oldest_interval_id: int | None
    newest_settled_id: int | None

    def as_json(self) -> dict:
        return {
            "unsettledIntervals": self.intervals,
            "oldestUnsettled": self.oldest_interval_id,
            "lastSettled": self.newest_settled_id,
        }


def settlement_lag(session: Session) -> SettlementLag:
    count, oldest = session.execute(
        select(func.count(), func.min(Interval.interval_id)).where(Interval.status.in_(UNSETTLED))
    ).one()
    newest = session.scalar(select(func.max(Interval.interval_id)).where(Interval.status == "settled"))
    return SettlementLag(count, oldest, newest)


def outbox_states(session: Session) -> dict[str, int]:
    """Outbox transactions per status, every status named (0 where none)."""
    counts = {
        status: count
        for status, count in session.execute(
            select(SettlementOutbox.status, func.count()).group_by(SettlementOutbox.status)
        )
    }
    return {str(status): counts.get(status, 0) for status in OUTBOX_STATUSES}


def settlement_gas_used(session: Session) -> int:
    """Gas of every confirmed settlement transaction (the outbox keeps each receipt's gasUsed)."""
    payloads = session.scalars(
        select(SettlementOutbox.payload).where(SettlementOutbox.status == OutboxStatus.CONFIRMED)
    )
    return sum(int(payload.get("receipt", {}).get("gasUsed", 0)) for payload in payloads)


class DatabaseCollector(Collector):
    """prometheus_client collector: the stored rows' figures, read at each scrape.

    `readings` adds the stored readings and the rejections per reason (the
    web's view; the oracle counts its own as it ingests).
    """

    def __init__(self, sessions: sessionmaker[Session], readings: bool = False):
        self.sessions = sessions
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            lag = settlement_lag(session)
            states = outbox_states(session)
            gas = settlement_gas_used(session)
            stored = session.scalar(select(func.count()).select_from(Reading)) if self.readings else 0
            rejected = rejection_counts(session) if self.readings else {}
        yield GaugeMetricFamily(
            "vatio_intervals_unsettled", "Intervals closed but not yet settled on-chain", value=lag.intervals
        )
        outbox = GaugeMetricFamily(
            "vatio_outbox_transactions", "Settlement transactions in the outbox, by status", labels=["status"]
        )
        for status, count in states.items():
            outbox.add_metric([status], count)
        yield outbox
        yield CounterMetricFamily(
            "vatio_settlement_gas_used", "Gas used by confirmed settlement transactions", value=gas
        )
        if self.readings:
            yield CounterMetricFamily("vatio_readings_stored", "Readings stored in the database", value=stored)
            rejections = CounterMetricFamily(
                "vatio_rejections", "Messages the oracle rejected, by reason", labels=["reason"]
            )
            for reason, count in sorted(rejected.items()):
                rejections.add_metric([reason], count)
            yield rejections
