"""Where one request's CPU goes, end to end: py-spy on `recsys serve` under steady load.

    python -m benchmarks.request_profile [--jobs 100000] [--rate 40] [--duration 30]
        [--ranker DIR] [--encoder DIR]

The market, server and driver of `benchmarks.api_load` (its flags apply). After a warm-up the
server is offered `--rate` req/s open loop for `--duration` s, each request for a different stored
seeker (cold results, as the issue's distinct cold-start users), while `py-spy record` samples
every thread of the server at `--sample-hz` without stopping it (`--nonblocking`); `--gil` keeps
only the thread holding the GIL. The stacks are folded into the request's steps
(`benchmarks.load.stacks`; samples parked in the event loop's epoll, a condition or a socket read
are counted as waiting) and each step's share is applied to the server's CPU per answered request
measured from /proc over the same window: on a busy machine a thread that waits for a core is
sampled as running, so the shares are sound and the sampled milliseconds are not. The request's
own `debug.timings_ms` (wall time per stage, medians) come alongside.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from rich.table import Table

from benchmarks.api_load import build_parser, finish, start_server
from benchmarks.load.console import console
from benchmarks.load.procfs import process_memory_mb
from benchmarks.load.server import Server
from benchmarks.load.stacks import WAITING, cpu_ms_per_request
from benchmarks.load.traffic import UserIds, closed_loop, open_loop


def parse_args(argv: list[str] | None) -> Any:
    p = build_parser(__doc__.splitlines()[0])
    p.set_defaults(rate=40.0, out=p.get_default("bench_dir") / "request_profile.json")
    p.add_argument("--sample-hz", type=float, default=200.0)
    p.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--py-spy", default=None, help="py-spy executable (default: on PATH or venv)")
    return p.parse_args(argv)


def py_spy(explicit: str | None) -> str:
    found = explicit or shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists() and shutil.which(found) is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[dev]'")
    return found


async def drive_profiled(args: Any, server: Server, profile: Path) -> dict[str, Any]:
    market = server.env["RECSYS_SERVE_MARKET_DIR"]
    seekers = pd.read_parquet(f"{market}/seekers.parquet", columns=["user_id"])
    users = UserIds(seekers["user_id"].astype(str).tolist(), args.seed)
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    async with httpx.AsyncClient(
        base_url=server.base_url, limits=limits, timeout=httpx.Timeout(args.request_timeout)
    ) as client:
        console.print(f"warm-up: {args.warmup} requests, 2 at a time")
        await closed_loop(client, users, args.warmup, args.k, 2, server.pid)
        n = int(args.rate * args.duration)
        spy = subprocess.Popen(
            [
                py_spy(args.py_spy),
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(int(args.sample_hz)),
                "--format",
                "raw",
                "--nonblocking",
                "--subprocesses",
                "--output",
                str(profile),
                "--duration",
                str(int(args.duration) + 2),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(1.0)  # py-spy attached before the clock starts
        console.print(f"profiling {n} requests at {args.rate:g} req/s")
        run = await open_loop(client, users, args.rate, n, args.k, server.pid)
        _, err = spy.communicate(timeout=args.duration + 60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err[-500:]}")
    run["memory_after"] = process_memory_mb(server.pid)
    return run


def report(run: dict[str, Any], steps: dict[str, float], total: float, samples: int) -> None:
    """The step table, with the /proc figure under it to show what the sampling covers."""
    served = run["cpu"]["server_cores"] * 1e3 / max(run["throughput_rps"], 1e-9)
    table = Table(title=f"server time per request at {run['rate']:g} req/s ({samples} samples)")
    table.add_column("step")
    table.add_column("sampled ms / request", justify="right")
    table.add_column("share of CPU", justify="right")
    table.add_column("CPU ms / request (share x /proc)", justify="right")
    for step, ms in steps.items():
        if step == WAITING:
            continue
        share = ms / max(total, 1e-9)
        table.add_row(step, f"{ms:.2f}", f"{share:.0%}", f"{share * served:.2f}")
    table.add_row("sampled total", f"{total:.2f}", "", "")
    table.add_row("/proc: server CPU / answered request", "", "", f"{served:.2f}")
    table.add_row(WAITING, f"{steps.get(WAITING, 0.0):.2f}", "", "")
    console.print(table)
    lat = run["latency_ms"]
    console.print(
        f"answered {run['ok']}/{run['sent']} (errors {run['errors']}), "
        f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms; "
        f"server {run['cpu']['server_cores']:.2f} cores, driver {run['cpu']['driver_cores']:.2f}, "
        f"others {run['cpu']['other_cores']:.2f}"
    )
    wall = run["response_timings_ms"]
    console.print(
        "debug.timings_ms medians: "
        + ", ".join(f"{s} {v['p50']:.1f}" for s, v in wall.items() if s != "cached")
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    server, _, result = start_server(args, argv)
    profile = args.out.with_suffix(".pyspy.txt")
    profile.parent.mkdir(parents=True, exist_ok=True)
    try:
        run = asyncio.run(drive_profiled(args, server, profile))
        steps, total, samples = cpu_ms_per_request(profile, args.sample_hz, run["ok"])
        result["run"] = run
        result["cpu_ms_per_request"] = steps
        result["sampled_ms_per_request"] = total
        result["samples"] = samples
        result["stacks"] = str(profile)
    finally:
        finish(server, result, args.out)
    report(run, steps, total, samples)
    return result


if __name__ == "__main__":
    main()
