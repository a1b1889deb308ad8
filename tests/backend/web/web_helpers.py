"""Helpers for the web tests: SIWE messages signed like a wallet, rows stored like the oracle."""

from __future__ import annotations

import time

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from backend.db.models import Meter, Reading
from backend.web.siwe import SiweMessage, format_message

REDIS_URL = "redis://127.0.0.1:6379/0"
DOMAIN = "localhost"  # the Flask test client's Host


def siwe_text(
    account: LocalAccount,
    nonce: str,
    *,
    domain: str = DOMAIN,
    chain_id: int = 31337,
    issued_at: int | None = None,
    expiration_time: int | None = None,
    **fields,
) -> str:
    """Return an EIP-4361 message as a wallet would build it."""
    return format_message(
        SiweMessage(
            domain=domain,
            address=account.address,
            statement="Sign in to Vatio.",
            uri=f"http://{domain}",
            version="1",
            chain_id=chain_id,
            nonce=nonce,
            issued_at=int(time.time()) if issued_at is None else issued_at,
            expiration_time=expiration_time,
            **fields,
        )
    )


def sign(account: LocalAccount, text: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")


def sign_in(client, account: LocalAccount, **message_fields):
    """Do the whole SIWE flow; return the verify response."""
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    text = siwe_text(account, nonce, **message_fields)
    return client.post("/api/auth/verify", json={"message": text, "signature": sign(account, text)})


def add_meter(session, household: str, meter: str, *, active: bool = True, capacity_w: int = 7_000) -> None:
    session.add(Meter(address=meter, household=household, capacity_w=capacity_w, active=active, registered_block=1))
    session.flush()


def add_reading(
    session, household: str, meter: str, seq: int, ts: int, produced_wh: int, consumed_wh: int, power_w: int = 0
) -> None:
    """Store a reading row as the oracle would (the signature is not checked by the web app)."""
    session.add(
        Reading(
            meter=meter,
            household=household,
            seq=seq,
            ts=ts,
            produced_wh=produced_wh,
            consumed_wh=consumed_wh,
            power_w=power_w,
            signature=b"\x01" * 65,
            digest=b"\x02" * 32,
            received_at=ts,
        )
    )


def add_event(
    session, event: str, args: dict, *, block: int, tx: int, log_index: int, contract: str = "0x" + "11" * 20
) -> None:
    """Store a chain event as the indexer does (uint256 values as decimal strings)."""
    from backend.db.models import ChainEvent

    session.add(
        ChainEvent(
            block_number=block,
            block_hash="0x" + f"{block:064x}",
            tx_hash="0x" + f"{tx:064x}",
            log_index=log_index,
            contract=contract,
            event=event,
            args=args,
        )
    )


def signed_in_socket(base_url: str, account: LocalAccount):
    """A python-socketio client signed in over HTTP (SIWE) first; returns (client, [(event, data)])."""
    import requests
    import socketio

    http = requests.Session()
    nonce = http.get(f"{base_url}/api/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce, domain=base_url.removeprefix("http://"))
    assert http.post(f"{base_url}/api/auth/verify", json={"message": text, "signature": sign(account, text)}).ok
    received: list = []
    client = socketio.Client()
    client.on("*", lambda event, data: received.append((event, data)))
    client.connect(
        base_url, transports=["polling"], headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies)}
    )
    return client, received
