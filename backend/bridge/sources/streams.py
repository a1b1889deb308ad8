"""Byte streams a meter adapter reads from: a serial port (pyserial) or a TCP socket (P1-to-WiFi dongles)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import serial

__all__ = ["serial_chunks", "tcp_chunks"]


def serial_chunks(device: str, baudrate: int = 115200, stop=lambda: False) -> Iterator[bytes]:
    """Yield what arrives on a serial port (8N1, as DSMR 5 and SML IR heads use), until ``stop()`` is true."""
    with serial.Serial(
        device,
        baudrate=baudrate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=0.5,
    ) as port:
        while not stop():
            chunk = port.read(max(1, min(4096, port.in_waiting)))
            if chunk:
                yield chunk


def tcp_chunks(host: str, port: int, stop=lambda: False, timeout_s: float = 0.5) -> Iterator[bytes]:
    """Yield what a TCP server (a P1-to-WiFi dongle) sends, until ``stop()`` is true or it closes."""
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.settimeout(timeout_s)
        while not stop():
            try:
                chunk = connection.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return
            yield chunk
