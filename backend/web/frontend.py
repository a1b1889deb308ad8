"""The browser app: frontend/dist served by Flask, its runtime settings, and the deployment file.

Client-side routes (/household, /market, /audit/123, ...) all get index.html,
so a reload or a shared link opens the right page. Paths under /api/ and
/socket.io/ are never answered here: an unknown API path stays a JSON 404.

Outside /api on purpose: these are the site's static files and the
settings the page needs before it can call the API.

  GET /config.json                   chain id, the RPC URL for reads, whether the chain is local
  GET /deployments/<chainId>.json    the deployment file (addresses, ABIs: for decoding revert errors)
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, jsonify, send_from_directory

from backend.chain.deploy import LOCAL_CHAIN_IDS
from backend.paths import REPO_ROOT
from backend.web.context import config

__all__ = ["DIST_DIR", "bp"]

DIST_DIR = REPO_ROOT / "frontend" / "dist"
# Hashed asset names never change content: cache them for a year. index.html must stay fresh.
ASSET_MAX_AGE_S = 365 * 86400
_NOT_PAGES = ("api/", "socket.io/", "assets/")

bp = Blueprint("frontend", __name__)


@bp.get("/config.json")
def runtime_config():
    """Return what the page needs before calling the API: chain, reads RPC, deployment file, interval."""
    settings = config()
    deployment = settings.deployment
    if deployment is None:
        return jsonify({"chainId": None, "rpcUrl": None, "deployment": None, "local": False, "intervalSeconds": 900})
    return jsonify(
        {
            "chainId": deployment.chain_id,
            "rpcUrl": settings.rpc_url,
            "deployment": f"/deployments/{deployment.chain_id}.json",
            "local": deployment.chain_id in LOCAL_CHAIN_IDS,
            "intervalSeconds": int(deployment.settings.get("intervalSeconds", 900)),
        }
    )


@bp.get("/deployments/<int:chain_id>.json")
def deployment_file(chain_id: int):
    """Return this community's deployment (addresses and ABIs); 404 for any other chain."""
    deployment = config().deployment
    if deployment is None or deployment.chain_id != chain_id:
        abort(404)
    response = jsonify(deployment.to_json())
    response.cache_control.max_age = 60
    return response


@bp.get("/assets/<path:name>")
def asset(name: str):
    """Serve a built asset (content-hashed name)."""
    return send_from_directory(_dist() / "assets", name, max_age=ASSET_MAX_AGE_S)


@bp.get("/", defaults={"path": ""})
@bp.get("/<path:path>")
def page(path: str):
    """Serve a file of the build, else index.html for the app's own routes."""
    if path.startswith(_NOT_PAGES):
        abort(404)
    dist = _dist()
    if path and (dist / path).is_file():
        return send_from_directory(dist, path, max_age=300)
    if not (dist / "index.html").is_file():
        return _not_built()
    response = send_from_directory(dist, "index.html", max_age=0)
    response.cache_control.no_cache = True
    return response


def _dist() -> Path:
    return DIST_DIR


def _not_built():
    body = (
        "<!doctype html><meta charset=utf-8><title>Vatio</title>"
        "<p>The web app is not built yet: run <code>make setup</code> "
        "(or <code>npm run build</code>). The API is at <a href=/api/docs>/api/docs</a>.</p>"
    )
    return body, 503, {"Content-Type": "text/html; charset=utf-8"}
