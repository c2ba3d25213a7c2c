"""Ranking metrics: hand-checked values, then a cross-check against ranx on random runs."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.evaluation import metrics


def test_reciprocal_rank_hand_checked() -> None:
    rel = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert metrics.reciprocal_rank(rel).tolist() == [1 / 3, 1.0, 0.0]


def test_average_precision_counts_unretrieved_relevant() -> None:
    # relevant at ranks 1 and 3, a third relevant item never retrieved: (1 + 2/3) / 3
    rel = np.array([1, 0, 1, 0])
    assert metrics.average_precision(rel, 3) == pytest.approx((1 + 2 / 3) / 3)


def test_ndcg_hand_checked() -> None:
    rel = np.array([1, 2, 0])
    ideal = np.array([2, 1, 1])
    dcg = 1 + 2 / np.log2(3)
    idcg = 2 + 1 / np.log2(3) + 1 / np.log2(4)
    assert metrics.ndcg_at_k(rel, ideal, 3) == pytest.approx(dcg / idcg)
    assert metrics.ndcg_at_k(np.zeros(3), np.zeros(3), 3) == 0.0


def test_recall_and_precision() -> None:
    rel = np.array([1, 0, 1, 1])
    assert metrics.recall_at_k(rel, 4, 2) == pytest.approx(0.25)
    assert metrics.precision_at_k(rel, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k must be"):
        metrics.precision_at_k(rel, 0)


def test_auc_with_ties_and_groups() -> None:
    assert metrics.auc([1, 0, 1, 0], [0.9, 0.1, 0.5, 0.5]) == pytest.approx(0.875)
    assert np.isnan(metrics.auc([1, 1], [0.2, 0.3]))
    groups = np.array(["a", "a", "b", "b", "c"])
    out = metrics.grouped_auc(
        groups, np.array([1, 0, 0, 1, 1]), np.array([0.9, 0.1, 0.8, 0.2, 0.5])
    )
    assert out[:2].tolist() == [1.0, 0.0] and np.isnan(out[2])


@pytest.mark.slow  # ranx compiles its metrics with numba on first use: a minute on 2 cores
def test_metrics_agree_with_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(3)
    n_q, n_docs, depth = 40, 60, 30
    grades = rng.integers(0, 3, size=(n_q, n_docs)) * (rng.random((n_q, n_docs)) < 0.2)
    grades[:, 0] = np.maximum(grades[:, 0], 1)  # every query has something relevant
    scores = rng.random((n_q, n_docs))
    order = np.argsort(-scores, axis=1)[:, :depth]
    ranked = np.take_along_axis(grades, order, axis=1)
    n_rel = (grades >= 1).sum(axis=1)
    ours = {
        "mrr": metrics.reciprocal_rank(ranked).mean(),
        "map": metrics.average_precision(ranked, n_rel).mean(),
        "ndcg@10": metrics.ndcg_at_k(ranked, grades, 10).mean(),
        "recall@10": metrics.recall_at_k(ranked, n_rel, 10).mean(),
    }
    qrels = ranx.Qrels(
        {
            f"q{q}": {f"d{d}": int(grades[q, d]) for d in np.flatnonzero(grades[q])}
            for q in range(n_q)
        }
    )
    run = ranx.Run({f"q{q}": {f"d{d}": float(scores[q, d]) for d in order[q]} for q in range(n_q)})
    theirs = ranx.evaluate(qrels, run, list(ours))
    for name, value in ours.items():
        assert value == pytest.approx(theirs[name], abs=1e-9), name
