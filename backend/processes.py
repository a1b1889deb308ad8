"""Local services in child processes: free ports, whether something answers, and stopping a process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

__all__ = ["free_port", "kill_process_group", "stop_process_group", "tcp_answers"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process's group (it was started with start_new_session=True), SIGKILL it after `timeout`.

    The whole group, because a child may have started children of its own (npm's
    anvil wrapper, a CLI's workers); SIGTERM first, so that each can save its
    state (Anvil's --state file, Mosquitto's persistence) on the way out.
    """
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_group(process)


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL the process's group: a crash, no chance to save anything."""
    if process.poll() is None:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen, signal_number: int) -> None:
    try:
        os.killpg(process.pid, signal_number)
    except ProcessLookupError:
        pass  # it exited between the poll and the signal
