"""The retrain's candidate-ranker step: train, evaluate against the champion, gate, register.

On the retrain's day D of the simulated market: the fit model is trained on the logged days
before D (`recsys.lifecycle.candidate_training`), the challenger and the current champion of
`candidate-ranker` are evaluated on D's postings against the oracle (employer side nDCG@10 over
each posting's discoverable pool, next to the baseline), the run is logged to MLflow and
registered, and the same gate as the apply ranker's (`recsys.lifecycle.promotion.decide`) moves
the `champion` alias or keeps it. The report is written as the apply ranker's is
(`recsys.evaluation.report.write_report`), under `<retrain day>/candidate_report/`.
Idempotent per date: a date already decided returns its recorded result.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from recsys.candidates.fit_model import FitModel
from recsys.candidates.recommender import CandidateRecommender
from recsys.data.taxonomy import load_taxonomy
from recsys.evaluation.report import calibration_table, write_report
from recsys.lifecycle.candidate_training import (
    CandidateData,
    candidate_table,
    evaluate_candidates,
    train_candidate_model,
)
from recsys.lifecycle.promotion import decide
from recsys.lifecycle.retrain_job import RetrainJob
from recsys.market.market import Market
from recsys.market.traffic import live_jobs
from recsys.pipeline.build import serving_encoder
from recsys.recall.encoder import TitleEncoder
from recsys.registry.mlflow_registry import CHALLENGER, CHAMPION
from recsys.service.candidates import CANDIDATE_MODEL, load_candidate_champion

log = logging.getLogger(__name__)
#: the nDCG the gate compares (graded gains: the oracle's values)
GATE_METRIC = "ranker ndcg@10 (expected)"
#: postings sampled from the held-out day for the evaluation
EVAL_POSTINGS = 200


def _problems(model: FitModel, scores: np.ndarray) -> list[str]:
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    return [f"{bad} of {len(scores)} scores are NaN or infinite"] if bad else []


def candidate_latency(
    data: CandidateData, model: FitModel, day: int, n: int = 30
) -> dict[str, float]:
    """Median and p99 ms of one candidates request (k 20) for `n` postings live on `day`."""
    rng = np.random.default_rng(day)
    live = live_jobs(data.market, day + 0.5)
    rows = rng.choice(live, min(n, len(live)), replace=False)
    rec = CandidateRecommender(data.index(), model)
    now = data.market.start + np.timedelta64(int((day + 0.5) * 86_400), "s")
    totals = []
    for row in rows.tolist():
        out = rec.recommend(data.posting(row), data.job_embeddings[row], 20, now, employer=str(row))
        totals.append(out.timings_ms["total"])
    return {
        "candidates p50": float(np.median(totals)),
        "candidates p99": float(np.percentile(totals, 99)),
    }


def candidate_ranker(job: RetrainJob) -> dict[str, Any]:
    """Train, evaluate, register and gate the candidate ranker for the job's date."""
    done = job.folder / "candidate_ranker.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    s = job.settings
    taxonomy = load_taxonomy(s.data_dir)
    market = Market.load(job.market_dir, taxonomy)
    encoder = TitleEncoder.load(serving_encoder(s))
    data = CandidateData.build(market, s.event_log_dir, encoder, s.artifacts_dir)
    day = (job.day - market.config.start).days
    try:
        model, stats = train_candidate_model(data, day, seed=s.seed)
    except ValueError as exc:  # no employer answers logged yet: nothing to learn, not a failure
        log.warning("retrain %s: candidate ranker not trained: %s", job.day, exc)
        return job.write("candidate_ranker", {"trained": False, "reason": str(exc)})
    out = job.folder / "candidate_ranker"
    model.save(out)
    registry = job.registry()
    champion = registry.by_alias(CANDIDATE_MODEL, CHAMPION)
    models: dict[str, FitModel | None] = {"challenger": model, "coarse rules": None}
    if champion is not None:
        loaded = load_candidate_champion(registry)
        if loaded is not None:
            models["champion"] = loaded[0]
    results = evaluate_candidates(data, models, day, EVAL_POSTINGS, seed=s.seed)
    table = candidate_table(results)
    held = data.training_set(day, day)
    scores = model.predict(held.X) if len(held) else np.zeros(0, np.float32)
    problems = _problems(model, scores)
    report = write_report(
        job.folder / "candidate_report",
        f"retrain {job.day}: candidate ranker vs champion on the held-out day",
        table,
        calibration_table(scores, held.positive) if len(held) else pd.DataFrame(),
        model.feature_importance()["apply"],
        candidate_latency(data, model, day),
        extra={
            "training": stats,
            "champion": champion.label if champion else "none",
            "sanity problems": "; ".join(problems) or "none",
        },
    )
    challenger = results["challenger"]
    run_id = registry.log_run(
        CANDIDATE_MODEL,
        f"candidate-ranker {job.day}",
        params={"until": job.day, "rows": stats["rows"], "kind": "lightgbm x2"},
        metrics={
            k.replace(" ", "_").replace("/", "over").replace("(", "").replace(")", ""): float(v)
            for k, v in challenger.items()
            if isinstance(v, int | float)
        },
        artifacts={"model": out, "report": job.folder / "candidate_report"},
        tags={"retrain_date": job.day.isoformat()},
    )
    version = registry.register(
        CANDIDATE_MODEL,
        run_id,
        tags={
            "retrain_date": job.day.isoformat(),
            "heldout_ndcg_at_10": f"{challenger[GATE_METRIC]:.6f}",
        },
    )
    registry.set_alias(CANDIDATE_MODEL, CHALLENGER, version.version)
    current = results.get("champion", {}).get(GATE_METRIC)
    decision = decide(challenger[GATE_METRIC], current, s.promotion_margin, problems)
    registry.set_version_tag(CANDIDATE_MODEL, version.version, "decision", decision.reason)
    if decision.promote:
        registry.set_alias(CANDIDATE_MODEL, CHAMPION, version.version)
        registry.delete_alias(CANDIDATE_MODEL, CHALLENGER)
    log.info(
        "retrain %s: candidate-ranker version %s %s", job.day, version.version, decision.reason
    )
    payload = {
        "trained": True,
        "version": version.version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "champion": version.version
        if decision.promote
        else (champion.version if champion else None),
        "table": json.loads(table.to_json(orient="index")),
        "training": stats,
        "report": str(report),
    }
    return job.write("candidate_ranker", payload)
