"""A bounded schemathesis run against /api/openapi.json, signed out and signed in as a household.

Every operation of the description gets a fixed number of generated cases
(derandomized, so a failure reproduces); each response must not be a 5xx,
must have a status the description lists, and must match its schema.
"""

from __future__ import annotations

import time

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from web_helpers import add_event, add_meter, add_reading, sign_in

from backend.db.models import Interval, IntervalEntry, MeterStatus
from backend.web.app import SESSION_COOKIE

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


SECONDS = 900


@pytest.fixture(autouse=True)
def _one_database(db_kind):
    """Conformance to the OpenAPI description does not depend on the database: the run goes on SQLite only
    (the other web tests run every endpoint on PostgreSQL too), which halves the suite's longest test."""
    if db_kind != "sqlite":
        pytest.skip("schemathesis runs on SQLite; PostgreSQL is covered by the other web tests")


@pytest.fixture
def seeded(sessions, community) -> dict:
    """Readings of the last hour, one settled interval and one closed but not settled; values to pin paths to."""
    now = int(time.time())
    settled, closed = now // SECONDS - 3, now // SECONDS - 2
    with sessions() as session:
        for index, household in enumerate((community.alice.address, community.bob.address)):
            meter = community.meters[household].address
            add_meter(session, household, meter)
            for seq in range(1, 13):
                add_reading(
                    session,
                    household,
                    meter,
                    seq,
                    now - 3600 + 300 * seq,
                    40 * seq * index,
                    25 * seq,
                    power_w=500 - 100 * index,
                )
        alice_meter = community.meters[community.alice.address].address  # its bridge reports (meterStatus)
        session.add(
            MeterStatus(
                meter=alice_meter,
                household=community.alice.address,
                source="p1",
                status_ts=now - 5,
                last_reading_seq=12,
                last_reading_ts=now - 10,
                queue_depth=0,
                queue_bytes=0,
                counters={"bad_crc": 1},
                halted=None,
                broker_error=None,
                received_at=now - 4,
            )
        )
        session.add(
            Interval(
                interval_id=settled,
                status="settled",
                readings_root=b"\x01" * 32,
                clearing_price=120_000,
                closed_at=(settled + 1) * SECONDS + 30,
                settled_tx="0x" + "ab" * 32,
                settled_block=42,
            )
        )
        session.add(
            Interval(
                interval_id=closed, status="closed", readings_root=b"\x02" * 32, closed_at=(closed + 1) * SECONDS + 30
            )
        )
        session.flush()
        for interval_id in (settled, closed):
            for household in (community.alice.address, community.bob.address):
                session.add(
                    IntervalEntry(
                        interval_id=interval_id,
                        household=household,
                        meter=community.meters[household].address,
                        produced_wh=100,
                        consumed_wh=40,
                        readings_hash=b"\x03" * 32,
                        leaf=b"\x04" * 32,
                        first_seq=1,
                        last_seq=2,
                    )
                )
        add_event(
            session,
            "IntervalSettled",
            {
                "intervalId": str(settled),
                "readingsRoot": "0x" + "01" * 32,
                "clearingPrice": "120000",
                "surplusWh": "60",
                "coveredWh": "60",
                "tradedWh": "60",
                "gridImportWh": "0",
                "chunks": "1",
            },
            block=42,
            tx=7,
            log_index=0,
        )
        session.commit()
    return {"address": community.alice.address, "interval_id": settled}


def _strategy(operation, pinned: dict):
    """Valid and invalid generated cases; some with the path parameters pinned to seeded rows (else all 404)."""
    names = {p.name for p in operation.path_parameters}
    fixed = {name: value for name, value in pinned.items() if name in names}
    strategies = [operation.as_strategy(), operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    if fixed:
        strategies.append(operation.as_strategy(path_parameters=fixed))
    return st.one_of(*strategies)


def _run(app, client, *, pinned: dict, keep_signed_in=None) -> tuple[int, int, list[str]]:
    """Run every operation; return (operations, examples, failures as text)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = examples = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        examples += _exercise(operation, _strategy(operation, pinned), client, failures, keep_signed_in)
    return operations, examples, failures


def _exercise(operation, strategy, client, failures: list[str], keep_signed_in) -> int:
    """Send the operation's generated cases; return how many were sent."""
    sent = 0

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case):
        nonlocal sent
        sent += 1
        if keep_signed_in is None:
            response = case.call(session=client)
        else:
            # The description's cookie scheme makes schemathesis send (then delete) a made-up session
            # cookie: send the real one instead, and keep whatever the app set in its place.
            sid = client.get_cookie(SESSION_COOKIE)
            response = case.call(session=client, cookies={SESSION_COOKIE: sid.value} if sid else None)
            renewed = _set_cookie(response, SESSION_COOKIE)
            if renewed or sid:
                client.set_cookie(SESSION_COOKIE, renewed or sid.value)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:  # check failures: collected, reported together below
            failures.append(f"{case.as_curl_command()} -> {response.status_code}: " + "; ".join(_messages(exc)))
        if keep_signed_in is not None:
            keep_signed_in()

    exercise()
    return sent


def _set_cookie(response, name: str) -> str | None:
    for header in response.headers.get("set-cookie", []):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            value = rest.split(";", 1)[0]
            return value or None
    return None


def _messages(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [m for sub in exc.exceptions for m in _messages(sub)]
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return [" ".join(lines[:2])[:300]]


def test_schemathesis_signed_out(app, seeded):
    client = app.test_client()
    operations, examples, failures = _run(app, client, pinned=seeded)
    print(f"signed out: {operations} operations, {examples} examples, {len(failures)} failures")
    assert operations >= 30 and examples >= operations
    assert not failures, "\n".join(failures[:40])


def test_schemathesis_signed_in(app, community, seeded):
    client = app.test_client()
    assert sign_in(client, community.alice).status_code == 200

    def keep_signed_in():  # after POST /api/auth/logout
        if client.get("/api/auth/me").get_json() == {"signedIn": False}:
            assert sign_in(client, community.alice).status_code == 200

    operations, examples, failures = _run(app, client, pinned=seeded, keep_signed_in=keep_signed_in)
    print(f"signed in: {operations} operations, {examples} examples, {len(failures)} failures")
    assert client.get("/api/auth/me").get_json()["signedIn"] is True
    assert not failures, "\n".join(failures[:40])
