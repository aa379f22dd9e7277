"""Per-client request rate limits (token buckets), so that one client cannot flood a route.

Each client (its address, or a header a trusted proxy sets: ``SERVING_RATE_LIMIT_CLIENT_HEADER``)
has a bucket of ``burst`` tokens refilled at ``per_second``; a request takes one token or is
refused with ``RateLimited`` (429, ``Retry-After`` = seconds until the next token). Buckets live
in this worker's memory: with N workers a client gets up to N times the rate. The number of
buckets is bounded (the least recently seen client is forgotten first), so many addresses cannot
grow memory without bound. ``per_second = 0`` switches a limit off.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from model_serving.errors import RateLimited

MAX_CLIENTS = 100_000


class RateLimiter:
    """Token buckets by client key; thread-safe (the feedback route runs in a thread pool)."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.per_second = per_second
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, client: str) -> None:
        """Take one token of ``client``'s bucket, or raise ``RateLimited``."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1.0 - tokens) / self.per_second)))
            self._buckets[client] = (tokens - 1.0, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)


def client_key(peer: str | None, forwarded: str | None) -> str:
    """Who sent the request: the first address of the trusted proxy header (``forwarded``, only
    when ``SERVING_RATE_LIMIT_CLIENT_HEADER`` names one) or else the peer address."""
    if forwarded:
        first = forwarded.split(",", 1)[0].strip()[:100]
        if first:
            return first
    return peer or "unknown"
