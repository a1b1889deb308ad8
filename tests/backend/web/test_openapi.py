"""The OpenAPI description covers every route the app serves, and the docs page needs nothing from outside."""

from __future__ import annotations

import re


def test_every_api_route_is_described(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == described
    for path, item in spec["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_docs_page_is_self_contained(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.data.decode()
    assert "openapi.json" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, no outside fetch


def test_errors_are_json_everywhere(client):
    assert client.get("/api/nope").get_json()["error"]["code"] == "not_found"
    response = client.post("/api/community/summary")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    response = client.post("/api/auth/verify", data="x" * 100_000, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"


def test_docs_api_md_lists_every_described_route(client):
    """docs/api.md's endpoint table names every route of the description, and no route that is not served."""
    from backend.paths import REPO_ROOT

    def shape(path: str) -> str:  # path parameters compare by position only: <address>, {address}, <YYYY-MM>
        return re.sub(r"[<{][^>}/]+[>}]", "{}", path)

    spec = client.get("/api/openapi.json").get_json()
    described = {(method.upper(), shape(path)) for path, item in spec["paths"].items() for method in item}
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    table = text[text.index("## Endpoints") : text.index("\n## ", text.index("## Endpoints") + 1)]
    documented = {
        (method, shape(path)) for method, path in re.findall(r"`(GET|POST|DELETE|PUT|PATCH) (/api/[^`?\s]+)", table)
    }
    assert described - documented == set(), "described but not in docs/api.md"
    assert documented - described == set(), "in docs/api.md but not served"
