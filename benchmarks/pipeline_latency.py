"""Whole-pipeline latency (recall -> coarse -> fine -> rerank) for single requests, warm cache.

    python -m benchmarks.pipeline_latency [--jobs 100000] [--requests 300] [--encoder base]

A simulated market of `--jobs` jobs is served coarse-only for one day through the closed loop, a
production-sized ranker (LightGBM, 300 trees) is trained on the rows that day logged, and then
`--requests` seeker requests are timed one at a time with every stage's wall time (the encoder's
title cache is warm, as it is for returning seekers). It also shows that the hot paths are vector
code: the coarse score of 10,000 candidates is timed against the same formula written as a
per-candidate Python loop, in the same process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.context import request_context
from recsys.core.histories import ReplayedHistories
from recsys.core.profiles import seeker_profile
from recsys.data.geo import haversine_km
from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.offline.closed_loop import run_closed_loop
from recsys.pipeline.build import build_recommender
from recsys.pipeline.recommender import Recommender
from recsys.ranking.coarse import CoarseStage
from recsys.ranking.train import RankerTrainingConfig, load_selected, train_rankers
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings

STAGES = ("profile", "recall", "coarse", "fine", "rerank", "reasons", "total")


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"p50": float(np.median(a)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def time_requests(rec: Recommender, market: Any, n: int, seed: int) -> dict[str, Any]:
    """Serve `n` random seekers twice (the first pass warms the title cache); time the second."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(market.seekers), n, replace=False)
    now = np.datetime64(f"{(market.config.start + timedelta(days=1)).isoformat()}T12:00", "s")
    state = ReplayedHistories()
    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    counts: dict[str, list[int]] = {}
    for rep in range(2):
        for row in rows.tolist():
            ctx = request_context(
                seeker_profile(market.seekers, row),
                now,
                k=20,
                history=state.history(market.seekers, row, now),
                request_id=f"b{row}",
            )
            rec.recommend(ctx)
            if rep == 1:
                for s in STAGES:
                    timings[s].append(ctx.timings_ms.get(s, 0.0))
                for s, c in ctx.counts.items():
                    counts.setdefault(s, []).append(c)
    return {
        "ms": {s: percentiles(v) for s, v in timings.items()},
        "candidates": {s: float(np.median(c)) for s, c in counts.items()},
    }


def vector_vs_loop(rec: Recommender, market: Any, n_candidates: int = 10_000) -> dict[str, float]:
    """The coarse score of `n_candidates` rows: the stage's vector code vs a Python loop."""
    profile = seeker_profile(market.seekers, 0)
    ctx = request_context(profile, np.datetime64("2026-01-06", "s"), request_id="v")
    ctx.seeker = rec.seeker_view(ctx)
    rows = np.arange(min(n_candidates, len(rec.catalog)))
    cands = Candidates(rows, {"recall": rec.catalog.embeddings[rows] @ ctx.seeker.query})
    coarse = rec.stage("coarse")
    assert isinstance(coarse, CoarseStage)  # its score alone, without the cut, is what is timed
    arr = rec.catalog.arrays

    def loop() -> list[float]:
        out = []
        for r, sim in zip(rows.tolist(), cands.scores["recall"].tolist()):
            km = float(haversine_km(profile.lat, profile.lon, arr.lat[r], arr.lon[r]))
            age = float((ctx.now - arr.posted_at[r]) / np.timedelta64(1, "D"))
            out.append(sim + 0.3 * 0.5 ** (age / 10) + 0.3 * 0.5 ** (km / 35))
        return out

    def best_of(fn: Any, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times)) * 1e3

    vector_ms = best_of(lambda: coarse.score(ctx, cands), 50)
    loop_ms = best_of(loop, 3)
    return {
        "candidates": len(rows),
        "vector_ms": vector_ms,
        "python_loop_ms": loop_ms,
        "ratio": loop_ms / vector_ms,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seekers", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--encoder", default=None, help="'base' or a folder (default: settings)")
    args = parser.parse_args(argv)
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    config = MarketConfig(
        n_jobs=args.jobs, n_seekers=args.seekers, days=2, seed=11, start=date(2026, 1, 5)
    )
    market = generate_market(config, taxonomy, settings.data_dir)
    encoder = TitleEncoder.load(args.encoder or settings.encoder_model)
    t0 = time.perf_counter()
    rec = build_recommender(market.jobs, taxonomy, encoder)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        market.save(folder)
        run_closed_loop(market, folder, rec, range(0, 1))
        train_rankers(
            folder / "events",
            folder / "features",
            config.start,
            folder / "ranker",
            RankerTrainingConfig(),
            kinds=("lightgbm",),
        )
        rec = rec.with_ranker(load_selected(folder / "ranker")[1])
    result = time_requests(rec, market, args.requests, seed=1)
    loop = vector_vs_loop(rec, market)
    index = rec.index
    print(
        f"{args.jobs:,} jobs, index {index.kind}, catalog + index built in {build_s:.1f} s "
        f"(cache-aware), {args.requests} warm requests, k=20"
    )
    print(f"{'step':<9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'out':>8}")
    for s in STAGES:
        m = result["ms"][s]
        out = result["candidates"].get(s, "")
        print(f"{s:<9}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['max']:>9.2f}{out!s:>8}")
    print(
        f"coarse score of {loop['candidates']:,} candidates: vector {loop['vector_ms']:.2f} ms, "
        f"per-candidate Python loop (3 of its 5 signals) {loop['python_loop_ms']:.1f} ms "
        f"({loop['ratio']:.0f}x)"
    )
    return {
        "benchmark": "pipeline_latency",
        "jobs": args.jobs,
        "index": index.kind,
        "build_s": build_s,
        **result,
        "vector_vs_loop": loop,
    }


if __name__ == "__main__":
    main()
