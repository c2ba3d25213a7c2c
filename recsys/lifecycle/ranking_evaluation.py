"""Ranking evaluation on a held-out day of the simulated market, against the whole-catalog oracle.

For a sample of the day's requests, recall and coarse ranking produce the ~500 candidates a fine
ranker would see; every policy orders those same candidates. The oracle ranks the whole open
catalog that passes the request's hard filters (plus anything recall reached past them, e.g. a
widened radius) by true relevance, so the ratios to it measure the pipeline end to end: what
recall and coarse lose counts, not only the fine order. `oracle_on_pool` orders the coarse pool
by true relevance: the best any fine ranker could do with that pool. Judged with the market's
ground truth: nDCG@10 with true relevance as the gain (the ideal from the whole catalog), MRR and
AUC against intent labels drawn from it, apply rate@10 (expected applies per shown item under
the examination model), and the share of the oracle's top 50 still present after recall, after
coarse, and in each policy's own top 50 (`top50 after recall|coarse`, `top50 kept`).

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
from recsys.core.context import RequestContext, request_context
from recsys.core.histories import ReplayedHistories
from recsys.core.profiles import seeker_profile
from recsys.evaluation.metrics import grouped_auc, ndcg_at_k, reciprocal_rank
from recsys.market.behaviour import examination
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.ranking.features import FEATURE_INDEX, job_features
from recsys.ranking.fine import ApplyRateModel
from recsys.ranking.position_bias import estimated_examination
from recsys.recall.stage import index_filter

METRICS = ("ndcg@10", "mrr", "auc", "apply_rate@10")
#: the oracle's top this many: the share of them each stage keeps is reported.
TOP_KEPT = 50
KEPT_COLUMNS = (
    f"top{TOP_KEPT} after recall",
    f"top{TOP_KEPT} after coarse",
    f"top{TOP_KEPT} kept",
)


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
    scores["oracle_on_pool"] = relevance
    return scores


def _stage_pools(recommender: Recommender, ctx: RequestContext) -> tuple[Candidates, Candidates]:
    """The recall pool and the coarse pool of one request, each stage run once."""
    names = [s.name for s in recommender.stages]
    recalled = recommender.run_through(ctx, "recall")
    pool = recalled
    for stage in recommender.stages[names.index("recall") + 1 : names.index("coarse") + 1]:
        pool = stage(ctx, pool)
    return recalled, pool


def _reachable(recommender: Recommender, ctx: RequestContext, recalled: Candidates) -> np.ndarray:
    """Catalog rows the oracle ranks: open jobs passing the request's hard filters, and any
    row recall reached past them (so no policy can beat the oracle)."""
    ids = recommender.index.allowed_job_ids(index_filter(ctx))
    rows = recommender.catalog.rows_of(ids)
    return np.union1d(rows[rows >= 0], recalled.rows)


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
    state.refresh_popularity(recommender.catalog, np.datetime64(start + timedelta(days=day), "s"))
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
        recalled, cands = _stage_pools(recommender, ctx)
        if len(cands) < k:
            continue
        features = job_features(ctx, recommender.catalog, cands)
        when = float(market.day_of(np.array([now]))[0])
        reach = _reachable(recommender, ctx, recalled)
        reach_rel = market.model.relevance(np.full(len(reach), row), reach, when)
        by_truth = np.argsort(-reach_rel, kind="stable")
        top = reach[by_truth[:TOP_KEPT]]
        ideal = reach_rel[by_truth[:k]]
        stage_kept = [np.isin(top, recalled.rows).mean(), np.isin(top, cands.rows).mean()]
        pool_of = np.searchsorted(reach, cands.rows)
        rel = reach_rel[pool_of]
        reach_intent = (rng.random(len(reach)) < reach_rel).astype(float)
        intent = reach_intent[pool_of]
        scores = _policy_scores(models, cands, features, rel)
        for name, score in scores.items():
            order = np.argsort(-score, kind="stable")
            _add(
                per_policy,
                name,
                rel[order[:k]],
                ideal,
                intent[order],
                _auc(intent, score),
                [*stage_kept, np.isin(top, cands.rows[order[:TOP_KEPT]]).mean()],
            )
        _add(
            per_policy,
            "oracle",
            ideal,
            ideal,
            reach_intent[by_truth],
            _auc(reach_intent, reach_rel),
            [*stage_kept, 1.0],
        )
    return _summarise(per_policy, k)


def _add(
    per_policy: dict[str, dict[str, list[np.ndarray]]],
    name: str,
    gain: np.ndarray,
    ideal: np.ndarray,
    intent: np.ndarray,
    auc: float,
    kept: list[float],
) -> None:
    m = per_policy.setdefault(name, {"gain": [], "ideal": [], "intent": [], "auc": [], "kept": []})
    m["gain"].append(gain)
    m["ideal"].append(ideal)
    m["intent"].append(intent)
    m["auc"].append(np.array([auc]))
    m["kept"].append(np.asarray(kept, np.float64))


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
            **dict(zip(KEPT_COLUMNS, np.stack(m["kept"]).mean(axis=0).tolist(), strict=True)),
            "requests": len(gain),
        }
    table = pd.DataFrame(rows).T
    if "oracle" in table.index:
        for metric in METRICS:
            table[f"{metric} / oracle"] = table[metric] / table.loc["oracle", metric]
    return table


def position_bias_table(model: ApplyRateModel, X: np.ndarray, n_slots: int) -> pd.DataFrame:
    """The model's examination estimate next to the simulator's true curve, per slot (both
    relative to slot 0), with the absolute error."""
    true = examination(np.arange(n_slots))
    frame = pd.DataFrame(
        {"estimated": estimated_examination(model, X, n_slots), "true": true / true[0]},
        index=pd.RangeIndex(n_slots, name="slot"),
    )
    frame["abs error"] = (frame["estimated"] - frame["true"]).abs()
    return frame
