"""GET /v1/recommendations traffic: open loop at a fixed rate, closed loop for the unloaded case."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from benchmarks.load.procfs import CpuWindow, loadavg

RECOMMEND = "/v1/recommendations"


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean in ms of durations in seconds (NaN when there are none)."""
    if not seconds:
        return {k: float("nan") for k in ("p50", "p90", "p99", "max", "mean")}
    a = np.asarray(seconds) * 1e3
    return {
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


@dataclass
class Outcome:
    """One request: when it was due, sent and answered, and what came back."""

    due: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    error: str = ""
    cached: bool | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


def stage_samples(ok: list[Outcome]) -> dict[str, list[float]]:
    """The server's `debug.timings_ms` of every uncached response, per stage."""
    stages: dict[str, list[float]] = {}
    for o in ok:
        if not o.cached:
            for stage, ms in o.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    return stages


def _stage_percentiles(ok: list[Outcome]) -> dict[str, dict[str, float]]:
    return {
        s: {"p50": float(np.median(v)), "p99": float(np.percentile(v, 99))}
        for s, v in stage_samples(ok).items()
    }


class UserIds:
    """Stored seekers in a fixed random order, each used once before any comes again."""

    def __init__(self, ids: list[str], seed: int):
        self.ids = ids
        self.rng = random.Random(seed)
        self.order: list[str] = []
        self.used = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not self.order:
            self.order = self.ids[:]
            self.rng.shuffle(self.order)
        self.used += 1
        return self.order.pop()


async def recommend_once(
    client: httpx.AsyncClient, params: dict[str, Any], out: Outcome, inflight: list[int]
) -> None:
    """One GET; `inflight` is [requests in flight now, the most seen]."""
    inflight[0] += 1
    inflight[1] = max(inflight[1], inflight[0])
    out.sent = time.perf_counter()
    try:
        r = await client.get(RECOMMEND, params=params)
        out.done = time.perf_counter()
        out.status = r.status_code
        if r.status_code == 200:
            debug = r.json().get("debug") or {}
            out.cached = debug.get("cached")
            out.timings_ms = debug.get("timings_ms") or {}
        else:
            out.error = f"{r.status_code}: {r.text[:200]}"
    except Exception as exc:  # every failure is a figure, not a crash
        out.done = time.perf_counter()
        out.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        inflight[0] -= 1


async def open_loop(
    client: httpx.AsyncClient, users: UserIds, rate: float, n: int, k: int, server_pid: int
) -> dict[str, Any]:
    """`n` GETs sent at t0 + i/rate, whatever the earlier ones are doing; latency from the
    scheduled time to the end of the response."""
    params = [{"user_id": next(users), "k": k, "debug": "true"} for _ in range(n)]
    outcomes = [Outcome(0.0) for _ in range(n)]
    inflight = [0, 0]
    tasks = []
    cpu = CpuWindow(server_pid).start()
    t0 = time.perf_counter() + 0.01
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        outcomes[i].due = due
        tasks.append(asyncio.create_task(recommend_once(client, params[i], outcomes[i], inflight)))
    await asyncio.gather(*tasks)
    cpu_use = cpu.stop()
    ok = [o for o in outcomes if o.status == 200 and not o.error]
    bad = [o for o in outcomes if o.status != 200 or o.error]
    end = max(o.done for o in outcomes)
    lag = [o.sent - o.due for o in outcomes]
    return {
        "rate": rate,
        "sent": n,
        "ok": len(ok),
        "errors": len(bad),
        "shed": sum(1 for o in bad if o.status == 503),
        "shed_latency_ms": percentiles_ms([o.done - o.due for o in bad if o.status == 503]),
        "error_kinds": dict(Counter(o.error.split(":")[0] for o in bad)),
        "error_samples": [o.error for o in bad[:5]],
        "cache_hits": sum(1 for o in ok if o.cached),
        "offered_rps": n / max(outcomes[-1].due - t0, 1e-9) if n > 1 else float("nan"),
        "throughput_rps": len(ok) / max(end - t0, 1e-9),
        "latency_ms": percentiles_ms([o.done - o.due for o in ok]),
        "max_send_lag_ms": max(lag) * 1e3,
        "max_inflight": inflight[1],
        "response_timings_ms": _stage_percentiles(ok),
        "cpu": cpu_use,
        "loadavg": loadavg(),
    }


async def closed_loop(
    client: httpx.AsyncClient, users: UserIds, n: int, k: int, concurrency: int, server_pid: int
) -> dict[str, Any]:
    """`n` GETs from `concurrency` workers, each sending its next request when the last one is
    answered: the latency without a queue (concurrency 1), and the warm-up."""
    outcomes = [Outcome(0.0) for _ in range(n)]
    todo = iter(range(n))
    inflight = [0, 0]

    async def worker() -> None:
        for i in todo:
            outcomes[i].due = time.perf_counter()
            params = {"user_id": next(users), "k": k, "debug": "true"}
            await recommend_once(client, params, outcomes[i], inflight)

    cpu = CpuWindow(server_pid).start()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    ok = [o for o in outcomes if o.status == 200 and not o.error]
    return {
        "sent": n,
        "concurrency": concurrency,
        "ok": len(ok),
        "errors": n - len(ok),
        "cache_hits": sum(1 for o in ok if o.cached),
        "throughput_rps": len(ok) / wall,
        "latency_ms": percentiles_ms([o.done - o.due for o in ok]),
        "response_timings_ms": _stage_percentiles(ok),
        "cpu": cpu.stop(),
    }
