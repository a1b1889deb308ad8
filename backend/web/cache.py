"""A small in-process cache with a time to live, one computation at a time per key, and optional stale reads.

Dashboards ask the same question many times a second; the answer changes
every few seconds at most (meters report every few minutes, intervals close
every 15). Each web worker keeps its own copy.

- Fresh (younger than ``ttl_s``): served as is.
- Stale but younger than ``ttl_s + stale_s``: served as is while one
  background thread computes the next value (stale-while-revalidate), so
  no request waits for the recomputation.
- Older, or missing: computed in the request; concurrent requests for the
  same key wait for that one computation instead of repeating it.

A computation that raises leaves the old value in place and raises to the
caller that waited for it (a background refresh only logs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(
        self, ttl_s: float, *, stale_s: float = 0.0, max_entries: int = 64, clock: Callable[[], float] = time.monotonic
    ):
        if ttl_s < 0 or stale_s < 0 or max_entries < 1:
            raise ValueError("ttl_s and stale_s must be >= 0 and max_entries >= 1")
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.max_entries = max_entries
        self._clock = clock
        self._values: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._refreshing: set[Hashable] = set()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T], background: Callable[[], T] | None = None) -> T:
        """Return the cached value of ``key``, computing it with ``compute`` when missing or too old.

        ``background`` computes a stale value's replacement in another thread
        (it must not use the request's context, e.g. its database session);
        without it, stale values are not served.
        """
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
            if hit is not None:
                age = now - hit[0]
                if age <= self.ttl_s:
                    self._values.move_to_end(key)
                    return hit[1]
                if background is not None and age <= self.ttl_s + self.stale_s:
                    if key not in self._refreshing:
                        self._refreshing.add(key)
                        threading.Thread(
                            target=self._refresh, args=(key, background), daemon=True, name="vatio-cache-refresh"
                        ).start()
                    return hit[1]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._values.get(key)
                if hit is not None and self._clock() - hit[0] <= self.ttl_s:
                    return hit[1]  # computed by the request this one waited for
            started = self._clock()
            value = compute()
            self._store(key, started, value)
            return value

    def _refresh(self, key: Hashable, compute: Callable[[], T]) -> None:
        try:
            started = self._clock()
            self._store(key, started, compute())
        except Exception:  # noqa: BLE001 - a failed refresh keeps the old value; the next request retries
            log.exception("background refresh of %r failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(self, key: Hashable, computed_at: float, value: T) -> None:
        # Stamped with the computation's start: the value is as old as the data it read.
        with self._lock:
            self._values[key] = (computed_at, value)
            self._values.move_to_end(key)
            while len(self._values) > self.max_entries:
                old, _ = self._values.popitem(last=False)
                self._key_locks.pop(old, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
