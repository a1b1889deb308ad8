"""The oracle's /metrics (prometheus_client's server): what the ingester commits moves its counters."""

from __future__ import annotations

import urllib.request

from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families

from backend.db.models import Interval, SettlementOutbox
from backend.meters.simulator import payload, topic
from backend.oracle.ingest import Ingester, Message
from backend.oracle.metrics import OracleMetrics
from backend.oracle.verifier import MeterInfo
from backend.processes import free_port
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COMMUNITY = "metrics-test"
NOW = 1_700_000_000
METER = Account.create()
REGISTRY = {METER.address: MeterInfo(METER.address, Account.create().address, 10_000, True)}


def scrape(port: int) -> dict[str, float]:
    """Every sample as 'name{label="value"}' -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def reading(seq: int) -> Message:
    signed = sign_reading(
        MeterReading(METER.address, seq, NOW - 1_000 + seq * 10, 1_000 + seq, 2_000 + seq, 500), DOMAIN, METER.key
    )
    return Message(topic(COMMUNITY, METER.address), payload(signed), NOW)


def test_readings_rejections_lag_outbox_and_gas_reach_the_oracles_metrics(sessions):
    metrics = OracleMetrics(sessions, leading=lambda: True)
    port = free_port()
    server = metrics.serve(port)
    try:
        before = scrape(port)
        for name in (
            'vatio_oracle_readings_total{outcome="stored"}',
            'vatio_oracle_readings_total{outcome="duplicate"}',
            "vatio_oracle_settler_leading",
            "vatio_intervals_unsettled",
            "vatio_settlement_gas_used_total",
            'vatio_outbox_transactions{status="confirmed"}',
            'vatio_outbox_transactions{status="pending"}',
        ):
            assert name in before, f"{name} missing from {sorted(before)}"
        assert before["vatio_oracle_settler_leading"] == 1.0

        ingester = Ingester(sessions, DOMAIN, COMMUNITY, REGISTRY.get, clock=lambda: NOW)
        messages = [reading(1), reading(2), reading(2), Message(topic(COMMUNITY, METER.address), b"{not json", NOW)]
        metrics.on_committed(messages, ingester.process(messages))
        with sessions() as session:
            session.add(Interval(interval_id=7, status="closed", closed_at=NOW))
            session.flush()
            session.add(
                SettlementOutbox(
                    interval_id=7,
                    chunk_index=0,
                    kind="settle_interval",
                    status="confirmed",
                    nonce=0,
                    tx_hash="0x" + "ab" * 32,
                    payload={"receipt": {"gasUsed": "123456"}},
                )
            )
            session.commit()
        after = scrape(port)
    finally:
        server.shutdown()
    assert after['vatio_oracle_readings_total{outcome="stored"}'] == 2
    assert after['vatio_oracle_readings_total{outcome="duplicate"}'] == 1
    assert after['vatio_oracle_rejections_total{reason="bad_json"}'] == 1
    assert after["vatio_intervals_unsettled"] == before["vatio_intervals_unsettled"] + 1
    assert after['vatio_outbox_transactions{status="confirmed"}'] == 1
    assert after["vatio_settlement_gas_used_total"] == 123456
