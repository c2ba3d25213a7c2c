"""Memory of `recsys serve` with one and with two workers: what does a second worker add?

    python -m benchmarks.worker_memory [--jobs 100000] [--workers 1,2] [--modes separate,shared]

The market of `benchmarks.api_load` (built once per config and reused) is published into a
catalog database (its posting dates moved to the wall clock, so that its postings are open and
indexed), which one priming start fills with the encoder's embeddings (so that no
measured start embeds the catalog: a worker that embedded 100k titles keeps that peak's heap).
Then for every mode and worker count, `recsys serve` starts on a copy of the primed database,
answers `--requests` recommendation requests (new connection each, so every worker serves some)
and every process of the server is measured with psutil: RSS (counts every shared page in full
in every process), PSS (a shared page split between the processes sharing it: the honest share)
and USS (pages only this process has). Modes (RECSYS_API_SHARED_MEMORY):

- `separate`: uvicorn's own workers, each a fresh process that loads everything itself;
- `shared`: the service loaded once in a gunicorn master and forked into the workers, which
  share those pages copy-on-write (`recsys.service.workers`).

The figure asked for: total PSS of the server with two workers minus with one ("second worker
adds"), below 300 MB for `shared`. Then `--postings` postings are added through the API and
every process is measured again: catalog changes must not unshare what the workers share
(each applies them into spare rows, `recsys.core.growable`).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

from benchmarks.load.console import console
from benchmarks.load.market import link_shared_caches, prepare_market, publish_catalog
from benchmarks.load.server import Server, flush_redis, free_port, log_problems, recsys_command
from recsys.cli.console import table
from recsys.data.taxonomy import load_taxonomy
from recsys.settings import get_settings

MODES = ("separate", "shared")
MB = 2**20
#: the admin key the measured servers run with (they post the `--postings`)
ADMIN_KEY = "worker-memory-bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--seekers", type=int, default=50_000)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    p.add_argument("--requests", type=int, default=300, help="recommendations before measuring")
    p.add_argument(
        "--postings",
        type=int,
        default=20,
        help="postings then added through the API, one per call (0: none), before a last measure",
    )
    p.add_argument("--store", choices=("redis", "sqlite"), default="redis")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="flushed first")
    p.add_argument("--encoder", default="base")
    p.add_argument("--bench-dir", type=Path, default=Path("artifacts/bench"))
    p.add_argument("--out", type=Path, default=Path("artifacts/bench/worker_memory.json"))
    p.add_argument("--ready-timeout", type=float, default=1800.0)
    args = p.parse_args(argv)
    unknown = set(args.modes) - set(MODES)
    if unknown:
        p.error(f"unknown modes {sorted(unknown)}; use {MODES}")
    return args


def process_memory(pid: int) -> list[dict[str, Any]]:
    """RSS, PSS and USS (MiB) of the server process and each of its descendants."""
    top = psutil.Process(pid)
    procs = [top, *top.children(recursive=True)]
    out = []
    for proc in procs:
        try:
            info = proc.memory_full_info()
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        role = "main" if proc.pid == pid and len(procs) > 1 else "worker"
        if "resource_tracker" in cmd or "semaphore_tracker" in cmd:
            role = "helper"
        out.append(
            {
                "pid": proc.pid,
                "role": role,
                "rss_mb": info.rss / MB,
                "pss_mb": info.pss / MB,
                "uss_mb": info.uss / MB,
            }
        )
    return out


def primed_catalog(args: argparse.Namespace, market: Path, env: dict[str, str], work: Path) -> Path:
    """A catalog database holding the market and its embeddings (made once per market)."""
    primed = work / f"{market.name}_{args.encoder.replace('/', '_')}_open.sqlite"
    if primed.is_file():
        console.print(f"catalog: reusing primed {primed}")
        return primed
    tmp = work / "priming.sqlite"
    console.print("catalog: publishing the market and priming its embeddings (one start) ...")
    url = publish_catalog(market, load_taxonomy(get_settings().data_dir), tmp)
    server = _server(args, env, url, 1, "separate", work / "priming.log")
    try:
        server.start()
        server.wait_ready(args.ready_timeout)
    finally:
        server.stop()
    tmp.rename(primed)
    return primed


def _server(
    args: argparse.Namespace, env: dict[str, str], url: str, workers: int, mode: str, log: Path
) -> Server:
    port = free_port()
    cmd = [*recsys_command(), "serve", "--port", str(port), "--store", args.store]
    cmd += ["--workers", str(workers), "--database", url, "--encoder", args.encoder]
    run_env = {
        **env,
        "RECSYS_API_SHARED_MEMORY": str(mode == "shared").lower(),
        "RECSYS_API_ADMIN_KEY": ADMIN_KEY,
    }
    return Server(cmd, run_env, log, port)


async def _requests(server: Server, users: list[str], n: int) -> dict[str, Any]:
    """`n` recommendation requests, 2 at a time, each on a new connection (the kernel hands
    connections to the workers, so one kept-alive connection would only reach one of them)."""
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=0)
    statuses: dict[int, int] = {}
    sem = asyncio.Semaphore(2)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            async with sem:
                params: dict[str, str | int] = {"user_id": users[i % len(users)], "k": 20}
                r = await client.get("/v1/recommendations", params=params)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
    return {"requests": n, "statuses": statuses, "seconds": time.perf_counter() - t0}


def add_postings(server: Server, n: int, poll_s: float) -> dict[str, Any]:
    """`n` postings added one call at a time (each worker applies the others' changes from the
    catalog feed), then a wait of three feed polls so that every worker has applied them all."""
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for i in range(n):
            posting = {
                "title": f"Registered Nurse, ward {i}",
                "company": "Memory Bench Hospital",
                "city": "Austin",
                "state": "TX",
                "lat": 30.27,
                "lon": -97.74,
                "skills": ["Patient care"],
            }
            r = client.post("/v1/jobs", json={"jobs": [posting]}, headers={"X-API-Key": ADMIN_KEY})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    time.sleep(3 * poll_s + 1.0)
    return {"postings": n, "statuses": statuses}


def wait_all_ready(server: Server, workers: int, timeout_s: float) -> float:
    """Seconds until `workers` worker processes run and each has answered /readyz with 200
    (which worker answered: the one holding the server end of the request's connection)."""
    t0 = time.perf_counter()
    answered: set[int] = set()
    while time.perf_counter() - t0 < timeout_s:
        pids = {p["pid"] for p in process_memory(server.pid) if p["role"] == "worker"}
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.connect()
            assert conn.sock is not None
            local_port = conn.sock.getsockname()[1]
            conn.request("GET", "/readyz")
            holder = _holder(pids, local_port)
            if conn.getresponse().status == 200 and holder is not None:
                answered.add(holder)
        except OSError:
            time.sleep(0.5)
        finally:
            conn.close()
        if len(pids) >= workers and pids <= answered:
            return time.perf_counter() - server.started_at
        time.sleep(0.1)
    raise TimeoutError(f"not every worker ready after {timeout_s:.0f} s; log {server.log_path}")


def _holder(pids: set[int], local_port: int) -> int | None:
    """The worker holding the server end of the client's connection from `local_port`."""
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.raddr and c.raddr.port == local_port for c in connections):
            return pid
    return None


def measure(
    args: argparse.Namespace, env: dict[str, str], primed: Path, users: list[str], mode: str, n: int
) -> dict[str, Any]:
    work = args.bench_dir / "worker_memory"
    database = work / "catalog.sqlite"
    for path in work.glob("catalog.sqlite*"):
        path.unlink()
    shutil.copy(primed, database)
    for name in ("online_store.sqlite", "event_stream.sqlite"):
        for path in work.glob(name + "*"):
            path.unlink()
    if args.store == "redis":
        flush_redis(args.redis_url)
    url = f"sqlite:///{database.resolve()}"
    server = _server(args, env, url, n, mode, work / f"server_{mode}_{n}.log")
    console.print(f"{mode}, {n} worker(s): starting ...")
    result: dict[str, Any] = {"mode": mode, "workers": n}
    try:
        server.start()
        server.wait_ready(args.ready_timeout)
        result["ready_s"] = wait_all_ready(server, n, args.ready_timeout)
        result["memory_ready"] = process_memory(server.pid)
        result["load"] = asyncio.run(_requests(server, users, args.requests))
        time.sleep(2.0)
        result["memory"] = process_memory(server.pid)
        workers_now = {p["pid"] for p in result["memory"] if p["role"] == "worker"}
        workers_ready = {p["pid"] for p in result["memory_ready"] if p["role"] == "worker"}
        if args.postings:
            result["added"] = add_postings(server, args.postings, get_settings().catalog_poll_s)
            result["memory_after_postings"] = process_memory(server.pid)
            workers_now |= {
                p["pid"] for p in result["memory_after_postings"] if p["role"] == "worker"
            }
        result["workers_restarted"] = sorted(workers_now - workers_ready)
        if result["workers_restarted"]:
            console.print(f"[red]workers restarted during the run: {workers_now ^ workers_ready}")
    finally:
        result["shutdown"] = server.stop()
        result["log"] = log_problems(server.log_path)
    for name in ("memory", "memory_after_postings"):
        if name in result:
            procs = result[name]
            total = {k: sum(p[k] for p in procs) for k in ("rss_mb", "pss_mb", "uss_mb")}
            result["total" if name == "memory" else "total_after_postings"] = total
    return result


def report(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        for p in run["memory"]:
            rows.append(
                [run["mode"], run["workers"], p["pid"], p["role"], p["rss_mb"], p["pss_mb"]]
                + [p["uss_mb"]]
            )
        t = run["total"]
        rows.append(
            [run["mode"], run["workers"], "", "total", t["rss_mb"], t["pss_mb"], t["uss_mb"]]
        )
    cols = ["mode", "workers", "pid", "process", "RSS MiB", "PSS MiB", "USS MiB"]
    console.print(table("recsys serve memory after the requests", cols, rows))
    added = []
    for mode in {r["mode"] for r in runs}:
        by_n = {r["workers"]: r["total"] for r in runs if r["mode"] == mode}
        if 1 in by_n and 2 in by_n:
            added.append(
                {
                    "mode": mode,
                    "added_rss_mb": by_n[2]["rss_mb"] - by_n[1]["rss_mb"],
                    "added_pss_mb": by_n[2]["pss_mb"] - by_n[1]["pss_mb"],
                    "added_uss_mb": by_n[2]["uss_mb"] - by_n[1]["uss_mb"],
                }
            )
    if added:
        cols = ["mode", "RSS MiB", "PSS MiB", "USS MiB"]
        rows = [[a["mode"], a["added_rss_mb"], a["added_pss_mb"], a["added_uss_mb"]] for a in added]
        console.print(table("the second worker adds (total with 2 minus total with 1)", cols, rows))
    changed = [r for r in runs if "total_after_postings" in r]
    if changed:
        cols = ["mode", "workers", "postings", "PSS MiB before", "PSS MiB after", "growth MiB"]
        rows = [
            [
                r["mode"],
                r["workers"],
                r["added"]["postings"],
                r["total"]["pss_mb"],
                r["total_after_postings"]["pss_mb"],
                r["total_after_postings"]["pss_mb"] - r["total"]["pss_mb"],
            ]
            for r in changed
        ]
        console.print(table("after postings added through the API (total PSS)", cols, rows))
    return added


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = get_settings()
    work = args.bench_dir / "worker_memory"
    work.mkdir(parents=True, exist_ok=True)
    market = prepare_market(args.bench_dir, args.jobs, args.seekers, args.days, args.seed)
    artifacts = work / "artifacts"
    link_shared_caches(settings.artifacts_dir, artifacts)
    log_dir = work / "log"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env.pop("RECSYS_SERVE_RANKER_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    env.setdefault("RECSYS_DATA_DIR", str(settings.data_dir.resolve()))
    env.update(
        {
            "RECSYS_ARTIFACTS_DIR": str(artifacts.resolve()),
            "RECSYS_LOG_DIR": str(log_dir.resolve()),
            "RECSYS_SERVE_FROM_REGISTRY": "false",
            "RECSYS_REDIS_URL": args.redis_url,
            "RECSYS_SQLITE_PATH": str((work / "online_store.sqlite").resolve()),
            "RECSYS_STREAM_PATH": str((work / "event_stream.sqlite").resolve()),
        }
    )
    primed = primed_catalog(args, market, env, work)
    users = pd.read_parquet(market / "seekers.parquet", columns=["user_id"])["user_id"]
    user_ids = users.astype(str).sample(frac=1.0, random_state=args.seed).tolist()
    runs = [
        measure(args, env, primed, user_ids, mode, n) for mode in args.modes for n in args.workers
    ]
    result = {
        "benchmark": "worker_memory",
        "argv": sys.argv[1:] if argv is None else argv,
        "cores": os.cpu_count(),
        "runs": runs,
    }
    result["second_worker_adds"] = report(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    console.print(f"saved {args.out}")
    return result


if __name__ == "__main__":
    main()
