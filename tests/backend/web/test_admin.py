"""Admin endpoints: only the registry's admin; transactions to sign that work on the real chain."""

from __future__ import annotations

from eth_account import Account
from web_helpers import sign_in

from backend.chain.deploy import Deployer
from backend.db.store import record_rejection


def _send(community, transaction: dict) -> dict:
    """Send an unsigned call as the admin's wallet would."""
    return Deployer(community.web3, community.admin)._send({"to": transaction["to"], "data": transaction["data"]})


def test_admin_only(make_app, community):
    app = make_app()
    anonymous, household = app.test_client(), app.test_client()
    sign_in(household, community.alice)
    body = {"wallet": Account.create().address, "meter": Account.create().address, "capacityW": 5000}
    assert anonymous.post("/api/admin/households", json=body).status_code == 401
    response = household.post("/api/admin/households", json=body)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert household.get("/api/admin/rejections").status_code == 403
    assert household.post("/api/admin/tariffs", json={"retailPrice": 1, "feedInPrice": 1}).status_code == 403


def test_register_household_transaction_works(client, community):
    sign_in(client, community.admin)
    wallet, meter = Account.create(), Account.create()
    response = client.post(
        "/api/admin/households", json={"wallet": wallet.address.lower(), "meter": meter.address, "capacityW": 5000}
    )
    assert response.status_code == 200, response.get_json()
    assert _send(community, response.get_json()["transaction"])["status"] == 1
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    assert registry.functions.isRegistered(wallet.address).call()
    again = client.post(
        "/api/admin/households", json={"wallet": wallet.address, "meter": Account.create().address, "capacityW": 5000}
    )
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_registered"


def test_register_household_bad_input(client, community):
    sign_in(client, community.admin)
    good = {"wallet": Account.create().address, "meter": Account.create().address, "capacityW": 5000}
    cases = {
        "wallet": ("0x12", "invalid_address"),
        "meter": (None, "invalid_address"),
        "capacityW": (0, "invalid_amount"),
    }
    for field, (value, code) in cases.items():
        response = client.post("/api/admin/households", json={**good, field: value})
        assert response.status_code == 400 and response.get_json()["error"]["code"] == code, field
    response = client.post("/api/admin/households", json={**good, "capacityW": 2**32})
    assert response.get_json()["error"]["code"] == "invalid_amount"
    response = client.post("/api/admin/households", json={**good, "meter": good["wallet"]})
    assert response.get_json()["error"]["code"] == "invalid_address"


def test_tariffs_transaction_and_bad_prices(client, community):
    sign_in(client, community.admin)
    for body in (
        {"retailPrice": 200_000, "feedInPrice": 250_000},
        {"retailPrice": 200_500, "feedInPrice": 50_000},
        {"retailPrice": 200_000, "feedInPrice": 0},
        {"retailPrice": "x", "feedInPrice": 1000},
        {"retailPrice": 2**70, "feedInPrice": 1000},
    ):
        response = client.post("/api/admin/tariffs", json=body)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_price", body
    response = client.post("/api/admin/tariffs", json={"retailPrice": 200_000, "feedInPrice": 50_000})
    assert _send(community, response.get_json()["transaction"])["status"] == 1  # the same tariffs, set again


def test_rejections_for_the_admin(client, sessions, community):
    with sessions() as session:
        for reason in ("bad_signature", "bad_signature", "stale_seq"):
            record_rejection(
                session, received_at=1, topic="vatio/x/meters/y/readings", reason=reason, payload=b"{\\x00}"
            )
        session.commit()
    sign_in(client, community.admin)
    body = client.get("/api/admin/rejections?limit=2").get_json()
    assert body["counts"] == {"bad_signature": 2, "stale_seq": 1}
    assert len(body["items"]) == 2 and body["nextCursor"] is not None
