"""Households' read-only API tokens: made, listed and revoked with the wallet; a Bearer token reads its own
household's private data and nothing else."""

from __future__ import annotations

import time

from sqlalchemy import select
from web_helpers import add_meter, add_reading, sign_in

from backend.db.models import HouseholdToken


def _make_token(client, household: str, label: str = "home assistant") -> dict:
    response = client.post(f"/api/households/{household}/tokens", json={"label": label})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _error(response) -> str:
    return response.get_json()["error"]["code"]


def test_create_list_revoke(app, community, sessions):
    client = app.test_client()
    alice = community.alice.address
    sign_in(client, community.alice)
    made = _make_token(client, alice.lower())
    assert made["household"] == alice and made["token"].startswith("vatio_hh_") and made["label"] == "home assistant"
    assert made["lastUsedAt"] is None and abs(made["createdAt"] - time.time()) < 60
    with sessions() as session:
        stored = session.scalars(select(HouseholdToken)).one()
        assert stored.token_hash != made["token"] and made["token"] not in stored.token_hash  # only its hash
    listed = client.get(f"/api/households/{alice}/tokens").get_json()["items"]
    assert listed == [{"id": made["id"], "label": "home assistant", "createdAt": made["createdAt"], "lastUsedAt": None}]
    reader = app.test_client()
    assert reader.get(f"/api/households/{alice}/readings", headers=_bearer(made["token"])).status_code == 200
    assert client.get(f"/api/households/{alice}/tokens").get_json()["items"][0]["lastUsedAt"] is not None
    assert client.delete(f"/api/households/{alice}/tokens/{made['id']}").get_json() == {"revoked": made["id"]}
    assert client.get(f"/api/households/{alice}/tokens").get_json()["items"] == []
    revoked = reader.get(f"/api/households/{alice}/readings", headers=_bearer(made["token"]))
    assert revoked.status_code == 401 and _error(revoked) == "invalid_token"
    assert "revoked" in revoked.get_json()["error"]["message"]
    again = client.delete(f"/api/households/{alice}/tokens/{made['id']}")
    assert again.status_code == 404 and _error(again) == "not_found"


def test_only_the_household_itself_manages_its_tokens(make_app, community):
    app = make_app()
    alice, bob, admin, anonymous = (app.test_client() for _ in range(4))
    sign_in(alice, community.alice)
    sign_in(bob, community.bob)
    sign_in(admin, community.admin)
    address = community.alice.address
    made = _make_token(alice, address)
    assert anonymous.post(f"/api/households/{address}/tokens", json={}).status_code == 401
    for other in (bob, admin):
        assert other.post(f"/api/households/{address}/tokens", json={}).status_code == 403
        assert other.get(f"/api/households/{address}/tokens").status_code == 403
        assert other.delete(f"/api/households/{address}/tokens/{made['id']}").status_code == 403
    # Bob cannot revoke Alice's token through his own path either.
    assert bob.delete(f"/api/households/{community.bob.address}/tokens/{made['id']}").status_code == 404
    for label in ("x" * 101, 7, "tab\there"):
        response = alice.post(f"/api/households/{address}/tokens", json={"label": label})
        assert response.status_code == 400 and _error(response) == "invalid_label", label
    assert alice.delete(f"/api/households/{address}/tokens/nope").status_code == 400


def test_a_token_reads_its_own_households_private_endpoints(app, community, sessions):
    alice, meter = community.alice.address, community.meters[community.alice.address].address
    now = int(time.time())
    with sessions() as session:
        add_meter(session, alice, meter)
        for seq in range(1, 4):
            add_reading(session, alice, meter, seq, now - 900 + 300 * seq, 0, 100 * seq)
        session.commit()
    owner = app.test_client()
    sign_in(owner, community.alice)
    token = _make_token(owner, alice)["token"]
    reader = app.test_client()  # no cookie: the token alone
    raw = reader.get(f"/api/households/{alice}/readings?resolution=raw&from={now - 3600}", headers=_bearer(token))
    assert raw.status_code == 200 and [r["seq"] for r in raw.get_json()["items"]] == [1, 2, 3]
    for path in ("", "/intervals", "/fills", "/orders", "/forecast"):
        response = reader.get(f"/api/households/{alice}{path}", headers=_bearer(token))
        assert response.status_code == 200, (path, response.get_json())
    recommendations = reader.get(f"/api/households/{alice}/recommendations", headers=_bearer(token))
    assert recommendations.status_code == 200, recommendations.get_json()
    assert recommendations.get_json()["household"] == alice
    assert (
        reader.get(f"/api/households/{alice}/readings.csv?from={now - 3600}", headers=_bearer(token)).status_code == 200
    )


def test_a_token_is_refused_for_writes_other_households_and_when_malformed(app, community):
    owner = app.test_client()
    sign_in(owner, community.alice)
    alice, bob = community.alice.address, community.bob.address
    token = _make_token(owner, alice)["token"]
    reader = app.test_client()
    other = reader.get(f"/api/households/{bob}/readings", headers=_bearer(token))
    assert other.status_code == 403 and _error(other) == "forbidden"
    writes = [
        reader.post(f"/api/households/{alice}/tokens", json={}, headers=_bearer(token)),
        reader.delete(f"/api/households/{alice}/tokens/1", headers=_bearer(token)),
        reader.post(
            "/api/market/orders/preview",
            json={"side": "bid", "limitPrice": 100_000, "amountWh": 1},
            headers=_bearer(token),
        ),
        reader.post("/api/admin/tariffs", json={"retailPrice": 200_000, "feedInPrice": 50_000}, headers=_bearer(token)),
    ]
    for response in writes:
        assert response.status_code == 403 and _error(response) == "token_read_only", response.get_json()
    listing = reader.get(f"/api/households/{alice}/tokens", headers=_bearer(token))
    assert listing.status_code == 403 and _error(listing) == "token_not_allowed"
    # A session cookie does not rescue a request that carries a token: the token alone decides.
    assert owner.post(f"/api/households/{alice}/tokens", json={}, headers=_bearer(token)).status_code == 403
    for header in (
        f"Basic {token}",
        "Bearer",
        f"Bearer {token[:-1]}",
        f"Bearer {token}x",
        "Bearer vatio_hh_" + "!" * 43,
        token,
    ):
        response = reader.get(f"/api/households/{alice}/readings", headers={"Authorization": header})
        assert response.status_code == 401 and _error(response) == "invalid_token", header
        assert "Bearer vatio_hh_" in response.get_json()["error"]["message"]
    unknown = reader.get(f"/api/households/{alice}/readings", headers=_bearer("vatio_hh_" + "A" * 43))
    assert unknown.status_code == 401 and _error(unknown) == "invalid_token"
    # Without a token, a cookie-less request is still just signed out.
    assert _error(reader.get(f"/api/households/{alice}/readings")) == "not_signed_in"


def test_a_household_holds_a_bounded_number_of_tokens(app, community):
    client = app.test_client()
    sign_in(client, community.alice)
    for index in range(20):
        _make_token(client, community.alice.address, f"t{index}")
    response = client.post(f"/api/households/{community.alice.address}/tokens", json={})
    assert response.status_code == 409 and _error(response) == "too_many_tokens"
