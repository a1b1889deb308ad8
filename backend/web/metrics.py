"""GET /metrics: the deployment's figures in Prometheus' text format (prometheus_client), read from the database.

Every web worker answers the same (the figures are the stored rows', not a
worker's), so a scraper may ask any of them:
  vatio_readings_stored_total, vatio_rejections_total{reason}
  vatio_intervals_unsettled, vatio_outbox_transactions{status}, vatio_settlement_gas_used_total
The oracle serves its own per-process counters (backend/oracle/metrics.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from backend.readmodel.operations import DatabaseCollector
from backend.web.context import web_state

__all__ = ["bp"]

bp = Blueprint("metrics", __name__)


def _registry() -> CollectorRegistry:
    registry = current_app.extensions.get("vatio_metrics")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(web_state().sessions, readings=True))
        current_app.extensions["vatio_metrics"] = registry
    return registry


@bp.get("/metrics")
def metrics():
    """The figures, for Prometheus to scrape."""
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
