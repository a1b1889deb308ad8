"""The in-process cache behind the summary and the forecast views: lifetime, stale reads, one computation."""

from __future__ import annotations

import threading
import time

import pytest
from web_helpers import add_meter, add_reading

from backend.web.cache import TtlCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_lives_for_its_ttl_then_is_computed_again():
    clock = Clock()
    cache = TtlCache(2.0, clock=clock)
    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("k", compute) == 1
    clock.now = 2.0
    assert cache.get("k", compute) == 1
    clock.now = 2.1
    assert cache.get("k", compute) == 2


def test_a_stale_value_is_served_while_one_background_refresh_runs():
    clock = Clock()
    cache = TtlCache(1.0, stale_s=10.0, clock=clock)
    cache.get("k", lambda: "old")
    clock.now = 5.0
    release = threading.Event()
    refreshes = []

    def refresh():
        refreshes.append(1)
        release.wait(5)
        return "new"

    assert cache.get("k", lambda: pytest.fail("a stale hit must not compute in the request"), refresh) == "old"
    assert cache.get("k", lambda: "x", refresh) == "old"  # one refresh at a time
    release.set()
    deadline = time.monotonic() + 5
    while cache.get("k", lambda: "x", refresh) != "new" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("k", lambda: "x", refresh) == "new" and refreshes == [1]
    clock.now = 100.0  # far too old to serve: computed in the request
    assert cache.get("k", lambda: "fresh", refresh) == "fresh"


def test_concurrent_misses_compute_once_and_a_failure_keeps_nothing():
    cache = TtlCache(60.0)
    calls = []
    gate = threading.Event()

    def slow():
        calls.append(1)
        gate.wait(5)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == [42] * 8 and calls == [1]

    def broken():
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        cache.get("other", broken)
    assert cache.get("other", lambda: 7) == 7


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TtlCache(-1)
    with pytest.raises(ValueError):
        TtlCache(1, max_entries=0)


def test_the_summary_is_cached_for_its_lifetime(make_app, sessions, community):
    alice = community.alice.address
    meter = community.meters[alice].address
    now = int(time.time())
    with sessions() as session:
        add_meter(session, alice, meter)
        add_reading(session, alice, meter, 0, now - 600, 0, 0)
        add_reading(session, alice, meter, 1, now - 300, 0, 100)
        session.commit()
    cached = make_app(summary_cache_s=60).test_client()
    uncached = make_app(summary_cache_s=0).test_client()
    assert cached.get("/api/community/summary").get_json()["now"]["consumptionW"] == 1200
    with sessions() as session:
        add_reading(session, alice, meter, 2, now - 1, 0, 200)
        session.commit()
    assert cached.get("/api/community/summary").get_json()["now"]["consumptionW"] == 1200
    assert uncached.get("/api/community/summary").get_json()["now"]["consumptionW"] != 1200


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "100000"])
def test_a_bad_summary_lifetime_fails_fast(tmp_path, value):
    import json

    from backend.web.config import Config, ConfigError

    deployment = tmp_path / "31337.json"
    deployment.write_text(json.dumps({"chainId": 31337, "deployBlock": 1, "contracts": {}, "settings": {}}))
    env = {
        "VATIO_DEPLOYMENT": str(deployment),
        "VATIO_DATABASE_URL": f"sqlite:///{tmp_path}/v.db",
        "VATIO_SUMMARY_CACHE_S": value,
    }
    with pytest.raises(ConfigError, match="VATIO_SUMMARY_CACHE_S"):
        Config.from_env(env)
    assert Config.from_env({**env, "VATIO_SUMMARY_CACHE_S": "0.5"}).summary_cache_s == 0.5
