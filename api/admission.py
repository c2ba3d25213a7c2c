"""Admission control: past capacity the recommendation routes answer 503 at once, not later.

Without it every request is accepted: uvicorn parses it, FastAPI parks it on anyio's thread pool
(40 threads, then an unbounded queue of waiting tasks), and the service's own slots make most of
those threads wait. Offered more than it can serve, the queue and the latency of every request
grow without bound, and so does memory (each waiting thread holds a request and its arrays).

The gate sits in front of the routes as ASGI middleware, before the body is read or a thread is
taken: at most `slots` requests run at once; a few more may wait, in arrival order, as long as
their expected wait (the queue ahead of them times the recent service time, spread over the
slots) stays within `max_wait_s`, and none waits longer than that. Everything else is refused
promptly with 503 and `Retry-After`, its body saying why (`details[0].shed`), so the requests
that are accepted keep their latency whatever the offered rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.metrics import Metrics

#: weight of the newest request in the running mean service time.
SERVICE_TIME_WEIGHT = 0.05


@dataclass(frozen=True)
class Shed:
    """Why a request was refused: `queue` (the expected wait was over budget, or the queue was
    full) or `waited` (it waited its whole budget without a slot freeing up)."""

    reason: str
    queued: int
    expected_wait_ms: float


class AdmissionGate:
    """At most `slots` holders at once, a bounded FIFO queue behind them, a bounded wait.

    Runs on one event loop (no locks): `enter` returns the seconds waited, or a `Shed`; every
    successful `enter` must be paired with one `leave`.
    """

    def __init__(
        self, slots: int, max_queue: int, max_wait_s: float, initial_service_s: float = 0.03
    ):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self.max_queue = max(0, max_queue)
        self.max_wait_s = max_wait_s
        self.service_s = initial_service_s
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def expected_wait_s(self) -> float:
        """The wait of a request arriving now: the queue ahead of it plus itself, served
        `slots` at a time at the recent mean service time."""
        if self.running < self.slots and not self._waiters:
            return 0.0
        return (len(self._waiters) + 1) * self.service_s / self.slots

    async def enter(self) -> float | Shed:
        if self.running < self.slots and not self._waiters:
            self.running += 1
            return 0.0
        expected = self.expected_wait_s()
        if len(self._waiters) >= self.max_queue or expected > self.max_wait_s:
            return Shed("queue", len(self._waiters), expected * 1e3)
        start = time.perf_counter()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait_s)
        except TimeoutError:
            if waiter.done():  # handed a slot just as the wait ran out: take it
                return time.perf_counter() - start
            self._waiters.remove(waiter)
            waiter.cancel()
            return Shed("waited", len(self._waiters), expected * 1e3)
        except asyncio.CancelledError:  # the server is stopping: give back what was given
            if waiter.done() and not waiter.cancelled():
                self.leave(self.service_s)
            else:
                self._waiters.remove(waiter)
            raise
        return time.perf_counter() - start

    def leave(self, service_s: float) -> None:
        """Free the slot (handing it to the oldest waiter) and update the mean service time."""
        self.service_s += SERVICE_TIME_WEIGHT * (service_s - self.service_s)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes over: `running` stays the same
                return
        self.running -= 1


class AdmissionControl:
    """ASGI middleware gating the paths under `prefixes` with one AdmissionGate.

    An accepted request's wait is put in `scope["state"]["admission_wait_ms"]` (the routes show it
    in `debug.timings_ms`); a refused one gets 503, `Retry-After`, and the reason in its body.
    """

    def __init__(
        self,
        app: ASGIApp,
        gate: AdmissionGate,
        metrics: Metrics,
        prefixes: tuple[str, ...],
        retry_after_s: int,
    ):
        self.app = app
        self.gate = gate
        self.metrics = metrics
        self.prefixes = prefixes
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        admitted = await self.gate.enter()
        self.metrics.admission_queue.set(self.gate.queued)
        if isinstance(admitted, Shed):
            self.metrics.shed.labels(admitted.reason).inc()
            response = error_response(
                503,
                "overloaded: the service is at capacity and sheds this request rather than queue "
                f"it; retry after {self.retry_after_s} s",
                [
                    {
                        "shed": admitted.reason,
                        "queued": admitted.queued,
                        "expected_wait_ms": round(admitted.expected_wait_ms, 1),
                        "max_wait_ms": round(self.gate.max_wait_s * 1e3, 1),
                    }
                ],
            )
            response.headers["Retry-After"] = str(self.retry_after_s)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["admission_wait_ms"] = admitted * 1e3
        self.metrics.admission_wait.observe(admitted)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(time.perf_counter() - start)
