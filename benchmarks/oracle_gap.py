"""End-to-end gap to the whole-catalog oracle on a small closed loop, stage by stage.

    python -m benchmarks.oracle_gap [--jobs 3000] [--days 3] [--seed 11] [--requests 200]

A market of `--jobs` jobs (half as many seekers) is served coarse-only on every day but the last
through the closed loop; LightGBM and XGBoost train on the rows logged before the day before last
(validated on it); the last day is served with the selected model and held out for the evaluation
against the oracle (`recsys.lifecycle.ranking_evaluation`): each policy's nDCG@10 as a share of
the oracle's, `oracle_on_pool` (the coarse pool in true order: the most a fine ranker can reach)
and the share of the oracle's top 50 still present after recall and after coarse. Recall and
coarse cut to 1,500 and 200, the test pipeline's cuts scaled to the small market. About 5 minutes
on two cores for 3,000 jobs and 3 days (the first run also embeds the O*NET titles).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from recsys.data.taxonomy import load_taxonomy
from recsys.lifecycle.ranking_evaluation import KEPT_COLUMNS, evaluate_ranking
from recsys.market.config import MarketConfig
from recsys.market.market import generate_market
from recsys.offline.closed_loop import run_closed_loop
from recsys.pipeline.build import build_recommender
from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.train import load_selected, train_rankers
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings

RECALL_K, COARSE_K = 1_500, 200


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=3, help="at least 3: train, validate, test")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--encoder", default="base")
    args = parser.parse_args(argv)
    if args.days < 3:
        parser.error("--days must be at least 3 (a day to train on, one to validate, one to test)")
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    config = MarketConfig(
        n_jobs=args.jobs, n_seekers=args.jobs // 2, days=args.days, seed=args.seed
    )
    market = generate_market(config, taxonomy, settings.data_dir)
    cuts = settings.model_copy(update={"recall_k": RECALL_K, "coarse_k": COARSE_K})
    rec = build_recommender(market.jobs, taxonomy, TitleEncoder.load(args.encoder), settings=cuts)
    test_day = args.days - 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        market.save(folder)
        run_closed_loop(market, folder, rec, range(0, test_day))
        until = config.start + timedelta(days=test_day - 1)
        report = train_rankers(folder / "events", folder / "features", until, folder / "ranker")
        _, model = load_selected(folder / "ranker")
        run_closed_loop(market, folder, rec.with_ranker(model), range(test_day, test_day + 1))
        models = {kind: load_ranker(folder / "ranker" / kind) for kind in report["models"]}
        table = evaluate_ranking(
            market, folder / "events", rec, models, test_day, n_requests=args.requests
        )
    print(
        f"{args.jobs:,} jobs, {config.n_seekers:,} seekers, seed {args.seed}, held-out day "
        f"{test_day} ({int(table['requests'].iat[0])} requests), trained on "
        f"{report['train_rows']:,} rows ({report['train_applies']} applies), "
        f"cuts {RECALL_K:,} / {COARSE_K}; rounds kept "
        + ", ".join(f"{kind} {m['trees']}" for kind, m in report["models"].items())
    )
    columns = ["ndcg@10", "ndcg@10 / oracle", *KEPT_COLUMNS]
    print(f"{'policy':<16}" + "".join(f"{c:>20}" for c in columns))
    for name in table.index:
        print(f"{name:<16}" + "".join(f"{float(table.loc[name, c]):>20.3f}" for c in columns))
    return {
        "benchmark": "oracle_gap",
        "jobs": args.jobs,
        "seed": args.seed,
        "test_day": test_day,
        "selected": report["selected"],
        "trees": {kind: m["trees"] for kind, m in report["models"].items()},
        "table": table[columns].to_dict(orient="index"),
    }


if __name__ == "__main__":
    main()
