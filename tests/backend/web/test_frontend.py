"""The browser app's files, its client-side routes, and the settings it loads first."""

from __future__ import annotations

import pytest

from backend.web import frontend

INDEX = "<!doctype html><title>Vatio test build</title>"


@pytest.fixture
def dist(tmp_path, monkeypatch):
    """A stand-in build: index.html, one hashed asset and one top-level file."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('vatio')")
    (tmp_path / "robots.txt").write_text("User-agent: *")
    monkeypatch.setattr(frontend, "DIST_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", ["/", "/household", "/market?side=ask", "/audit/1958400", "/admin"])
def test_app_routes_get_index_html_fresh(client, dist, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.get_data(as_text=True) == INDEX
    assert "no-cache" in response.headers["Cache-Control"]


def test_built_files_are_served_and_hashed_assets_cached_long(client, dist):
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.get_data(as_text=True) == "console.log('vatio')"
    assert "max-age=31536000" in asset.headers["Cache-Control"]
    assert client.get("/robots.txt").get_data(as_text=True) == "User-agent: *"


def test_missing_assets_and_api_paths_are_not_pages(client, dist):
    assert client.get("/assets/gone.js").status_code == 404
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/..%2f..%2fpyproject.toml", "/assets/..%2f..%2f..%2fpyproject.toml", "/%2e%2e/%2e%2e/backend/web/app.py"]
)
def test_nothing_outside_the_build_is_served(client, dist, path):
    response = client.get(path)
    assert b"[project]" not in response.data and b"create_app" not in response.data


def test_an_unbuilt_app_says_how_to_build_it(client, tmp_path, monkeypatch):
    monkeypatch.setattr(frontend, "DIST_DIR", tmp_path / "missing")
    response = client.get("/market")
    assert response.status_code == 503 and "make setup" in response.get_data(as_text=True)


def test_runtime_config_names_the_chain_and_the_deployment_file(client, community):
    settings = client.get("/config.json").get_json()
    assert settings == {
        "chainId": 31337,
        "rpcUrl": community.url,
        "deployment": "/deployments/31337.json",
        "local": True,
        "intervalSeconds": 900,
    }
    deployment = client.get(settings["deployment"]).get_json()
    assert deployment == community.deployment.to_json()
    assert any(item.get("name") == "MarketPriceOutOfTariffs" for item in deployment["contracts"]["EnergyMarket"]["abi"])
    assert client.get("/deployments/1.json").status_code == 404


def test_runtime_config_without_a_deployment(make_app):
    client = make_app(deployment=None).test_client()
    assert client.get("/config.json").get_json()["chainId"] is None
    assert client.get("/deployments/31337.json").status_code == 404
