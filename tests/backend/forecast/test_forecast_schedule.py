"""The forecast schedule: runs aligned to the wall clock, and a failed run does not end it."""

import time

import pytest

from backend.forecast.service import next_run_at, run_every


def test_next_run_is_the_offset_past_the_next_multiple():
    assert next_run_at(7_200.0, 3_600, 900) == 8_100  # on the hour -> 15 min past
    assert next_run_at(8_099.9, 3_600, 900) == 8_100
    assert next_run_at(8_100.0, 3_600, 900) == 11_700  # exactly at a run -> the next one
    assert next_run_at(10.5, 1.0) == 11.0


def test_runs_follow_the_clock_and_survive_a_failed_run():
    starts, messages = [], []

    def job():
        starts.append(time.time())
        if len(starts) == 2:
            raise RuntimeError("database briefly down")

    runs = run_every(job, every_s=0.3, offset_s=0.05, max_runs=3, notify=messages.append)
    assert runs == 3
    assert any("database briefly down" in m for m in messages)
    for start in starts[1:]:  # each later run starts just after a 0.3 s tick + 0.05 s
        assert (start - 0.05) % 0.3 < 0.2
    assert starts[2] - starts[1] == pytest.approx(0.3, abs=0.15)


def test_a_non_positive_period_is_refused():
    with pytest.raises(ValueError):
        run_every(lambda: None, every_s=0)


class FakeClock:
    """Wall-clock seconds that move only when the scheduler sleeps."""

    def __init__(self, start_s: float):
        self.now_s = start_s

    def time(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now_s += seconds


def test_a_run_that_stored_nothing_is_retried_soon_then_the_period_resumes():
    """Issue 13 item 1: 'no readings yet' is tried again after retry_s, not at the next quarter hour."""
    clock = FakeClock(start_s=10_000.0)  # 100 s past a 900 s multiple (9_900)
    starts, messages = [], []
    results = iter([None, None, "stored", "stored"])  # no readings, too little history, then forecasts

    def job():
        starts.append(clock.time())
        clock.sleep(5.0)  # a run takes time
        return next(results)

    runs = run_every(
        job,
        every_s=900,
        offset_s=0,
        max_runs=4,
        notify=messages.append,
        clock=clock.time,
        sleep=clock.sleep,
        retry_s=30,
        ready=lambda result: result is not None,
    )
    assert runs == 4
    assert starts == [10_000.0, 10_035.0, 10_070.0, 10_800.0]  # two retries 30 s after each run, then on the period
    assert any("next forecast run" in m for m in messages)


def test_without_retry_a_run_that_stored_nothing_waits_for_the_period():
    clock = FakeClock(start_s=10_000.0)
    starts = []

    def job():
        starts.append(clock.time())

    run_every(
        job,
        every_s=900,
        max_runs=2,
        notify=lambda m: None,
        clock=clock.time,
        sleep=clock.sleep,
        ready=lambda result: False,
    )
    assert starts == [10_000.0, 10_800.0]


def test_a_failed_run_is_retried_soon_too():
    clock = FakeClock(start_s=10_000.0)
    starts = []

    def job():
        starts.append(clock.time())
        if len(starts) == 1:
            raise RuntimeError("database briefly down")
        return "stored"

    run_every(
        job,
        every_s=900,
        max_runs=3,
        notify=lambda m: None,
        clock=clock.time,
        sleep=clock.sleep,
        retry_s=45,
        ready=lambda result: result == "stored",
    )
    assert starts == [10_000.0, 10_045.0, 10_800.0]
    with pytest.raises(ValueError):
        run_every(job, every_s=900, retry_s=0)
