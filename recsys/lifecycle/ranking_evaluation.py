"""Ranking evaluation on a held-out day of the simulated market, against the oracle.

For a sample of the day's requests, recall and coarse ranking produce the ~500 candidates a fine
ranker would see; every policy orders those same candidates and is judged with the market's
ground truth: nDCG@10 with true relevance as the gain, MRR and AUC against intent labels drawn
from it, and apply rate@10 (expected applies per shown item under the examination model). Each
policy is also reported as a ratio of the oracle, which orders by true relevance.

The retrain's `evaluate` step runs it, and so does `recsys evaluate ranking` (through
`recsys.offline.market_service`), so it lives here, below the offline harnesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.core.candidates import Candidates
from recsys.core.context import request_context
from recsys.core.histories import ReplayedHistories
from recsys.core.profiles import seeker_profile
from recsys.evaluation.metrics import grouped_auc, ndcg_at_k, reciprocal_rank
from recsys.market.behaviour import examination
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.ranking.features import FEATURE_INDEX, job_features
from recsys.ranking.fine import ApplyRateModel

METRICS = ("ndcg@10", "mrr", "auc", "apply_rate@10")


def _policy_scores(
    models: Mapping[str, ApplyRateModel],
    cands: Candidates,
    features: np.ndarray,
    relevance: np.ndarray,
) -> dict[str, np.ndarray]:
    scores = {
        "popularity": features[:, FEATURE_INDEX["popularity"]],
        "coarse": cands.scores["coarse"],
    }
    for name, model in models.items():
        scores[name] = np.asarray(model.predict(features), dtype=np.float64)
    scores["oracle"] = relevance
    return scores


def evaluate_ranking(
    market: Market,
    events_root: Path,
    recommender: Recommender,
    models: Mapping[str, ApplyRateModel],
    day: int,
    n_requests: int = 400,
    k: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per policy with METRICS and their ratios to the oracle.

    Histories and popularity are rebuilt from the events before `day`, as the service would
    have had them; the requests are those logged on `day`.
    """
    start = market.config.start
    history = read_events(events_root, None, start + timedelta(days=day - 1))
    state = ReplayedHistories()
    state.observe(market.seekers, history)
    recommender.catalog.reset_popularity(history)
    today = read_events(events_root, start + timedelta(days=day), start + timedelta(days=day))
    requests = today[today["type"] == "impression"].drop_duplicates("request_id")
    if requests.empty:
        raise ValueError(f"no requests logged on day {day} ({start + timedelta(days=day)})")
    requests = requests.sample(min(n_requests, len(requests)), random_state=seed)
    seeker_row = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    rng = np.random.default_rng(seed)
    per_policy: dict[str, dict[str, list[np.ndarray]]] = {}
    for req in requests.itertuples(index=False):
        row = int(seeker_row[req.user_id])
        now = np.datetime64(req.ts.tz_localize(None), "s")
        ctx = request_context(
            seeker_profile(market.seekers, row),
            now,
            k=k,
            user_id=req.user_id,
            history=state.history(market.seekers, row, now),
            request_id=req.request_id,
        )
        cands = recommender.run_through(ctx, "coarse")
        if len(cands) < k:
            continue
        features = job_features(ctx, recommender.catalog, cands)
        rel = market.model.relevance(
            np.full(len(cands), row), cands.rows, float(market.day_of(np.array([now]))[0])
        )
        intent = (rng.random(len(rel)) < rel).astype(float)
        for name, score in _policy_scores(models, cands, features, rel).items():
            order = np.argsort(-score, kind="stable")
            m = per_policy.setdefault(name, {"gain": [], "ideal": [], "intent": [], "auc": []})
            m["gain"].append(rel[order[:k]])
            m["ideal"].append(np.sort(rel)[::-1][:k])
            m["intent"].append(intent[order])
            m["auc"].append(np.array([_auc(intent, score)]))
    return _summarise(per_policy, k)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(grouped_auc(np.zeros(len(labels)), labels, scores)[0])


def _summarise(per_policy: dict[str, dict[str, list[np.ndarray]]], k: int) -> pd.DataFrame:
    exam = examination(np.arange(k))
    rows = {}
    for name, m in per_policy.items():
        gain, ideal = np.stack(m["gain"]), np.stack(m["ideal"])
        depth = min(len(x) for x in m["intent"])
        intent = np.stack([x[:depth] for x in m["intent"]])
        rows[name] = {
            "ndcg@10": float(ndcg_at_k(gain, ideal, k).mean()),
            "mrr": float(reciprocal_rank(intent).mean()),
            "auc": float(np.nanmean(np.concatenate(m["auc"]))),
            "apply_rate@10": float((gain * exam).sum(axis=1).mean() / k),
            "requests": len(gain),
        }
    table = pd.DataFrame(rows).T
    if "oracle" in table.index:
        for metric in METRICS:
            table[f"{metric} / oracle"] = table[metric] / table.loc["oracle", metric]
    return table
