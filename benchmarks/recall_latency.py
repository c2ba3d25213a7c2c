"""Recall latency: build time, memory, search latency and recall@k of each `JobIndex` kind.

    python -m benchmarks.recall_latency [--sizes 100000 1000000] [--k 10000] [--queries 200]

Synthetic catalog, seeded: unit-norm embeddings (dim 384) clustered like a taxonomy (families >
occupations > jobs), job locations around 50 US cities, 10% remote. For each size and index kind
it prints single-request latency p50/p99 for k results without filter and with a 50 km radius
filter, recall@k against exact search (same filter), and a brute-force numpy baseline (one
matrix-vector product + argpartition over the whole catalog) measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np

from recsys.recall.job_index import IndexConfig, IndexFilter, JobIndex

DIM = 384
NOW = np.datetime64("2025-06-01T00:00:00", "s")
#: (lat, lon) of 50 large US cities.
US_CITIES = np.array(
    [
        (40.71, -74.01),
        (34.05, -118.24),
        (41.88, -87.63),
        (29.76, -95.37),
        (33.45, -112.07),
        (39.95, -75.17),
        (29.42, -98.49),
        (32.72, -117.16),
        (32.78, -96.80),
        (37.34, -121.89),
        (30.27, -97.74),
        (30.33, -81.66),
        (32.76, -97.33),
        (39.96, -83.00),
        (35.23, -80.84),
        (37.77, -122.42),
        (39.77, -86.16),
        (47.61, -122.33),
        (39.74, -104.99),
        (38.91, -77.04),
        (42.36, -71.06),
        (31.76, -106.49),
        (36.16, -86.78),
        (42.33, -83.05),
        (35.47, -97.52),
        (45.52, -122.68),
        (36.17, -115.14),
        (35.15, -90.05),
        (38.25, -85.76),
        (39.29, -76.61),
        (43.04, -87.91),
        (35.08, -106.65),
        (32.22, -110.97),
        (36.74, -119.79),
        (38.58, -121.49),
        (39.10, -94.58),
        (33.75, -84.39),
        (25.76, -80.19),
        (41.26, -95.93),
        (35.78, -78.64),
        (44.98, -93.27),
        (36.15, -95.99),
        (41.50, -81.69),
        (27.95, -82.46),
        (29.95, -90.07),
        (39.10, -84.51),
        (40.44, -79.99),
        (38.63, -90.20),
        (28.54, -81.38),
        (40.76, -111.89),
    ]
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_catalog(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Clustered unit embeddings and row-aligned filter columns for n jobs."""
    rng = np.random.default_rng(seed)
    family = _unit(rng.standard_normal((23, DIM)))
    minor = _unit(family[rng.integers(0, 23, 100)] + 0.9 * _unit(rng.standard_normal((100, DIM))))
    occ = _unit(minor[rng.integers(0, 100, 1000)] + 0.7 * _unit(rng.standard_normal((1000, DIM))))
    emb = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):  # in chunks: bounded temporary memory at 1M jobs
        m = min(n, start + 100_000) - start
        noise = _unit(rng.standard_normal((m, DIM), dtype=np.float32))
        emb[start : start + m] = _unit(occ[rng.integers(0, 1000, m)] + 0.8 * noise)
    city = US_CITIES[rng.integers(0, len(US_CITIES), n)]
    return {
        "job_ids": rng.permutation(n).astype(np.int64) * 7 + 11,
        "embeddings": emb,
        "lat": (city[:, 0] + rng.normal(0, 0.3, n)).astype(np.float32),
        "lon": (city[:, 1] + rng.normal(0, 0.4, n)).astype(np.float32),
        "remote": rng.random(n) < 0.1,
        "job_zone": rng.integers(1, 6, n).astype(np.int8),
        "expires_at": NOW + rng.integers(1, 60, n).astype("timedelta64[D]"),
    }


def synthetic_queries(emb: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = _unit(rng.standard_normal((n, DIM)))
    return _unit(emb[rng.integers(0, len(emb), n)] + 0.5 * noise)


def _timed(fn: Callable[[int], Any], n: int) -> tuple[list[Any], np.ndarray]:
    out, ms = [], np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        out.append(fn(i))
        ms[i] = (time.perf_counter() - t0) * 1e3
    return out, ms


def _search_all(
    index: JobIndex, queries: np.ndarray, k: int, filters: list[IndexFilter]
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
    """Every query without a filter (only expired jobs out), then with its 50 km filter."""
    everything = IndexFilter(now=NOW)
    plain, plain_ms = _timed(lambda i: index.search(queries[i], k, everything)[0], len(queries))
    near, near_ms = _timed(lambda i: index.search(queries[i], k, filters[i])[0], len(queries))
    return plain, plain_ms, near, near_ms


def _brute_topk(emb: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = emb @ q
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def _recall(got: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(np.intersect1d(g, t)) / max(len(t), 1) for g, t in zip(got, truth)]))


def bench_size(
    n: int, k: int, n_queries: int, kinds: list[str], config: IndexConfig | None = None
) -> list[dict[str, Any]]:
    """Rows of the table for one catalog size (the exact kind first: it is the reference)."""
    cat = synthetic_catalog(n)
    queries = synthetic_queries(cat["embeddings"], n_queries)
    rng = np.random.default_rng(2)
    centers = US_CITIES[rng.integers(0, len(US_CITIES), n_queries)]
    filters = [IndexFilter(center=(float(a), float(b)), radius_km=50, now=NOW) for a, b in centers]
    emb, ids = cat["embeddings"], cat["job_ids"]
    brute, brute_ms = _timed(lambda i: ids[_brute_topk(emb, queries[i], k)], n_queries)
    rows: list[dict[str, Any]] = [
        _row("numpy brute force", n, k, 0.0, emb.nbytes / 2**20, brute_ms, None, 1.0, None)
    ]
    truth_filtered: list[np.ndarray] | None = None
    for kind in ["flat", *[x for x in kinds if x != "flat"]]:
        gc.collect()
        t0 = time.perf_counter()
        index = JobIndex.build(fingerprint="bench", kind=kind, config=config, **cat)  # type: ignore[arg-type]
        build_s = time.perf_counter() - t0
        plain, plain_ms, near, near_ms = _search_all(index, queries, k, filters)
        if truth_filtered is None:
            truth_filtered = near
        allowed = float(np.mean([len(x) for x in truth_filtered]))
        rows.append(
            _row(
                index.kind,
                n,
                k,
                build_s,
                index.memory_mb(),
                plain_ms,
                near_ms,
                _recall(plain, brute),
                _recall(near, truth_filtered),
                allowed,
            )
        )
        del index, plain, near
    base = rows[0]["p50_ms"]
    for row in rows:
        row["speedup_vs_brute"] = round(base / row["p50_ms"], 2)
    return rows


def _row(
    kind: str,
    n: int,
    k: int,
    build_s: float,
    mb: float,
    plain_ms: np.ndarray,
    near_ms: np.ndarray | None,
    recall: float,
    recall_near: float | None,
    allowed: float | None = None,
) -> dict[str, Any]:
    def pct(x: np.ndarray | None, p: float) -> float | None:
        return None if x is None else round(float(np.percentile(x, p)), 2)

    return {
        "jobs": n,
        "kind": kind,
        "k": k,
        "build_s": round(build_s, 2),
        "memory_mb": round(mb, 1),
        "p50_ms": pct(plain_ms, 50),
        "p99_ms": pct(plain_ms, 99),
        "p50_50km_ms": pct(near_ms, 50),
        "p99_50km_ms": pct(near_ms, 99),
        "recall": round(recall, 4),
        "recall_50km": None if recall_near is None else round(recall_near, 4),
        "returned_50km": None if allowed is None else round(allowed),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="JobIndex recall latency (single request, ms)")
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "kind" else "right")
    for row in rows:
        table.add_row(*["-" if v is None else str(v) for v in row.values()])
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "ivf_sq8"])
    parser.add_argument("--probe-factor", type=float, default=IndexConfig.probe_factor)
    args = parser.parse_args(argv)
    config = IndexConfig(probe_factor=args.probe_factor)
    rows = [r for n in args.sizes for r in bench_size(n, args.k, args.queries, args.kinds, config)]
    print_table(rows)
    return {"benchmark": "recall_latency", "threads": faiss.omp_get_max_threads(), "rows": rows}


if __name__ == "__main__":
    main()
