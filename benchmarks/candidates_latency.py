"""Candidates for one posting (employer side): latency at 50k seekers, every stage timed.

    python -m benchmarks.candidates_latency [--seekers 50000] [--jobs 5000] [--requests 300]

A simulated market of `--seekers` seekers is simulated for two days (seekers' traffic, employer
responses, recruiter sessions); the candidate ranker's fit model is trained on day 0; then
`--requests` postings live on day 1 are asked for their top 20 candidates one at a time, with an
80 km radius and without one, through the full `CandidateRecommender` (seeker index with the hard
filters, coarse rules, the GBDT fit model, rerank with the exposure cap, reasons). The same
postings served by the coarse rules alone (no model) are the in-process baseline. Medians and
p99 over the requests; the dev box has two shared cores, so figures move with its load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.candidates.recommender import CandidateRecommender
from recsys.data.taxonomy import load_taxonomy
from recsys.lifecycle.candidate_training import CandidateData, train_candidate_model
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.market.simulate import simulate_days
from recsys.market.traffic import live_jobs
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings

STAGES = ("recall", "coarse", "fine", "rerank", "reasons", "total")


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"p50": float(np.median(a)), "p99": float(np.percentile(a, 99))}


def time_postings(
    rec: CandidateRecommender, data: CandidateData, job_rows: np.ndarray, radius: float | None
) -> dict[str, dict[str, float]]:
    """Serve every posting twice (the first pass warms caches); time the second."""
    now = np.datetime64(f"{data.market.config.start.isoformat()}T12:00", "s") + np.timedelta64(
        86_400, "s"
    )
    postings = [data.posting(j) for j in job_rows.tolist()]
    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    for rep in range(2):
        for posting, row in zip(postings, job_rows.tolist(), strict=True):
            t0 = time.perf_counter()
            out = rec.recommend(
                posting, data.job_embeddings[row], 20, now, radius_km=radius, employer=str(row)
            )
            wall = (time.perf_counter() - t0) * 1e3
            if rep:
                for s in STAGES[:-1]:
                    timings[s].append(out.timings_ms[s])
                timings["total"].append(wall)
    return {s: percentiles(v) for s, v in timings.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seekers", type=int, default=50_000)
    ap.add_argument("--jobs", type=int, default=5_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--encoder", default="base")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    config = MarketConfig(n_jobs=args.jobs, n_seekers=args.seekers, days=2, seed=args.seed)
    t0 = time.perf_counter()
    market = generate_market(config, taxonomy, settings.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        market.save(folder)
        simulate_days(market, folder)
        data = CandidateData.build(
            market, folder, TitleEncoder.load(args.encoder), settings.artifacts_dir
        )
        model, stats = train_candidate_model(data, 1, seed=args.seed)
    print(f"setup {time.perf_counter() - t0:.0f} s; fit model trained on {stats}")
    rng = np.random.default_rng(args.seed)
    live = live_jobs(market, 1.5)
    job_rows = rng.choice(live, min(args.requests, len(live)), replace=False)
    index = data.index()
    print(
        f"{len(index.pool):,} seekers ({int(index.pool.discoverable.sum()):,} discoverable), "
        f"{len(job_rows)} postings, k=20, index on {'GPU' if index.on_gpu else 'CPU'}"
    )
    results: dict[str, Any] = {}
    for radius in (80.0, None):
        for name, fit in (("coarse rules only", None), ("full (GBDT fit model)", model)):
            rec = CandidateRecommender(index, fit)
            results[(name, radius)] = time_postings(rec, data, job_rows, radius)
    header = "".join(f"{s:>16}" for s in STAGES)
    print(f"{'ms p50 / p99':<34}{header}")
    for (name, radius), row in results.items():
        label = f"{name}, radius {radius or 'none'}"
        cells = "".join(f"{row[s]['p50']:>8.2f}/{row[s]['p99']:<7.2f}" for s in STAGES)
        print(f"{label:<34}{cells}")
    for radius in (80.0, None):
        full = results[("full (GBDT fit model)", radius)]["total"]
        base = results[("coarse rules only", radius)]["total"]
        print(
            f"radius {radius or 'none'}: full / coarse-only p50 {full['p50'] / base['p50']:.2f}x, "
            f"p99 {full['p99']:.1f} ms (target < 50 ms)"
        )


if __name__ == "__main__":
    main()
