"""POST /v1/events traffic: valid batches built up front, sent by concurrent senders."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import numpy as np

from benchmarks.load.procfs import CpuWindow
from benchmarks.load.traffic import percentiles_ms

EVENTS = "/v1/events"
_JSON = {"content-type": "application/json"}


def event_bodies(
    users: list[str], job_ids: np.ndarray, batches: int, size: int, seed: int, run: str
) -> list[bytes]:
    """Valid batches of impressions, clicks and applies with unique ids, built up front."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["impression", "click", "apply"])
    bodies = []
    for b in range(batches):
        who = rng.integers(0, len(users), size)
        what = job_ids[rng.integers(0, len(job_ids), size)]
        kind = kinds[rng.choice(3, size, p=[0.8, 0.15, 0.05])]
        pos = rng.integers(0, 20, size)
        events = [
            {
                "event_id": f"bench-{run}-{b}-{i}",
                "type": str(kind[i]),
                "user_id": users[int(who[i])],
                "job_id": int(what[i]),
                "request_id": f"bench-{run}-{b}",
                "position": int(pos[i]),
            }
            for i in range(size)
        ]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


async def post_events(
    client: httpx.AsyncClient, bodies: list[bytes], senders: int, server_pid: int
) -> dict[str, Any]:
    """Send every batch from `senders` concurrent workers; events/s over the whole run."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    results: list[dict[str, Any]] = []

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                r = await client.post(EVENTS, content=body, headers=_JSON)
                seconds = time.perf_counter() - t0
                data = r.json() if r.headers.get("content-type", "").startswith("app") else {}
                results.append(
                    {
                        "status": r.status_code,
                        "seconds": seconds,
                        "accepted": data.get("accepted", 0),
                        "duplicates": data.get("duplicates", 0),
                        "rejected": len(data.get("rejected", [])),
                        "error": "" if r.status_code == 200 else r.text[:200],
                    }
                )
            except Exception as exc:
                results.append(
                    {
                        "status": 0,
                        "seconds": time.perf_counter() - t0,
                        "accepted": 0,
                        "duplicates": 0,
                        "rejected": 0,
                        "error": f"{type(exc).__name__}: {exc}"[:200],
                    }
                )

    cpu = CpuWindow(server_pid).start()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(senders)))
    wall = time.perf_counter() - t0
    accepted = sum(r["accepted"] for r in results)
    seconds = [r["seconds"] for r in results]
    return {
        "batches": len(bodies),
        "senders": senders,
        "events_sent": sum(body.count(b'"event_id"') for body in bodies),
        "accepted": accepted,
        "duplicates": sum(r["duplicates"] for r in results),
        "rejected": sum(r["rejected"] for r in results),
        "errors": sum(1 for r in results if r["status"] != 200),
        "error_samples": [r["error"] for r in results if r["error"]][:5],
        "wall_s": wall,
        "accepted_per_s": accepted / wall,
        "batch_ms": percentiles_ms(seconds),
        "cpu": cpu.stop(),
    }


async def resend(client: httpx.AsyncClient, body: bytes) -> dict[str, Any]:
    """Send one batch again: every event in it must come back as a duplicate."""
    r = await client.post(EVENTS, content=body, headers=_JSON)
    data = r.json()
    return {
        "status": r.status_code,
        "accepted": data.get("accepted"),
        "duplicates": data.get("duplicates"),
        "rejected": len(data.get("rejected", [])),
    }
