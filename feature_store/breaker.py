"""A circuit breaker for one backend server: after a connection failure, calls skip the server
for a short cool-down instead of each waiting for a socket timeout.

Retrying within a call is redis-py's job (`Retry` with backoff on the client, see
`feature_store.redis_conn.connect`); the breaker decides whether to call at all. Once the
cool-down has passed, the next call is the trial: success closes the breaker, failure re-opens it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from feature_store.online import StoreUnavailableError

T = TypeVar("T")


class CircuitBreaker:
    """Open for `cooldown_s` after one of `errors`; `call` raises StoreUnavailableError while open.

    `name` is what degraded responses report (e.g. "redis"); `clock` is injectable for tests.
    """

    def __init__(
        self,
        name: str,
        errors: tuple[type[BaseException], ...],
        *,
        cooldown_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.errors = errors
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None
        self._last_error = ""
        #: how many calls failed and how many were skipped while open (for logs and metrics)
        self.failures = 0
        self.skipped = 0

    def is_open(self) -> bool:
        """True after a failure until a call succeeds again (the cool-down included)."""
        return self._open_until is not None

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()`, or StoreUnavailableError when the server failed within the cool-down or
        fails now (the original error is its cause)."""
        with self._lock:
            until = self._open_until
            if until is not None and self._clock() < until:
                self.skipped += 1
                raise StoreUnavailableError(
                    f"{self.name} unavailable (cooling down after: {self._last_error})"
                )
        try:
            result = fn()
        except self.errors as exc:
            with self._lock:
                self.failures += 1
                self._open_until = self._clock() + self.cooldown_s
                self._last_error = f"{type(exc).__name__}: {exc}"
            raise StoreUnavailableError(f"{self.name} unavailable ({exc})") from exc
        if until is not None:
            with self._lock:
                self._open_until = None
        return result
