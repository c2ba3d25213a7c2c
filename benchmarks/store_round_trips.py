"""Client CPU of one request's online-store traffic: separate calls against `read_user` /
`write_user` (one round trip each), on a real Redis.

    python -m benchmarks.store_round_trips [--requests 1000] [--repeats 7]

A cold stored seeker's request reads its cached list, history and query vector and writes the
new vector and list back: five round trips as separate calls, two combined. Each repeat runs
both ways in turn, each on fresh users (db 14 under a prefix of its own, cleared at the end);
figures are medians over repeats, client CPU (process time) and wall per request.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import redis

from feature_store.redis_store import RedisOnlineStore

URL = os.environ.get("RECSYS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    store = RedisOnlineStore(redis.Redis.from_url(URL), prefix="bench-trips:")
    vector = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    payload = b"x" * 6_000  # about a cached list of 20 items with their feature rows

    def separate(user: str) -> None:
        store.get_cached(user, "k")
        store.seeker_history(user)
        store.get_query_vector(user, "title")
        store.put_query_vector(user, "title", vector)
        store.put_cached(user, "k", payload, 60.0)

    def combined(user: str) -> None:
        store.read_user(user, cached_key="k", vector_key="title")
        store.write_user(user, vector=("title", vector), cached=("k", payload, 60.0))

    ways: dict[str, Callable[[str], None]] = {
        "separate (5 trips)": separate,
        "combined (2)": combined,
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    try:
        for repeat in range(args.repeats):
            for name, request in ways.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(args.requests):
                    request(f"{name[:3]}{repeat}-{i}")
                runs[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    finally:
        store.clear()
    base = None
    for name, times in runs.items():
        cpu_ms = float(np.median([t[0] for t in times])) / args.requests * 1e3
        wall_ms = float(np.median([t[1] for t in times])) / args.requests * 1e3
        base = base or cpu_ms
        print(
            f"{name:<20} client CPU {cpu_ms:.3f} ms/request (x{cpu_ms / base:.2f}), "
            f"wall {wall_ms:.3f} ms/request"
        )


if __name__ == "__main__":
    main()
