"""backend/processes.py: stopping a child's whole process group, politely first."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from backend.processes import free_port, kill_process_group, stop_process_group, tcp_answers

pytestmark = pytest.mark.slow  # starts, signals and waits for real process groups


def _group_alive(pgid: int) -> bool:
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.strip() != ""


def _started(script: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"ready"
    return process


# A parent that starts a grandchild in the same group, then waits.
FAMILY = (
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('ready', flush=True); time.sleep(60)"
)
# A process that ignores SIGTERM: only SIGKILL ends it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def test_stop_ends_the_child_and_its_children():
    process = _started(FAMILY)
    stop_process_group(process)
    assert process.returncode is not None
    deadline = time.monotonic() + 5
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(process.pid)


def test_stop_kills_what_ignores_sigterm_after_the_timeout():
    process = _started(STUBBORN)
    started = time.monotonic()
    stop_process_group(process, timeout=0.5)
    assert process.returncode == -9
    assert time.monotonic() - started >= 0.5


def test_kill_and_stop_of_an_exited_process_do_nothing():
    process = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    process.wait()
    stop_process_group(process)
    kill_process_group(process)
    assert process.returncode == 0


def test_a_free_port_answers_nothing():
    assert not tcp_answers("127.0.0.1", free_port(), timeout=0.2)
