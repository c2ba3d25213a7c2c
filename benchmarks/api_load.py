"""HTTP load on `recsys serve`: open-loop latency, sustainable rate, ingestion rate and memory.

    python -m benchmarks.api_load [--jobs 100000] [--store redis] [--duration 30] [--ranker DIR]

A simulated market (100k jobs by default; built once with `recsys simulate` and reused by its
config) is copied to a fresh folder and served by `recsys serve` in its own process, on a
dedicated Redis db (flushed first) and a dedicated artifacts folder (catalog cache, SQLite files).
The base encoder serves and the ranker is coarse-only unless `--encoder` / `--ranker` say
otherwise. Then, from one asyncio loop with one pooled keep-alive httpx client:

1. readiness: seconds from process start to /healthz and to /readyz answering 200 (the first start
   embeds the catalog and caches it under the artifacts folder's `catalog_cache`);
2. GET /v1/recommendations?user_id=...&k=20, first `--serial` requests one at a time (latency
   without a queue, per stage from `debug.timings_ms`), then at a fixed rate (50 req/s for
   `--duration` s), each request for a different stored seeker so the per-user result cache
   (60 s) does not answer;
   client-side p50/p90/p99/max, errors, achieved throughput, cache hits (`debug.cached`), CPU of
   the server, the driver and the whole machine, and the server's own stage timings (the
   `recsys_stage_duration_seconds` histogram between two scrapes of /metrics, and the
   `debug.timings_ms` of every response);
3. a ramp of rates (`--ramp`, from 10 req/s up), stopped at the first step whose p99 passes
   `--p99-limit-ms` or that has errors: the highest rate that stayed under is the figure;
4. POST /v1/events: `--event-batches` batches of 1,000 valid events from `--event-senders`
   concurrent senders (accepted events/s, batch latency), then one batch sent again, which must
   count as duplicates;
5. the server's RSS and peak RSS (VmHWM) after the load, and its log scanned for tracebacks.

Open-loop: request i is sent at t0 + i/rate whatever happened to the earlier ones, and its latency
runs from that scheduled time to the end of the response. A closed loop (send, wait, send) slows
down with the server and hides the queueing a real arrival process meets ("coordinated
omission"); here a slow response delays no later send, so the queue shows in the percentiles.

The machine may have few cores: the driver shares them with the server, so the driver is kept
light (one event loop, request bodies built before the clock starts) and the CPU it used is
reported next to the server's. Before the timed part the script waits (`--quiet-cores`,
`--quiet-wait`) until other processes leave the CPU mostly idle, and says what it measured.

This module is the entry point (flags, setup, the saved JSON); the parts are in
`benchmarks/load/`: `procfs` (CPU and memory from /proc), `market` and `server` (what is
served, and `recsys serve` in its process), `prometheus` (/metrics deltas), `traffic` and
`events` (the GET and POST load), `drive` (the phases in order) and `report` (the tables).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks.load.console import console
from benchmarks.load.drive import drive
from benchmarks.load.market import fresh_copy, link_shared_caches, prepare_market, publish_catalog
from benchmarks.load.report import report
from benchmarks.load.server import Server, flush_redis, free_port, log_problems, recsys_command
from recsys.data.taxonomy import load_taxonomy
from recsys.settings import get_settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser(__doc__.splitlines()[0]).parse_args(argv)


def build_parser(description: str) -> argparse.ArgumentParser:
    """The flags of the market, the server and the traffic (`benchmarks.api_overload` adds its
    own to these)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--seekers", type=int, default=50_000)
    p.add_argument("--days", type=int, default=3, help="days of simulated events in the market")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--store", choices=("redis", "sqlite"), default="redis")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="flushed first")
    p.add_argument("--encoder", default="base", help="'base' or an encoder folder")
    p.add_argument("--ranker", type=Path, default=None, help="ranker folder (default: coarse)")
    p.add_argument("--bench-dir", type=Path, default=Path("artifacts/bench"))
    p.add_argument("--out", type=Path, default=Path("artifacts/bench/api_load.json"))
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--ready-timeout", type=float, default=1800.0)
    p.add_argument("--rate", type=float, default=50.0, help="the steady rate (req/s)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds at the steady rate")
    p.add_argument("--warmup", type=int, default=200, help="requests before the timed runs")
    p.add_argument(
        "--ramp",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[10, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400],
        help="comma-separated rates, tried in order (from below the steady rate, so that the "
        "figure exists even when the steady rate is already too much)",
    )
    p.add_argument(
        "--serial", type=int, default=100, help="requests one at a time: the unloaded latency"
    )
    p.add_argument("--step-duration", type=float, default=20.0, help="seconds per ramp step")
    p.add_argument("--target-p99-ms", type=float, default=30.0, help="shown next to the steady p99")
    p.add_argument("--p99-limit-ms", type=float, default=100.0, help="the ramp stops above it")
    p.add_argument("--pause", type=float, default=3.0, help="seconds between phases")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--workers", type=int, default=1, help="`recsys serve --workers`")
    p.add_argument("--connections", type=int, default=64, help="httpx connection pool size")
    p.add_argument("--request-timeout", type=float, default=10.0)
    p.add_argument("--event-batches", type=int, default=50)
    p.add_argument("--event-batch-size", type=int, default=1_000)
    p.add_argument("--event-senders", type=int, default=4)
    p.add_argument(
        "--quiet-cores",
        type=float,
        default=0.3,
        help="wait until other processes use fewer cores than this before the timed part",
    )
    p.add_argument("--quiet-wait", type=float, default=1500.0, help="at most this long (0: skip)")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    server, served_market, result = start_server(args, argv)
    try:
        result["drive"] = asyncio.run(drive(args, server, served_market))
    finally:
        finish(server, result, args.out)
    report(result, args)
    return result


def start_server(
    args: argparse.Namespace, argv: list[str] | None
) -> tuple[Server, Path, dict[str, Any]]:
    """The market prepared and copied, `recsys serve` started on it and ready; the result so far
    (setup and readiness). The caller drives the load and then calls `finish`."""
    settings = get_settings()
    bench = args.bench_dir
    work = bench / "api_load"
    artifacts = work / "artifacts"
    market = prepare_market(bench, args.jobs, args.seekers, args.days, args.seed)
    served_market = fresh_copy(market, work / "market")
    console.print("publishing the market into a fresh catalog database ...")
    database = publish_catalog(market, load_taxonomy(settings.data_dir), work / "catalog.sqlite")
    linked = link_shared_caches(settings.artifacts_dir, artifacts)
    for name in ("online_store.sqlite", "event_stream.sqlite"):
        for path in work.glob(name + "*"):
            path.unlink()
    if args.store == "redis":
        flush_redis(args.redis_url)
    cache_dir = artifacts / "catalog_cache"
    cached_before = set(os.listdir(cache_dir)) if cache_dir.is_dir() else set()

    env = dict(os.environ)
    env.pop("RECSYS_SERVE_RANKER_DIR", None)  # coarse-only unless --ranker
    # The checkout first on the path: an editable install made before `api` was a package
    # maps only recsys and feature_store, and the `recsys` script does not run from the repo.
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    env.setdefault("RECSYS_DATA_DIR", str(settings.data_dir.resolve()))
    env.update(
        {
            "RECSYS_ARTIFACTS_DIR": str(artifacts.resolve()),
            "RECSYS_SERVE_MARKET_DIR": str(served_market.resolve()),
            "RECSYS_ONLINE_STORE": args.store,
            "RECSYS_REDIS_URL": args.redis_url,
            "RECSYS_ENCODER_MODEL": args.encoder,
            "RECSYS_SQLITE_PATH": str((work / "online_store.sqlite").resolve()),
            "RECSYS_STREAM_PATH": str((work / "event_stream.sqlite").resolve()),
        }
    )
    port = args.port or free_port()
    cmd = [*recsys_command(), "serve", "--port", str(port), "--store", args.store]
    cmd += ["--workers", str(args.workers)]
    cmd += ["--log-dir", str(served_market.resolve()), "--encoder", args.encoder]
    cmd += ["--database", database]
    if args.ranker is not None:
        cmd += ["--ranker", str(args.ranker.resolve())]
    server = Server(cmd, env, bench / "api_load_server.log", port)
    result: dict[str, Any] = {
        "benchmark": "api_load",
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "cpu": platform.processor(),
        },
        "market": str(market),
        "shared_caches_linked": linked,
        "server_log": str(server.log_path),
    }
    console.print(f"starting: {' '.join(cmd)}  (log {server.log_path})")
    try:
        server.start()
        result["ready"] = server.wait_ready(args.ready_timeout)
    except BaseException:
        finish(server, result, args.out)
        raise
    cached_after = set(os.listdir(cache_dir)) if cache_dir.is_dir() else set()
    result["catalog_cache"] = "built at this start" if cached_after - cached_before else "reused"
    console.print(
        f"ready after {result['ready']['readyz_s']:.1f} s (catalog cache {result['catalog_cache']})"
    )
    return server, served_market, result


def finish(server: Server, result: dict[str, Any], out: Path) -> None:
    """Stop the server, scan its log, save the result as JSON."""
    result["shutdown"] = server.stop()
    result["log"] = log_problems(server.log_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    console.print(f"saved {out}")


if __name__ == "__main__":
    main()
