"""Past capacity: does `recsys serve` shed load promptly, keep the accepted p99, bound memory?

    python -m benchmarks.api_overload [--jobs 100000] [--multiples 2,5] [--duration 60]

The same market, server and driver as `benchmarks.api_load` (its flags apply). After a warm-up
the capacity is measured as the throughput of a closed loop `--depth` requests deep (the server's
slots: nothing waits, nothing is shed), then each multiple of it is offered open loop for
`--duration` s: requests answered (200) and shed (503 + Retry-After), the answered ones' p50 and
p99 from their scheduled send time, how quickly the shed ones were told, and the server's RSS
before, at its peak (sampled every 0.5 s) and after. Run it with `RECSYS_API_ADMISSION=false` for
the ungated service (its requests queue instead; use a short `--duration`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pandas as pd

from benchmarks.api_load import build_parser, finish, start_server
from benchmarks.load.console import console
from benchmarks.load.overload import overload, overload_report
from benchmarks.load.procfs import loadavg, process_memory_mb
from benchmarks.load.server import Server
from benchmarks.load.traffic import UserIds, closed_loop


def parse_args(argv: list[str] | None) -> Any:
    p = build_parser(__doc__.splitlines()[0])
    p.set_defaults(duration=60.0, out=p.get_default("bench_dir") / "api_overload.json")
    p.add_argument(
        "--multiples", type=lambda s: [float(x) for x in s.split(",")], default=[2.0, 5.0]
    )
    p.add_argument("--depth", type=int, default=2, help="closed-loop depth of the capacity run")
    p.add_argument("--capacity-requests", type=int, default=200)
    p.add_argument("--capacity", type=float, default=None, help="req/s; default: measured")
    return p.parse_args(argv)


async def drive_overload(args: Any, server: Server) -> dict[str, Any]:
    market = server.env["RECSYS_SERVE_MARKET_DIR"]
    seekers = pd.read_parquet(f"{market}/seekers.parquet", columns=["user_id"])
    users = UserIds(seekers["user_id"].astype(str).tolist(), args.seed)
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    timeout = httpx.Timeout(args.request_timeout)
    out: dict[str, Any] = {"loadavg_before": loadavg()}
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=timeout) as c:
        first = await c.get("/v1/recommendations", params={"user_id": next(users), "k": args.k})
        first.raise_for_status()
        out["model_versions"] = first.json()["model_versions"]
        out["memory_ready"] = process_memory_mb(server.pid)
        console.print(f"warm-up: {args.warmup} requests, {args.depth} at a time")
        await closed_loop(c, users, args.warmup, args.k, args.depth, server.pid)
        out.update(await overload(c, users, args, server.pid))
    out["loadavg_after"] = loadavg()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    server, _, result = start_server(args, argv)
    result["benchmark"] = "api_overload"
    try:
        result["drive"] = asyncio.run(drive_overload(args, server))
    finally:
        finish(server, result, args.out)
    overload_report(result["drive"])
    return result


if __name__ == "__main__":
    main()
