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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from recsys.cli import console as shared_console
from recsys.cli.console import kv_table, table
from recsys.settings import get_settings

RECOMMEND = "/v1/recommendations"
EVENTS = "/v1/events"
STAGE_METRIC = "recsys_stage_duration_seconds"
REQUEST_METRIC = "recsys_request_duration_seconds"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: the shared console, or one wide enough for the tables when output goes to a file or pipe.
console = (
    shared_console.console
    if shared_console.console.is_terminal
    else Console(width=max(shared_console.console.width, 150))
)


# ---------------------------------------------------------------------------------- machine
def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its workers (all their threads)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn workers run as children of `recsys serve`)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (
                (task / "children").read_text().split() if (task / "children").exists() else []
            )
            todo.extend(int(c) for c in children)
    return pids


def process_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB, summed over the process and its workers."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0]) / 1024
    return {"rss_mb": out["VmRSS"], "peak_rss_mb": out["VmHWM"]}


@dataclass
class CpuWindow:
    """CPU used by the server, this driver and the whole machine over a stretch of wall time."""

    server_pid: int
    t0: float = 0.0
    machine0: float = 0.0
    server0: float = 0.0
    driver0: float = 0.0

    def start(self) -> CpuWindow:
        self.t0 = time.perf_counter()
        self.machine0 = machine_cpu()[0]
        self.server0 = process_cpu(self.server_pid)
        self.driver0 = time.process_time()
        return self

    def stop(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        machine = (machine_cpu()[0] - self.machine0) / wall
        server = (process_cpu(self.server_pid) - self.server0) / wall
        driver = (time.process_time() - self.driver0) / wall
        return {
            "server_cores": server,
            "driver_cores": driver,
            "machine_cores": machine,
            "other_cores": max(machine - server - driver, 0.0),
        }


def wait_until_quiet(
    server_pid: int, max_cores: float, max_wait_s: float, windows: int = 3
) -> dict[str, Any]:
    """Wait until processes other than the server and this driver use < `max_cores` cores in
    `windows` consecutive 10 s windows (a lull between two test runs is not quiet), for at most
    `max_wait_s`."""
    t0 = time.perf_counter()
    quiet_in_a_row = 0
    seen: list[float] = []
    while True:
        window = CpuWindow(server_pid).start()
        time.sleep(10)
        other = window.stop()["other_cores"]
        seen.append(other)
        quiet_in_a_row = quiet_in_a_row + 1 if other < max_cores else 0
        waited = time.perf_counter() - t0
        if quiet_in_a_row >= windows or waited >= max_wait_s:
            return {
                "other_cores_last_windows": seen[-windows:],
                "waited_s": waited,
                "quiet": quiet_in_a_row >= windows,
            }
        if other >= max_cores:
            console.print(
                f"[yellow]other processes use {other:.2f} cores (load {loadavg()}); "
                f"waiting for a quiet machine ({waited:.0f}/{max_wait_s:.0f} s)[/yellow]"
            )


# ---------------------------------------------------------------------------------- market
def recsys_command() -> list[str]:
    script = Path(sys.executable).parent / "recsys"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "recsys.cli.main"]


def prepare_market(bench_dir: Path, jobs: int, seekers: int, days: int, seed: int) -> Path:
    """The market folder for this config: built once with `recsys simulate`, then reused."""
    folder = bench_dir / f"market_j{jobs}_s{seekers}_d{days}_seed{seed}"
    if (folder / "market.json").is_file():
        console.print(f"market: reusing {folder}")
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    console.print(f"market: simulating {jobs:,} jobs, {seekers:,} seekers, {days} days")
    cmd = [*recsys_command(), "simulate", "--jobs", str(jobs), "--seekers", str(seekers)]
    cmd += ["--days", str(days), "--seed", str(seed), "--out", str(tmp)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def fresh_copy(market: Path, dest: Path) -> Path:
    """A copy the server may write into (it drains events and logs features into the folder)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(market, dest)
    return dest


def link_shared_caches(shared: Path, artifacts: Path) -> list[str]:
    """Point the dedicated artifacts folder at the encoder's ONNX export and occupation-title
    vectors already built in the shared one (both keyed by the encoder's fingerprint)."""
    artifacts.mkdir(parents=True, exist_ok=True)
    linked = []
    if shared.resolve() == artifacts.resolve():
        return linked
    for source in [shared / "encoder_cache", *sorted(shared.glob("occupation_titles_*.npz"))]:
        target = artifacts / source.name
        if source.exists() and not target.exists() and not target.is_symlink():
            target.symlink_to(source.resolve())
            linked.append(source.name)
    return linked


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------- server
@dataclass
class Server:
    """`recsys serve` in its own process, its output in a log file."""

    cmd: list[str]
    env: dict[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    shutdown: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Seconds from the process start to /healthz and /readyz answering 200."""
        assert self.proc is not None
        healthy = None
        detail = ""
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.perf_counter() - self.started_at < timeout_s:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode} before it was ready; "
                        f"log {self.log_path}:\n{tail(self.log_path, 40)}"
                    )
                try:
                    if healthy is None and client.get("/healthz").status_code == 200:
                        healthy = time.perf_counter() - self.started_at
                    r = client.get("/readyz")
                    if r.status_code == 200:
                        ready = time.perf_counter() - self.started_at
                        return {"healthz_s": healthy, "readyz_s": ready}
                    detail = r.json().get("detail", "")
                    if detail.startswith("loading failed"):
                        raise RuntimeError(f"the service failed to load: {detail}")
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        raise TimeoutError(f"not ready after {timeout_s:.0f} s ({detail}); log {self.log_path}")

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """SIGINT (uvicorn's graceful shutdown), then SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            self.shutdown = {"signal": None, "returncode": code, "seconds": 0.0}
            return self.shutdown
        t0 = time.perf_counter()
        for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10)):
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.shutdown = {
            "signal": sig.name,
            "returncode": self.proc.returncode,
            "seconds": time.perf_counter() - t0,
        }
        return self.shutdown


def tail(path: Path, lines: int) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def log_problems(path: Path) -> dict[str, Any]:
    """Tracebacks and ERROR lines in the server's log (the first few tracebacks in full)."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    blocks = re.split(r"(?=^Traceback \(most recent call last\):)", text, flags=re.M)
    tracebacks = [b.strip()[:4000] for b in blocks if b.startswith("Traceback")]
    errors = [ln for ln in text.splitlines() if re.search(r"\bERROR\b|Exception", ln)]
    return {
        "tracebacks": len(tracebacks),
        "first_tracebacks": tracebacks[:3],
        "error_lines": errors,
    }


# ---------------------------------------------------------------------------------- metrics
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    r.raise_for_status()
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def histogram_delta(
    before: Samples, after: Samples, metric: str, match: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Per value of the labels not in `match` (e.g. stage): count, sum, buckets between scrapes."""
    out: dict[str, dict[str, Any]] = {}
    for (name, labels), value in after.items():
        if not name.startswith(metric + "_"):
            continue
        lab = dict(labels)
        if any(lab.get(k) != v for k, v in match.items()):
            continue
        key = ",".join(f"{k}={v}" for k, v in sorted(lab.items()) if k not in match and k != "le")
        delta = value - before.get((name, labels), 0.0)
        entry = out.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
        suffix = name[len(metric) + 1 :]
        if suffix in ("count", "sum"):
            entry[suffix] = delta
        elif suffix == "bucket":
            entry["buckets"][float(lab["le"])] = delta
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear inside the bucket the rank falls in."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return float("nan")
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if upper == float("inf"):
                return lower
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


def stage_summary(before: Samples, after: Samples) -> dict[str, dict[str, float]]:
    """Mean and bucket-estimated p50/p99 (ms) of each pipeline stage between two scrapes."""
    out = {}
    for key, h in histogram_delta(before, after, STAGE_METRIC, {}).items():
        stage = key.removeprefix("stage=")
        if h["count"] <= 0:
            continue
        out[stage] = {
            "count": h["count"],
            "mean_ms": h["sum"] / h["count"] * 1e3,
            "p50_ms_bucket": bucket_quantile(h["buckets"], 0.5) * 1e3,
            "p99_ms_bucket": bucket_quantile(h["buckets"], 0.99) * 1e3,
        }
    match = {"method": "GET", "route": RECOMMEND}
    for h in histogram_delta(before, after, REQUEST_METRIC, match).values():
        if h["count"] > 0:
            out["http (server-side)"] = {
                "count": h["count"],
                "mean_ms": h["sum"] / h["count"] * 1e3,
                "p50_ms_bucket": bucket_quantile(h["buckets"], 0.5) * 1e3,
                "p99_ms_bucket": bucket_quantile(h["buckets"], 0.99) * 1e3,
            }
    return out


def counter_values(samples: Samples, name: str) -> dict[str, float]:
    return {
        ",".join(f"{k}={v}" for k, v in labels): v
        for (n, labels), v in samples.items()
        if n == name
    }


# ---------------------------------------------------------------------------------- load
def stage_samples(ok: list[Any]) -> dict[str, list[float]]:
    """The server's `debug.timings_ms` of every uncached response, per stage."""
    stages: dict[str, list[float]] = {}
    for o in ok:
        if not o.cached:
            for stage, ms in o.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    return stages


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
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
    due: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    error: str = ""
    cached: bool | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


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
    lat = percentiles_ms([o.done - o.due for o in ok])
    lag = [o.sent - o.due for o in outcomes]
    stages = stage_samples(ok)
    return {
        "rate": rate,
        "sent": n,
        "ok": len(ok),
        "errors": len(bad),
        "error_kinds": dict(Counter(o.error.split(":")[0] for o in bad)),
        "error_samples": [o.error for o in bad[:5]],
        "cache_hits": sum(1 for o in ok if o.cached),
        "offered_rps": n / max(outcomes[-1].due - t0, 1e-9) if n > 1 else float("nan"),
        "throughput_rps": len(ok) / max(end - t0, 1e-9),
        "latency_ms": lat,
        "max_send_lag_ms": max(lag) * 1e3,
        "max_inflight": inflight[1],
        "response_timings_ms": {
            s: {"p50": float(np.median(v)), "p99": float(np.percentile(v, 99))}
            for s, v in stages.items()
        },
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
    stages = stage_samples(ok)
    return {
        "sent": n,
        "concurrency": concurrency,
        "ok": len(ok),
        "errors": n - len(ok),
        "cache_hits": sum(1 for o in ok if o.cached),
        "throughput_rps": len(ok) / wall,
        "latency_ms": percentiles_ms([o.done - o.due for o in ok]),
        "response_timings_ms": {
            s: {"p50": float(np.median(v)), "p99": float(np.percentile(v, 99))}
            for s, v in stages.items()
        },
        "cpu": cpu.stop(),
    }


# ---------------------------------------------------------------------------------- events
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
    headers = {"content-type": "application/json"}

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                r = await client.post(EVENTS, content=body, headers=headers)
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
    r = await client.post(EVENTS, content=body, headers={"content-type": "application/json"})
    data = r.json()
    return {
        "status": r.status_code,
        "accepted": data.get("accepted"),
        "duplicates": data.get("duplicates"),
        "rejected": len(data.get("rejected", [])),
    }


# ---------------------------------------------------------------------------------- driver
async def drive(args: argparse.Namespace, server: Server, market: Path) -> dict[str, Any]:
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
        steady["stages"] = stage_summary(before, after)
        steady["cache_counter"] = {
            k: after.get(("recsys_result_cache_total", (("result", k),)), 0.0)
            - before.get(("recsys_result_cache_total", (("result", k),)), 0.0)
            for k in ("hit", "miss")
        }
        out["steady"] = steady
        await asyncio.sleep(args.pause)

        ramp = []
        for rate in args.ramp:
            n = int(rate * args.step_duration)
            console.print(f"ramp: {rate:g} req/s for {args.step_duration:g} s")
            before = await scrape(c)
            step = await open_loop(c, users, rate, n, args.k, server.pid)
            step["stages"] = stage_summary(before, await scrape(c))
            ramp.append(step)
            p99 = step["latency_ms"]["p99"]
            console.print(
                f"  p50 {step['latency_ms']['p50']:.1f} ms, p99 {p99:.1f} ms, "
                f"errors {step['errors']}, {step['throughput_rps']:.1f} req/s"
            )
            if step["errors"] or not p99 < args.p99_limit_ms:
                break
            await asyncio.sleep(args.pause)
        out["ramp"] = ramp
        passing = [
            s["rate"]
            for s in ramp
            if not s["errors"] and s["latency_ms"]["p99"] < args.p99_limit_ms
        ]
        out["max_rate_under_limit"] = max(passing) if passing else None
        out["ramp_stopped_by"] = (
            None
            if len(passing) == len(ramp)
            else ("errors" if ramp[-1]["errors"] else f"p99 > {args.p99_limit_ms:g} ms")
        )
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


# ---------------------------------------------------------------------------------- report
def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    d = result["drive"]
    setup = {
        "jobs / seekers": f"{args.jobs:,} / {args.seekers:,}",
        "store": f"{args.store} ({args.redis_url})" if args.store == "redis" else args.store,
        "model versions": ", ".join(f"{k}={v}" for k, v in d["model_versions"].items()),
        "catalog cache": result["catalog_cache"],
        "to /healthz (s)": result["ready"]["healthz_s"],
        "to /readyz (s)": result["ready"]["readyz_s"],
        "cores": os.cpu_count(),
        "load avg before / after": f"{d['loadavg_before']} / {d['loadavg_after']}",
        "other processes before (cores, 10 s windows)": ", ".join(
            f"{x:.2f}" for x in d.get("quiet", {}).get("other_cores_last_windows", [])
        )
        or "not checked",
        "distinct users asked": d["users_used"],
        "server log": str(result["server_log"]),
    }
    console.print(kv_table("api_load: setup", setup))

    serial = d["serial"]
    lat, cpu = serial["latency_ms"], serial["cpu"]
    rows: list[list[object]] = [
        [
            "serial",
            "1 at a time",
            serial["sent"],
            serial["errors"],
            serial["cache_hits"],
            serial["throughput_rps"],
            lat["p50"],
            lat["p90"],
            lat["p99"],
            lat["max"],
            1,
            "",
            f"{cpu['server_cores']:.2f}/{cpu['driver_cores']:.2f}/{cpu['other_cores']:.2f}",
        ]
    ]
    phases = [("steady", d["steady"])] + [("ramp", s) for s in d["ramp"]]
    for name, s in phases:
        lat = s["latency_ms"]
        cpu = s["cpu"]
        rows.append(
            [
                name,
                s["rate"],
                s["sent"],
                s["errors"],
                s["cache_hits"],
                s["throughput_rps"],
                lat["p50"],
                lat["p90"],
                lat["p99"],
                lat["max"],
                s["max_inflight"],
                s["max_send_lag_ms"],
                f"{cpu['server_cores']:.2f}/{cpu['driver_cores']:.2f}/{cpu['other_cores']:.2f}",
            ]
        )
    cols = ["phase", "req/s", "sent", "errors", "cached", "done/s", "p50 ms", "p90 ms"]
    cols += ["p99 ms", "max ms", "in flight", "send lag ms", "cores srv/drv/other"]
    console.print(table("GET /v1/recommendations, open loop (client-side latency)", cols, rows))
    steady = d["steady"]
    console.print(
        f"steady {steady['rate']:g} req/s: p99 {steady['latency_ms']['p99']:.1f} ms "
        f"(target < {args.target_p99_ms:g} ms), {steady['errors']} errors; highest ramp rate "
        f"with p99 < {args.p99_limit_ms:g} ms and no errors: {d['max_rate_under_limit']} req/s "
        f"(ramp stopped by: {d['ramp_stopped_by'] or 'end of the ramp'})"
    )
    for s in [steady, *d["ramp"]]:
        if s["errors"]:
            console.print(f"[red]{s['rate']:g} req/s errors {s['error_kinds']}[/red]")
            for e in s["error_samples"]:
                console.print(f"  {e}")

    stage_rows = []
    for stage, m in steady["stages"].items():
        resp = steady["response_timings_ms"].get(stage, {})
        alone = serial["response_timings_ms"].get(stage, {})
        stage_rows.append(
            [
                stage,
                int(m["count"]),
                m["mean_ms"],
                m["p50_ms_bucket"],
                m["p99_ms_bucket"],
                resp.get("p50", ""),
                resp.get("p99", ""),
                alone.get("p50", ""),
            ]
        )
    console.print(
        table(
            f"server-side stage timings during the steady {steady['rate']:g} req/s run",
            [
                "stage",
                "n",
                "mean ms (/metrics)",
                "p50 ms (buckets)",
                "p99 ms (buckets)",
                "p50 ms (debug)",
                "p99 ms (debug)",
                "p50 ms, serial (debug)",
            ],
            stage_rows,
        )
    )

    ev = d["events"]
    again = ev["resend_first_batch"]
    console.print(
        kv_table(
            "POST /v1/events",
            {
                "batches x size, senders": f"{ev['batches']} x {args.event_batch_size}, "
                f"{ev['senders']}",
                "accepted / duplicates / rejected": f"{ev['accepted']:,} / {ev['duplicates']:,} / "
                f"{ev['rejected']:,}",
                "errors (non-200)": ev["errors"],
                "wall (s)": ev["wall_s"],
                "accepted events/s": ev["accepted_per_s"],
                "batch ms p50 / p99 / max": f"{ev['batch_ms']['p50']:.1f} / "
                f"{ev['batch_ms']['p99']:.1f} / {ev['batch_ms']['max']:.1f}",
                "server cores": ev["cpu"]["server_cores"],
                "first batch re-sent": f"status {again['status']}, accepted {again['accepted']}, "
                f"duplicates {again['duplicates']}, rejected {again['rejected']}",
            },
        )
    )
    mem = {
        "RSS when ready (MiB)": d["memory_ready"]["rss_mb"],
        "RSS after the GET load (MiB)": d["memory_after_load"]["rss_mb"],
        "RSS after events (MiB)": d["memory_after_events"]["rss_mb"],
        "peak RSS, VmHWM (MiB)": d["memory_after_events"]["peak_rss_mb"],
        "impressions logged / dropped": f"{d['server_counters']['impressions_logged']:.0f} / "
        f"{d['server_counters']['impressions_dropped']:.0f}",
        "shutdown": f"{result['shutdown']}",
        "tracebacks in server log": result["log"]["tracebacks"],
    }
    console.print(kv_table(f"API process memory ({args.jobs:,} jobs)", mem))
    for tb in result["log"]["first_tracebacks"]:
        console.print(tb, markup=False, highlight=False)


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = get_settings()
    bench = args.bench_dir
    work = bench / "api_load"
    artifacts = work / "artifacts"
    market = prepare_market(bench, args.jobs, args.seekers, args.days, args.seed)
    served_market = fresh_copy(market, work / "market")
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
    cmd += ["--market", str(served_market.resolve()), "--encoder", args.encoder]
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
        cached_after = set(os.listdir(cache_dir)) if cache_dir.is_dir() else set()
        result["catalog_cache"] = (
            "built at this start" if cached_after - cached_before else "reused"
        )
        console.print(
            f"ready after {result['ready']['readyz_s']:.1f} s "
            f"(catalog cache {result['catalog_cache']})"
        )
        result["drive"] = asyncio.run(drive(args, server, served_market))
    finally:
        result["shutdown"] = server.stop()
        result["log"] = log_problems(server.log_path)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"saved {args.out}")
    report(result, args)
    return result


if __name__ == "__main__":
    main()
