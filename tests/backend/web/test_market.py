"""The market from chain events (open orders, book, clearing, fills) and order previews checked on the real chain."""

from __future__ import annotations

import pytest
from web_helpers import add_event, sign_in

from backend.chain.deploy import Deployer

FAR = str(2**40 - 1)


def _order(order_id: int, owner: str, side: int, price: int, amount: int, valid_to: str = FAR) -> dict:
    return {
        "orderId": str(order_id),
        "owner": owner,
        "side": str(side),
        "limitPrice": str(price),
        "amountWh": str(amount),
        "validFrom": "0",
        "validTo": valid_to,
        "escrow": str(amount * price // 1000 if side == 0 else 0),
    }


@pytest.fixture
def orders(sessions, community):
    alice, bob = community.alice.address, community.bob.address
    with sessions() as session:
        add_event(session, "OrderPlaced", _order(1, alice, 1, 100_000, 500), block=10, tx=1, log_index=0)
        add_event(session, "OrderPlaced", _order(2, alice, 1, 100_000, 300), block=10, tx=2, log_index=0)
        add_event(session, "OrderPlaced", _order(3, bob, 0, 150_000, 400), block=11, tx=3, log_index=0)
        add_event(session, "OrderPlaced", _order(4, bob, 0, 160_000, 100), block=11, tx=4, log_index=0)
        add_event(session, "OrderPlaced", _order(5, bob, 0, 170_000, 100, valid_to="5"), block=11, tx=5, log_index=0)
        add_event(session, "OrderPlaced", _order(6, alice, 1, 90_000, 50), block=12, tx=6, log_index=0)
        add_event(
            session,
            "OrderClosed",
            {"orderId": "6", "owner": alice, "refundedEuro": "0", "refundedWh": "50"},
            block=13,
            tx=7,
            log_index=0,
        )
        # interval 100 settled: order 2 fully filled, order 3 partly, plus an auto fill
        for index, (order_id, owner, side, amount) in enumerate(
            ((2, alice, 1, 300), (3, bob, 0, 250), (0, bob, 0, 50), (0, alice, 1, 0 + 0))
        ):
            if amount:
                add_event(
                    session,
                    "Filled",
                    {
                        "intervalId": "100",
                        "orderId": str(order_id),
                        "household": owner,
                        "side": str(side),
                        "amountWh": str(amount),
                        "value": str(amount * 120),
                    },
                    block=20,
                    tx=8,
                    log_index=index,
                )
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": "100",
                "readingsRoot": "0x" + "01" * 32,
                "clearingPrice": "120000",
                "surplusWh": "300",
                "coveredWh": "300",
                "tradedWh": "300",
                "gridImportWh": "0",
                "chunks": "1",
            },
            block=20,
            tx=8,
            log_index=9,
        )
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": "101",
                "readingsRoot": "0x" + "02" * 32,
                "clearingPrice": "0",
                "surplusWh": "0",
                "coveredWh": "0",
                "tradedWh": "0",
                "gridImportWh": "10",
                "chunks": "1",
            },
            block=21,
            tx=9,
            log_index=0,
        )
        session.commit()


def test_open_orders_leave_out_closed_filled_and_expired(client, orders, community):
    items = client.get("/api/market/orders").get_json()["items"]
    assert [o["orderId"] for o in items] == [4, 3, 1]
    three = next(o for o in items if o["orderId"] == 3)
    assert (three["side"], three["filledWh"], three["remainingWh"]) == ("bid", 250, 150)
    asks = client.get(f"/api/market/orders?side=ask&owner={community.alice.address.lower()}").get_json()["items"]
    assert [o["orderId"] for o in asks] == [1]
    page = client.get("/api/market/orders?limit=2").get_json()
    assert [o["orderId"] for o in page["items"]] == [4, 3] and page["nextCursor"] == 3
    rest = client.get(f"/api/market/orders?limit=2&cursor={page['nextCursor']}").get_json()
    assert [o["orderId"] for o in rest["items"]] == [1] and rest["nextCursor"] is None
    for query in ("side=buy", "owner=0x12", "limit=-1"):
        assert client.get(f"/api/market/orders?{query}").status_code == 400, query


def test_order_book_by_price_level(client, orders):
    body = client.get("/api/market/book").get_json()
    assert body["bids"] == [
        {"price": 160_000, "amountWh": 100, "orders": 1},
        {"price": 150_000, "amountWh": 150, "orders": 1},
    ]
    assert body["asks"] == [{"price": 100_000, "amountWh": 500, "orders": 1}]


def test_clearing_history(client, orders):
    first = client.get("/api/market/clearing?limit=1").get_json()
    assert [(i["intervalId"], i["clearingPrice"]) for i in first["items"]] == [(101, 0)]
    second = client.get(f"/api/market/clearing?limit=1&cursor={first['nextCursor']}").get_json()
    assert [(i["intervalId"], i["clearingPrice"], i["tradedWh"]) for i in second["items"]] == [(100, 120_000, 300)]


def test_fills_and_orders_of_a_household(client, orders, community):
    sign_in(client, community.bob)
    fills = client.get(f"/api/households/{community.bob.address}/fills").get_json()["items"]
    assert [(f["orderId"], f["auto"], f["amountWh"]) for f in fills] == [(0, True, 50), (3, False, 250)]
    mine = client.get(f"/api/households/{community.bob.address}/orders?status=all").get_json()["items"]
    assert [o["orderId"] for o in mine] == [5, 4, 3]
    assert client.get(f"/api/households/{community.bob.address}/orders?status=x").status_code == 400
    # Flat tariffs only: no schedule to bill by, so no KPIs (backend/web/kpis.py), said so.
    kpis = client.get(f"/api/households/{community.bob.address}/kpis").get_json()
    assert kpis["kpis"] is None and "no tariff schedule" in kpis["note"]


def _fund(community, account) -> None:
    web3 = community.web3
    admin = Deployer(web3, community.admin)
    admin._send({"to": account.address, "value": web3.to_wei(1, "ether")})
    admin.call(community.deployment.contract(web3, "Euro").functions.faucet(account.address))


def test_preview_returns_transactions_that_work_on_chain(client, community):
    bob = community.bob
    _fund(community, bob)
    sign_in(client, bob)
    response = client.post("/api/market/orders/preview", json={"side": "bid", "limitPrice": 151_000, "amountWh": 1_001})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["escrow"] == {"asset": "euro", "amount": 151_151}  # on the tick, Wh x price / 1000 is exact
    web3 = community.web3
    market = community.deployment.contract(web3, "EnergyMarket")
    before = market.functions.nextOrderId().call()
    for transaction in body["transactions"]:
        tx = {k: transaction[k] for k in ("to", "data", "chainId")}
        tx.update(
            value=0,
            nonce=web3.eth.get_transaction_count(bob.address),
            gas=400_000,
            maxFeePerGas=web3.to_wei(5, "gwei"),
            maxPriorityFeePerGas=web3.to_wei(1, "gwei"),
        )
        receipt = web3.eth.wait_for_transaction_receipt(
            web3.eth.send_raw_transaction(bob.sign_transaction(tx).raw_transaction)
        )
        assert receipt["status"] == 1, transaction["description"]
    order = market.functions.getOrder(before).call()
    assert order[0] == bob.address and order[5] == 1_001 and order[7] == 151_000


def test_preview_rejects_bad_orders(make_app, community):
    client = make_app().test_client()
    assert client.post("/api/market/orders/preview", json={}).status_code == 401
    sign_in(client, community.alice)
    cases = {
        (("side", "hold"),): "invalid_parameter",
        (("amountWh", 0),): "invalid_amount",
        (("amountWh", -5),): "invalid_amount",
        (("amountWh", 2**64),): "invalid_amount",
        (("amountWh", "lots"),): "invalid_amount",
        (("amountWh", 1.5),): "invalid_amount",
        (("limitPrice", 250_000),): "invalid_price",  # above retail
        (("limitPrice", 10_000),): "invalid_price",  # below feed-in
        (("limitPrice", True),): "invalid_price",
        (
            ("limitPrice", 100_500),
        ): "invalid_price",  # off the 0.001 EUR/kWh tick (docs/mechanisms.md, "Limit prices and the tick")
        (("validFrom", 1),): "invalid_window",  # in the past
        (("validTo", 0),): "invalid_window",
        (("amountWh", 10**9),): "insufficient_balance",  # Alice holds no kWh tokens
    }
    for change, code in cases.items():
        body = {"side": "ask", "limitPrice": 100_000, "amountWh": 100, **dict(change)}
        response = client.post("/api/market/orders/preview", json=body)
        assert response.status_code == 400, change
        assert response.get_json()["error"]["code"] == code, (change, response.get_json())
    carol = make_app().test_client()
    sign_in(carol, community.carol)
    response = carol.post("/api/market/orders/preview", json={"side": "ask", "limitPrice": 100_000, "amountWh": 1})
    assert response.status_code == 403


def test_write_endpoints_are_rate_limited_per_wallet(make_app, community):
    app = make_app(rate_limits_enabled=True, rate_limit_write="2 per minute", rate_limit_signin="50 per minute")
    client = app.test_client()
    sign_in(client, community.alice)
    statuses = [
        client.post("/api/market/orders/preview", json={"side": "ask", "limitPrice": 1, "amountWh": 1}).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
    other = app.test_client()  # same client address, another wallet: its own budget
    sign_in(other, community.bob)
    assert other.post("/api/market/orders/preview", json={}).status_code == 400


def test_suggested_prices_round_to_the_tick():
    from backend.web.market import on_price_tick

    assert [on_price_tick(p) for p in (73_138, 73_500, 73_499, 140_000, 0)] == [73_000, 74_000, 73_000, 140_000, 0]
