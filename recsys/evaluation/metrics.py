"""Ranking metrics as pure numpy functions.

Every ranking metric takes `relevances`: the graded relevance of the retrieved items in rank
order, ranking along the last axis. A 1-D array is one query; a 2-D array (queries x depth) is
many queries at once and gives one value per query, so evaluating thousands of queries is a
handful of vector operations. Pad short rankings with 0 (not relevant).

Conventions follow trec_eval and ranx so numbers are comparable with published ones:
binary metrics (MRR, MAP, Recall@k, Precision@k) count an item as relevant when its grade is at
least `threshold`; nDCG uses the grades themselves as gains (Jarvelin and Kekalainen), with the
ideal ranking built from all judged grades; MAP and Recall divide by the number of relevant items
in the judgements (`n_relevant`), not by the number retrieved, so a relevant item that was never
retrieved still costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def _as_float(relevances: np.ndarray) -> np.ndarray:
    return np.asarray(relevances, dtype=np.float64)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray | int) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a query with nothing relevant)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape))
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def hits(relevances: np.ndarray, threshold: float = 1) -> np.ndarray:
    """Boolean mask of the retrieved items that count as relevant for binary metrics."""
    return _as_float(relevances) >= threshold


def reciprocal_rank(relevances: np.ndarray, threshold: float = 1) -> np.ndarray:
    """1 / rank of the first relevant item; 0 when none was retrieved. Mean over queries = MRR."""
    hit = hits(relevances, threshold)
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), 1.0 / (first + 1), 0.0)


def precision_at_k(relevances: np.ndarray, k: int, threshold: float = 1) -> np.ndarray:
    """Relevant items in the top k divided by k (a ranking shorter than k is padded with misses)."""
    _check_k(k)
    return hits(relevances, threshold)[..., :k].sum(axis=-1) / k


def recall_at_k(
    relevances: np.ndarray, n_relevant: np.ndarray | int, k: int, threshold: float = 1
) -> np.ndarray:
    """Relevant items in the top k divided by all relevant items in the judgements."""
    _check_k(k)
    return _safe_divide(hits(relevances, threshold)[..., :k].sum(axis=-1), n_relevant)


def average_precision(
    relevances: np.ndarray, n_relevant: np.ndarray | int, threshold: float = 1
) -> np.ndarray:
    """Mean of precision@i over the ranks i of relevant items; unretrieved relevant items add 0.

    Mean over queries = MAP. Computed over the whole given ranking (its depth is the cut-off).
    """
    hit = hits(relevances, threshold)
    ranks = np.arange(1, hit.shape[-1] + 1)
    precision = np.cumsum(hit, axis=-1) / ranks
    return _safe_divide((precision * hit).sum(axis=-1), n_relevant)


def dcg_at_k(gains: np.ndarray, k: int) -> np.ndarray:
    """Discounted cumulative gain: sum of gain_i / log2(i + 1) over ranks i = 1..k."""
    _check_k(k)
    top = _as_float(gains)[..., :k]
    discounts = 1.0 / np.log2(np.arange(2, top.shape[-1] + 2))
    return (top * discounts).sum(axis=-1)


def ndcg_at_k(relevances: np.ndarray, ideal_relevances: np.ndarray, k: int) -> np.ndarray:
    """DCG@k of the ranking divided by DCG@k of the ideal ranking (0 when nothing is relevant).

    `ideal_relevances` holds the judged grades of the query (any order; they are sorted here).
    """
    ideal = -np.sort(-_as_float(ideal_relevances), axis=-1)
    return _safe_divide(dcg_at_k(relevances, k), dcg_at_k(ideal, k))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC: the chance that a random positive outscores a random negative (ties count half).

    Uses the Mann-Whitney rank formulation, so it is exact with ties and O(n log n). Returns NaN
    when only one class is present, where AUC is undefined.
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def grouped_auc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC within each group (e.g. each request's impressions); NaN for one-class groups.

    Returned in the order of `np.unique(groups)`. Ranking is judged within a request, so a model
    is not rewarded for telling busy requests from quiet ones; average with np.nanmean.
    """
    frame = pd.DataFrame(
        {"g": np.asarray(groups), "y": np.asarray(labels).astype(bool), "s": scores}
    )
    frame["rank"] = frame.groupby("g")["s"].rank(method="average")
    frame["pos_rank"] = frame["rank"].where(frame["y"], 0.0)
    per = frame.groupby("g").agg(n=("y", "size"), n_pos=("y", "sum"), rank_sum=("pos_rank", "sum"))
    n_pos = per["n_pos"].to_numpy(np.float64)
    n_neg = per["n"].to_numpy(np.float64) - n_pos
    u = per["rank_sum"].to_numpy() - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
