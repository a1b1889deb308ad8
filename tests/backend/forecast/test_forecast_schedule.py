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
