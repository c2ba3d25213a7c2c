"""The benchmark's phases in order against a ready server: serial, steady, ramp, events."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from benchmarks.load.console import console
from benchmarks.load.events import event_bodies, post_events, resend
from benchmarks.load.procfs import loadavg, process_memory_mb, wait_until_quiet
from benchmarks.load.prometheus import counter_delta, counter_values, scrape, stage_summary
from benchmarks.load.server import Server
from benchmarks.load.traffic import RECOMMEND, UserIds, closed_loop, open_loop


async def drive(args: argparse.Namespace, server: Server, market: Path) -> dict[str, Any]:
    """Every phase of the module docstring of `benchmarks.api_load`, from one event loop."""
    seekers = pd.read_parquet(market / "seekers.parquet", columns=["user_id"])
    user_list = seekers["user_id"].astype(str).tolist()
    job_ids = pd.read_parquet(market / "jobs.parquet", columns=["job_id"])["job_id"].to_numpy()
    users = UserIds(user_list, args.seed)
    run = f"{int(time.time())}"
    bodies = event_bodies(
        user_list, job_ids, args.event_batches, args.event_batch_size, args.seed, run
    )
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    timeout = httpx.Timeout(args.request_timeout)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=timeout) as c:
        first = await c.get(RECOMMEND, params={"user_id": next(users), "k": args.k})
        first.raise_for_status()
        out["model_versions"] = first.json()["model_versions"]
        out["memory_ready"] = process_memory_mb(server.pid)

        if args.quiet_wait > 0:
            console.print("checking that the machine is quiet ...")
            out["quiet"] = await asyncio.to_thread(
                wait_until_quiet, server.pid, args.quiet_cores, args.quiet_wait
            )
            console.print(f"quiet check: {out['quiet']}")
        out["loadavg_before"] = loadavg()

        console.print(f"warm-up: {args.warmup} requests, 4 at a time")
        await closed_loop(c, users, args.warmup, args.k, 4, server.pid)
        console.print(f"serial: {args.serial} requests, one at a time")
        out["serial"] = await closed_loop(c, users, args.serial, args.k, 1, server.pid)
        await asyncio.sleep(args.pause)

        console.print(f"steady: {args.rate:g} req/s for {args.duration:g} s")
        before = await scrape(c)
        steady = await open_loop(
            c, users, args.rate, int(args.rate * args.duration), args.k, server.pid
        )
        after = await scrape(c)
        steady["stages"] = stage_summary(before, after, RECOMMEND)
        steady["cache_counter"] = {
            k: counter_delta(before, after, "recsys_result_cache_total", "result", k)
            for k in ("hit", "miss")
        }
        out["steady"] = steady
        await asyncio.sleep(args.pause)

        out.update(await _ramp(c, users, args, server.pid))
        out["memory_after_load"] = process_memory_mb(server.pid)
        out["users_used"] = users.used
        await asyncio.sleep(args.pause)

        console.print(
            f"events: {args.event_batches} batches of {args.event_batch_size} "
            f"from {args.event_senders} senders"
        )
        out["events"] = await post_events(c, bodies, args.event_senders, server.pid)
        out["events"]["resend_first_batch"] = await resend(c, bodies[0])
        out["memory_after_events"] = process_memory_mb(server.pid)
        final = await scrape(c)
        out["server_counters"] = {
            "requests": counter_values(final, "recsys_requests_total"),
            "result_cache": counter_values(final, "recsys_result_cache_total"),
            "events": counter_values(final, "recsys_events_total"),
            "impressions_logged": final.get(("recsys_impressions_logged", ()), float("nan")),
            "impressions_dropped": final.get(("recsys_impressions_dropped", ()), float("nan")),
        }
        out["loadavg_after"] = loadavg()
    return out


async def _ramp(
    c: httpx.AsyncClient, users: UserIds, args: argparse.Namespace, server_pid: int
) -> dict[str, Any]:
    """Rates in `args.ramp` order until a step's p99 passes `args.p99_limit_ms` or errors."""
    ramp = []
    for rate in args.ramp:
        n = int(rate * args.step_duration)
        console.print(f"ramp: {rate:g} req/s for {args.step_duration:g} s")
        before = await scrape(c)
        step = await open_loop(c, users, rate, n, args.k, server_pid)
        step["stages"] = stage_summary(before, await scrape(c), RECOMMEND)
        ramp.append(step)
        p99 = step["latency_ms"]["p99"]
        console.print(
            f"  p50 {step['latency_ms']['p50']:.1f} ms, p99 {p99:.1f} ms, "
            f"errors {step['errors']}, {step['throughput_rps']:.1f} req/s"
        )
        if step["errors"] or not p99 < args.p99_limit_ms:
            break
        await asyncio.sleep(args.pause)
    passing = [
        s["rate"] for s in ramp if not s["errors"] and s["latency_ms"]["p99"] < args.p99_limit_ms
    ]
    return {
        "ramp": ramp,
        "max_rate_under_limit": max(passing) if passing else None,
        "ramp_stopped_by": (
            None
            if len(passing) == len(ramp)
            else ("errors" if ramp[-1]["errors"] else f"p99 > {args.p99_limit_ms:g} ms")
        ),
    }
