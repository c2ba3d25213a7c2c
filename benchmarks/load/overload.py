"""Offered more than it can serve: the capacity, then open-loop load at multiples of it.

Capacity is the throughput of a closed loop as deep as the server's slots (every request waits
for the one before it, so nothing is shed); each overload phase then offers `multiple x` that
rate, open loop, and counts what was answered (200) and what was shed (503 + Retry-After), the
answered requests' latency, and the server's RSS sampled through the phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

import httpx

from benchmarks.load.console import console
from benchmarks.load.procfs import process_memory_mb
from benchmarks.load.traffic import UserIds, closed_loop, open_loop
from recsys.cli.console import table

#: seconds between two samples of the server's RSS during a phase.
RSS_EVERY_S = 0.5


async def _peak_rss_mb(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], process_memory_mb(pid)["rss_mb"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def overload(
    c: httpx.AsyncClient, users: UserIds, args: argparse.Namespace, server_pid: int
) -> dict[str, Any]:
    """The capacity, then one phase per multiple in `args.multiples` of `args.duration` s."""
    cap = await closed_loop(c, users, args.capacity_requests, args.k, args.depth, server_pid)
    capacity = args.capacity or cap["throughput_rps"]
    console.print(
        f"capacity: {cap['throughput_rps']:.1f} req/s closed loop at depth {args.depth} "
        f"(p50 {cap['latency_ms']['p50']:.1f} ms); overload based on {capacity:.1f} req/s"
    )
    phases = []
    for multiple in args.multiples:
        await asyncio.sleep(args.pause)
        rate = multiple * capacity
        console.print(f"overload {multiple:g}x: {rate:.1f} req/s for {args.duration:g} s")
        before = process_memory_mb(server_pid)["rss_mb"]
        stop, peak = asyncio.Event(), [before]
        sampler = asyncio.create_task(_peak_rss_mb(server_pid, stop, peak))
        t0 = time.perf_counter()
        step = await open_loop(c, users, rate, int(rate * args.duration), args.k, server_pid)
        stop.set()
        await sampler
        step.update(
            multiple=multiple,
            wall_s=time.perf_counter() - t0,
            rss_before_mb=before,
            rss_peak_mb=peak[0],
            rss_after_mb=process_memory_mb(server_pid)["rss_mb"],
        )
        phases.append(step)
        console.print(
            f"  answered {step['ok']}, shed {step['shed']}, other errors "
            f"{step['errors'] - step['shed']}, p99 {step['latency_ms']['p99']:.1f} ms, "
            f"peak RSS {peak[0]:,.0f} MiB"
        )
    return {"capacity": cap, "capacity_rps": capacity, "phases": phases}


def overload_report(out: dict[str, Any]) -> None:
    """One row per phase: offered and answered rates, shed, p99s, memory."""
    rows = []
    for s in out["phases"]:
        rows.append(
            [
                f"{s['multiple']:g}x",
                f"{s['rate']:.1f}",
                s["sent"],
                s["ok"],
                s["shed"],
                s["errors"] - s["shed"],
                f"{s['throughput_rps']:.1f}",
                f"{s['latency_ms']['p50']:.1f}",
                f"{s['latency_ms']['p99']:.1f}",
                f"{s['shed_latency_ms']['p99']:.1f}",
                f"{s['rss_before_mb']:,.0f}",
                f"{s['rss_peak_mb']:,.0f}",
                f"{s['rss_after_mb']:,.0f}",
                f"{s['cpu']['server_cores']:.2f}/{s['cpu']['driver_cores']:.2f}/"
                f"{s['cpu']['other_cores']:.2f}",
            ]
        )
    cols = ["offered", "req/s", "sent", "answered", "shed", "errors", "answered/s", "p50 ms"]
    cols += ["p99 ms", "shed p99 ms", "RSS before", "RSS peak", "RSS after", "cores srv/drv/oth"]
    title = f"overload over a capacity of {out['capacity_rps']:.1f} req/s (client-side latency)"
    console.print(table(title, cols, rows))
