"""What `vatio serve` logs when a browser goes away mid-handshake (issue 13, item 11): a line, never a traceback."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.request
from urllib.parse import urlparse

RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection, as a killed tab does


def _polling_sid(web_url: str) -> str:
    """Open an Engine.IO session over long-polling, as the browser's Socket.IO client does first."""
    with urllib.request.urlopen(f"{web_url}/socket.io/?EIO=4&transport=polling", timeout=5) as response:
        body = response.read().decode()
    return json.loads(body[body.index("{") :])["sid"]


def _text_frame(text: str) -> bytes:
    """A masked WebSocket text frame (clients must mask)."""
    payload, mask = text.encode(), os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _upgrade_request(host: str, port: int, sid: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    query = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    return (
        f"GET /socket.io/?{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
    ).encode()


def test_a_websocket_closed_during_the_upgrade_logs_no_traceback(stack):
    """A tab closed while its Socket.IO WebSocket is being upgraded: the server goes on, web.log has no traceback."""
    url = urlparse(stack.web_url)
    log = stack.logs / "web.log"
    before = len(log.read_bytes())
    cases = [(sid, step) for sid in (None, "polling") for step in ("partial", "request", "handshake", "probe")]
    for sid, close_after in cases:
        session = _polling_sid(stack.web_url) if sid else None
        with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
            request = _upgrade_request(url.hostname, url.port, session)
            if close_after == "partial":
                connection.sendall(request[: len(request) // 2])
            else:
                connection.sendall(request)
                if close_after in ("handshake", "probe"):
                    connection.recv(4096)  # 101 Switching Protocols (and maybe the open packet)
                if close_after == "probe":
                    connection.sendall(_text_frame("2probe"))  # the upgrade's probe, then gone mid-upgrade
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
    time.sleep(3)
    written = log.read_bytes()[before:].decode(errors="replace")
    assert "Traceback" not in written, written
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:  # still serving
        connection.sendall(f"GET /api/health HTTP/1.0\r\nHost: {url.hostname}\r\n\r\n".encode())
        assert connection.recv(64).startswith(b"HTTP/1.")
