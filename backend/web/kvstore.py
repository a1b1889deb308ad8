"""Short-lived server-side state (sign-in nonces, sessions): Redis when configured, else in-process.

`take` is atomic in both: of two requests that present the same nonce, only
one gets it back, which is what makes a nonce single-use. Redis is needed
for several web workers; the in-process store serves one process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Protocol

__all__ = ["KeyValueStore", "MemoryStore", "RedisStore", "make_store"]


class KeyValueStore(Protocol):
    def put(self, key: str, value: str, ttl_s: int) -> None:
        """Store value under key for ttl_s seconds."""

    def get(self, key: str) -> str | None:
        """Return the live value, or None."""

    def take(self, key: str) -> str | None:
        """Return the live value and delete it, atomically; None when absent or expired."""

    def delete(self, key: str) -> None:
        """Forget key."""


class MemoryStore:
    """A dict with expiry, bounded so that a flood of nonce requests cannot exhaust memory."""

    def __init__(self, max_entries: int = 100_000, clock=time.monotonic):
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._clock = clock

    def put(self, key: str, value: str, ttl_s: int) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + ttl_s, value)
            self._purge()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def take(self, key: str) -> str | None:
        with self._lock:
            value = self._live(key)
            self._entries.pop(key, None)
            return value

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _live(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return value

    def _purge(self) -> None:
        # Oldest first: insertion order is expiry order for equal TTLs.
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now and len(self._entries) <= self._max_entries:
                break
            del self._entries[key]


class RedisStore:
    """Keys under a prefix in Redis; GETDEL (Redis 6.2+) makes `take` atomic across workers."""

    def __init__(self, url: str, prefix: str = "vatio:web:"):
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self._prefix = prefix

    def put(self, key: str, value: str, ttl_s: int) -> None:
        self._redis.set(self._prefix + key, value, ex=ttl_s)

    def get(self, key: str) -> str | None:
        return self._redis.get(self._prefix + key)

    def take(self, key: str) -> str | None:
        return self._redis.getdel(self._prefix + key)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


def make_store(redis_url: str | None, prefix: str = "vatio:web:") -> KeyValueStore:
    """Return a Redis store when a URL is given, else an in-process one."""
    return RedisStore(redis_url, prefix) if redis_url else MemoryStore()
