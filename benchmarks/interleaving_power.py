"""Requests team-draft interleaving needs to find the better ranker, against an A/B split.

    python -m benchmarks.interleaving_power [--jobs 1200] [--seekers 600] [--days 3]
        [--lift 0.3] [--seeds 20] [--sizes 50,100,200,400,800,1600,3200]

A simulated market's requests on `--days` days are run through the real pipeline to the coarse
cut; the champion ranks each pool by the coarse score, the challenger by the coarse score plus
`--lift` times the true relevance (so the oracle says it is better; both oracle nDCG@10 are
printed). For each traffic size, `--seeds` runs draw clicks and applies from the market's model
and count how often each method picks the challenger (and how often significantly, p < .05).
The figures are counts over seeded runs, not timings, so the shared box's noise does not enter.
"""

from __future__ import annotations

import argparse
import json

from recsys.data.taxonomy import load_taxonomy
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.offline.interleaving_sim import request_pools, requests_needed, sensitivity
from recsys.pipeline.build import build_recommender
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_200)
    ap.add_argument("--seekers", type=int, default=600)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lift", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sizes", default="50,100,200,400,800,1600,3200")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    config = MarketConfig(n_jobs=args.jobs, n_seekers=args.seekers, days=args.days, seed=args.seed)
    market = generate_market(config, taxonomy, settings.data_dir)
    scaled = settings.model_copy(update={"recall_k": args.jobs // 2, "coarse_k": 80})
    rec = build_recommender(market.jobs, taxonomy, TitleEncoder.load("base"), settings=scaled)
    pools = request_pools(market, rec, range(args.days), depth=60)
    sizes = [int(s) for s in args.sizes.split(",")]
    result = sensitivity(pools, args.lift, sizes, seeds=args.seeds)
    print(
        f"{result['pool_requests']} distinct requests; oracle nDCG@10 champion "
        f"{result['ndcg@10_champion']:.4f}, challenger {result['ndcg@10_challenger']:.4f}"
    )
    print(f"{'requests':>9} {'TDI ok':>7} {'TDI sig':>8} {'A/B ok':>7} {'A/B sig':>8}")
    for row in result["sizes"]:  # type: ignore[attr-defined]
        print(
            f"{row['requests']:>9} {row['interleaving_correct']:>7} "
            f"{row['interleaving_significant']:>8} {row['ab_correct']:>7} "
            f"{row['ab_significant']:>8}"
        )
    need = args.seeds - args.seeds // 20  # 19 of 20
    for method in ("interleaving", "ab"):
        for key in ("correct", "significant"):
            print(
                f"{method} {key} in >= {need}/{args.seeds}: "
                f"{requests_needed(result, method, need, key)} requests"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
