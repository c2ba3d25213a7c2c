"""The retrain's evaluation: the candidates and the champion on the held-out day, the report."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.taxonomy import load_taxonomy
from recsys.evaluation.report import calibration_table, write_report
from recsys.lifecycle.promotion import sanity_problems
from recsys.lifecycle.ranking_evaluation import evaluate_ranking
from recsys.lifecycle.retrain_job import RetrainJob
from recsys.lifecycle.stage_latency import stage_latency
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender, serving_encoder
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker
from recsys.ranking.train import KINDS
from recsys.recall.encoder import TitleEncoder
from recsys.registry.mlflow_registry import CHAMPION, RANKER_MODEL


def evaluate(job: RetrainJob) -> dict[str, Any]:
    """Every trained candidate and the current champion on the day, plus the report."""
    s = job.settings
    candidates = {k: load_ranker(job.candidate_dir(k)) for k in KINDS if job.trained(k)}
    if not candidates:
        raise FileNotFoundError(f"no trained candidates under {job.folder / 'candidates'}")
    registry = job.registry()
    champion = registry.by_alias(RANKER_MODEL, CHAMPION)
    models: dict[str, ApplyRateRanker] = {f"candidate:{k}": m for k, m in candidates.items()}
    if champion is not None:
        models["champion"] = load_ranker(registry.download(champion))
    taxonomy = load_taxonomy(s.data_dir)
    market = Market.load(job.market_dir, taxonomy)
    encoder = TitleEncoder.load(serving_encoder(s))
    rec = build_recommender(market.jobs, taxonomy, encoder, settings=s)
    day_index = (job.day - market.config.start).days
    table = evaluate_ranking(
        market, job.events_root, rec, models, day_index, s.retrain_eval_requests, seed=s.seed
    )
    best = max(
        candidates, key=lambda k: float(np.nan_to_num(table.loc[f"candidate:{k}", "ndcg@10"]))
    )
    valid = pd.read_parquet(job.validation_scores(best))
    problems = sanity_problems(candidates[best].feature_names_, valid["score"].to_numpy())
    latency = stage_latency(rec, market, candidates[best], s.seed)
    report = write_report(
        job.report_dir,
        f"retrain {job.day}: candidates vs champion on the held-out day",
        table,
        calibration_table(valid["score"].to_numpy(), valid["apply"].to_numpy()),
        candidates[best].feature_importance(),
        latency,
        extra={
            "best candidate": best,
            "champion": champion.label if champion else "none",
            "sanity problems": "; ".join(problems) or "none",
        },
    )
    return job.write(
        "evaluate",
        {
            "table": json.loads(table.to_json(orient="index")),
            "best": best,
            "champion_version": champion.version if champion else None,
            "sanity_problems": problems,
            "latency_ms": latency,
            "report": report,
        },
    )
