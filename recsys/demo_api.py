"""The demo's last step: start `recsys serve` on the demo's market and talk to it over HTTP.

The service runs as its own process on loopback, exactly as a deployment would (embedded stores:
a fresh SQLite online store, filled from the market's event log on its cold start). A handful of
real requests and events show the answers: stored seekers, a cold start, events with one bad item
and a retry, the cache refreshed by an apply, similar jobs and a posting added live; then the
employer side: a key made with `recsys keys create`, a posting's top candidates with their
reasons, and the same key refused on another employer's posting.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from recsys.catalog_db import CatalogStore
from recsys.cli.console import console, kv_table, table
from recsys.settings import get_settings

READY_TIMEOUT_S = 600.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    market: Path, ranker: Path, encoder: Path, state_dir: Path, admin_key: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`recsys serve` in a child process on a free port; returns (process, base URL, log)."""
    port = _free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in ("online_store.sqlite", "event_stream.sqlite"):
        for path in state_dir.glob(f"{name}*"):
            path.unlink()
    env = {
        **os.environ,
        "RECSYS_ONLINE_STORE": "sqlite",
        "RECSYS_SQLITE_PATH": str(state_dir / "online_store.sqlite"),
        "RECSYS_STREAM_PATH": str(state_dir / "event_stream.sqlite"),
        "RECSYS_API_ADMIN_KEY": admin_key,
    }
    log_path = state_dir / "server.log"
    command = [sys.executable, "-m", "recsys.cli.main", "serve", "--port", str(port)]
    command += ["--log-dir", str(market), "--ranker", str(ranker), "--encoder", str(encoder)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log_path


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < READY_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see {log}")
        try:
            r = client.get("/readyz")
            if r.status_code == 200:
                return time.perf_counter() - t0
            if "failed" in r.json().get("detail", ""):
                raise RuntimeError(f"the server could not load: {r.json()['detail']}")
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_S:.0f} s; see {log}")


def _items_table(title: str, body: dict[str, Any]) -> None:
    rows = [
        [
            i + 1,
            item["job_id"],
            item["title"],
            item["company"],
            item["location"],
            round(item["score"], 4),
            "; ".join(item["reasons"]),
        ]
        for i, item in enumerate(body["items"])
    ]
    console.print(table(title, ["#", "job", "title", "company", "where", "score", "why"], rows))


def tour(client: httpx.Client, market: Path, admin_key: str) -> None:
    """The requests and events of the demo, with their answers printed."""
    seekers = pd.read_parquet(market / "seekers.parquet", columns=["user_id", "desired_title"])
    user, title = str(seekers["user_id"].iat[0]), str(seekers["desired_title"].iat[0])

    r = client.get("/v1/recommendations", params={"user_id": user, "k": 5, "debug": True})
    r.raise_for_status()
    first = r.json()
    _items_table(f"GET /v1/recommendations?user_id={user} ({title!r})", first)
    console.print(
        kv_table(
            "that request",
            {
                "request id": first["request_id"],
                **{f"model {k}": v for k, v in first["model_versions"].items()},
                **{f"{k} ms": round(v, 2) for k, v in first["debug"]["timings_ms"].items()},
                **{f"{k} candidates": v for k, v in first["debug"]["candidates"].items()},
            },
        )
    )

    profile = {
        "profile": {
            "title": "react developer",
            "location": "Austin, TX",
            "skills": ["JavaScript", "React"],
        },
        "k": 5,
    }
    r = client.post("/v1/recommendations", json=profile)
    r.raise_for_status()
    _items_table("POST /v1/recommendations: a cold start (react developer, Austin, TX)", r.json())

    job = first["items"][0]["job_id"]
    stamp = time.time_ns()
    events = [
        {"event_id": f"demo-{stamp}-1", "type": "click", "user_id": user, "job_id": job},
        {"event_id": f"demo-{stamp}-2", "type": "apply", "user_id": user, "job_id": job},
        {"event_id": f"demo-{stamp}-3", "type": "bookmark", "user_id": user, "job_id": job},
    ]
    answers = {
        "batch of 3 (one bad)": client.post("/v1/events", json={"events": events}).json(),
        "the same batch again": client.post("/v1/events", json={"events": events}).json(),
    }
    console.print(
        table(
            "POST /v1/events",
            ["call", "accepted", "duplicates", "rejected"],
            [
                [
                    name,
                    a["accepted"],
                    a["duplicates"],
                    "; ".join(f"#{x['index']}: {', '.join(x['errors'])}" for x in a["rejected"]),
                ]
                for name, a in answers.items()
            ],
        )
    )
    r = client.get("/v1/recommendations", params={"user_id": user, "k": 5, "debug": True})
    after = r.json()
    console.print(
        f"after the apply: cached={after['debug']['cached']}, job {job} "
        f"{'still' if job in [i['job_id'] for i in after['items']] else 'no longer'} listed "
        "(applied jobs are excluded)"
    )

    similar = client.get(f"/v1/jobs/{job}/similar", params={"k": 3}).json()
    _items_table(f"GET /v1/jobs/{job}/similar", similar)

    posting = {
        "title": "Senior React Developer",
        "company": "Demo Startup",
        "city": "Austin",
        "state": "TX",
        "skills": ["JavaScript", "React"],
        "seniority": 3,
    }
    added = client.post("/v1/jobs", json={"jobs": [posting]}, headers={"X-API-Key": admin_key})
    added.raise_for_status()
    new_id = added.json()["job_ids"][0]
    ranked = client.post("/v1/recommendations", json=profile).json()
    ids = [i["job_id"] for i in ranked["items"]]
    where = f"at #{ids.index(new_id) + 1}" if new_id in ids else "not in the top 5"
    console.print(f"POST /v1/jobs added job {new_id}; the cold-start request now lists it {where}")
    bad = client.get("/v1/recommendations", params={"user_id": user, "k": 500})
    console.print(f"GET with k=500 -> {bad.status_code}: {bad.json()['error']['message']}")
    listed = first["items"] + similar["items"] + ranked["items"]
    employer_tour(client, [i["job_id"] for i in listed], get_settings().catalog_url)
    metrics = client.get("/metrics").text
    series = sum(1 for line in metrics.splitlines() if line.startswith("recsys_"))
    console.print(f"/metrics exposes {series} recsys_* series")


def _employer_key(employer_id: str, catalog_url: str) -> str:
    """`recsys keys create --employer ID`, as an operator would run it; its last line is the key."""
    command = [sys.executable, "-m", "recsys.cli.main", "keys", "create"]
    command += ["--employer", employer_id, "--label", "demo"]
    env = {**os.environ, "RECSYS_DATABASE_URL": catalog_url}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    console.print(f"$ recsys keys create --employer {employer_id} --label demo -> a new key")
    return out.strip().splitlines()[-1]


def employer_tour(client: httpx.Client, job_ids: list[int], catalog_url: str) -> bool:
    """The employer side: candidates for an own posting, and the refusals around them; True when
    a key was refused on another employer's posting."""
    store = CatalogStore.open(catalog_url)
    try:
        owners = store.postings.employers(job_ids)
    finally:
        store.close()
    owned = [j for j in job_ids if owners.get(j)]
    if not owned:
        console.print("[yellow]no served posting has an employer id; skipping the employer side")
        return False
    job = owned[0]
    owner = str(owners[job])
    foreign = next((j for j in owned if owners[j] != owner), None)
    key = {"X-API-Key": _employer_key(owner, catalog_url)}
    r = client.get(f"/v1/jobs/{job}/candidates", params={"k": 5, "debug": True}, headers=key)
    r.raise_for_status()
    body = r.json()
    rows = [
        [
            i + 1,
            item["user_id"],
            round(item["score"], 4),
            item["distance_km"],
            item["seniority"],
            item["last_active_days"],
            "; ".join(item["reasons"]),
        ]
        for i, item in enumerate(body["items"])
    ]
    header = ["#", "seeker", "score", "km", "level", "active (days ago)", "why"]
    title = f"GET /v1/jobs/{job}/candidates (employer {owner}, {body['model_version']})"
    console.print(table(title, header, rows))
    timings = body["debug"]["timings_ms"]
    console.print(kv_table("that request (ms)", {k: round(v, 2) for k, v in timings.items()}))
    anonymous = client.get(f"/v1/jobs/{job}/candidates")
    console.print(
        f"without a key -> {anonymous.status_code}: {anonymous.json()['error']['message']}"
    )
    if foreign is None:
        console.print("every listed posting has the same employer; no foreign posting to try")
        return False
    refused = client.get(f"/v1/jobs/{foreign}/candidates", headers=key)
    console.print(
        f"employer {owner}'s key on job {foreign} (employer {owners[foreign]}) -> "
        f"{refused.status_code}: {refused.json()['error']['message']}"
    )
    return refused.status_code == 403


def run(market: Path, ranker: Path, encoder: Path, state_dir: Path) -> None:
    """Start the server, run the tour, stop the server (also on errors)."""
    admin_key = secrets.token_urlsafe(16)
    process, url, log = start_server(market, ranker, encoder, state_dir, admin_key)
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            with console.status("starting `recsys serve` (loading models, filling the store)"):
                took = wait_ready(client, process, log)
            console.print(f"`recsys serve` ready at {url} after {took:.1f} s (log: {log})")
            tour(client, market, admin_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
