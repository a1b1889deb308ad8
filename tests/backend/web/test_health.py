"""/api/health reports each part of the deployment, and /metrics the stored figures in Prometheus' format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from web_helpers import REDIS_URL, add_meter, add_reading

from backend.db.models import Interval
from backend.db.store import record_rejection
from backend.oracle.leader import AdvisoryLockLeader, settler_lock_key
from backend.processes import free_port

BROKER_URL = "mqtt://127.0.0.1:1883"  # the machine's Mosquitto


def test_health_reports_database_chain_broker_redis_settler_and_lag(make_app, community):
    app = make_app(redis_url=REDIS_URL, secret_key="k" * 40, mqtt_url=BROKER_URL)
    health = app.test_client().get("/api/health")
    assert health.status_code == 200
    body = health.get_json()
    assert body["database"]["ok"] and body["redis"] == {"ok": True}
    assert body["chain"]["ok"] and body["chain"]["block"] >= 1 and body["chain"]["headAgeS"] >= 0
    assert body["broker"]["ok"] and body["broker"]["connect"] in ("accepted", "refused: not authorised")
    assert body["lag"] == {
        "ok": True,
        "unsettledIntervals": 0,
        "oldestUnsettled": None,
        "lastSettled": None,
        "behindS": None,
    }
    assert body["live"] == {"messageQueue": "redis"}
    assert "settler" in body


def test_health_names_the_parts_that_do_not_answer(make_app):
    app = make_app(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        secret_key="k" * 40,
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}",
        rpc_url=f"http://127.0.0.1:{free_port()}",
    )
    health = app.test_client().get("/api/health")
    body = health.get_json()
    assert health.status_code == 200  # the database answers: history can still be served
    assert body["ok"] is False
    for part in ("chain", "broker", "redis"):
        assert body[part]["ok"] is False and body[part]["error"], part


def test_lag_counts_intervals_closed_and_not_settled(make_app, sessions):
    with sessions() as session:
        for interval_id, status in ((10, "closed"), (11, "closed"), (12, "closed"), (13, "open")):
            session.add(
                Interval(interval_id=interval_id, status=status, closed_at=None if status == "open" else 1_700_000_000)
            )
        session.commit()
    lag = make_app().test_client().get("/api/health").get_json()["lag"]
    assert (lag["ok"], lag["unsettledIntervals"], lag["oldestUnsettled"]) == (False, 3, 10)
    assert lag["behindS"] > 0


def test_the_settler_leader_is_the_session_holding_the_advisory_lock(make_app, migrated_engine, community):
    app = make_app()
    client = app.test_client()
    if migrated_engine.dialect.name != "postgresql":
        assert client.get("/api/health").get_json()["settler"]["election"].startswith("none")
        return
    assert client.get("/api/health").get_json()["settler"]["ok"] is False  # nobody holds it
    deployment = community.deployment
    leader = AdvisoryLockLeader(
        migrated_engine.url.render_as_string(hide_password=False),
        settler_lock_key(deployment.chain_id, deployment.address("EnergyMarket")),
        f"vatio-settler {deployment.chain_id} testhost:4242",
    )
    try:
        assert leader.lead()
        settler = client.get("/api/health").get_json()["settler"]
        assert (settler["ok"], settler["leader"]) == (True, "testhost:4242")
    finally:
        leader.release()
    assert client.get("/api/health").get_json()["settler"]["ok"] is False

    # A settler of the same chain id leading another community's database on this server is not this one's.
    other = AdvisoryLockLeader(
        migrated_engine.url.set(database="postgres").render_as_string(hide_password=False),
        settler_lock_key(deployment.chain_id, deployment.address("EnergyMarket")),
        f"vatio-settler {deployment.chain_id} elsewhere:1",
    )
    try:
        assert other.lead()
        assert client.get("/api/health").get_json()["settler"]["ok"] is False
    finally:
        other.release()


def _scrape(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_move_with_a_stored_reading_and_a_rejection(make_app, sessions, community):
    client = make_app().test_client()
    before = _scrape(client)
    for name in (
        "vatio_readings_stored_total",
        "vatio_intervals_unsettled",
        "vatio_settlement_gas_used_total",
        'vatio_outbox_transactions{status="sent"}',
    ):
        assert name in before, f"{name} missing from {sorted(before)}"
    meter = community.meters[community.alice.address].address
    with sessions() as session:
        add_meter(session, community.alice.address, meter)
        add_reading(session, community.alice.address, meter, 1, 1_700_000_000, 10, 20)
        record_rejection(
            session, received_at=1_700_000_000, topic="vatio/x/readings/y", reason="bad_json", payload=b"{", meter=None
        )
        session.commit()
    after = _scrape(client)
    assert after["vatio_readings_stored_total"] == before["vatio_readings_stored_total"] + 1
    assert (
        after['vatio_rejections_total{reason="bad_json"}']
        == before.get('vatio_rejections_total{reason="bad_json"}', 0) + 1
    )
