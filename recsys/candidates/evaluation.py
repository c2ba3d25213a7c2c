"""Employer-side ranking evaluation: the candidate ranker against the oracle and a baseline.

For each posting the whole discoverable pool is ranked three ways: by the candidate ranker's fit
model, by the baseline (title similarity plus a commute term: `BASELINE_RULES`), and by the
oracle's own values. Gains are the oracle's values (graded: the chance of an apply with a positive
answer), so the oracle's nDCG@k is 1 by construction; `drawn` labels are Bernoulli draws of those
values (what would happen), where the oracle scores below 1 and the ratio to it is the measure
the issue asks for. The oracle's values come from the caller (the simulator's ground truth lives
in `recsys.market.employer`, which this layer does not import).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from recsys.candidates.coarse import CoarseRules
from recsys.candidates.features import PairPostings
from recsys.candidates.pool import Posting
from recsys.candidates.recommender import CandidateRecommender
from recsys.evaluation.metrics import ndcg_at_k

#: the baseline ranking: title similarity plus the commute term, nothing learned
BASELINE_RULES: Final[CoarseRules] = CoarseRules(
    title=1.0, occupation=0.0, coverage=0.0, commute=1.0, seniority=0.0
)


def pool_scores(
    rec: CandidateRecommender,
    postings: Sequence[Posting],
    queries: np.ndarray,
    pool_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(ranker scores, baseline scores), each (postings x pool), for every pool seeker."""
    pool, emb = rec.index.pool, rec.index.embeddings[pool_rows]
    ranker = np.empty((len(postings), len(pool_rows)), np.float64)
    baseline = np.empty_like(ranker)
    for i, posting in enumerate(postings):
        similarity = emb @ np.asarray(queries[i], np.float32)
        ranker[i] = rec.fit_scores(posting, pool_rows, similarity)
        pairs = PairPostings.repeat(posting, len(pool_rows))
        baseline[i] = BASELINE_RULES.score(pool, pool_rows, pairs, similarity)
    return ranker, baseline


def ndcg_against_oracle(
    ranker: np.ndarray, baseline: np.ndarray, gains: np.ndarray, k: int = 10, seed: int = 0
) -> dict[str, Any]:
    """nDCG@k of the ranker, the baseline and the oracle (all postings x pool arrays), with
    graded gains and with drawn labels; ratios of the ranker to the oracle and to the baseline."""
    rng = np.random.default_rng(seed)
    drawn = (rng.random(gains.shape) < gains).astype(np.float64)
    orders = {
        "ranker": np.argsort(-ranker, axis=1, kind="stable"),
        "baseline": np.argsort(-baseline, axis=1, kind="stable"),
        "oracle": np.argsort(-gains, axis=1, kind="stable"),
    }
    out: dict[str, Any] = {}
    for label, values in (("expected", gains), ("drawn", drawn)):
        judged = values.sum(axis=1) > 0
        for name, order in orders.items():
            ranked = np.take_along_axis(values[judged], order[judged][:, : max(k, 1)], axis=1)
            score = ndcg_at_k(ranked, values[judged], k)
            out[f"{name} ndcg@{k} ({label})"] = (
                float(score.mean()) if judged.any() else float("nan")
            )
        oracle = out[f"oracle ndcg@{k} ({label})"]
        ranker_ndcg = out[f"ranker ndcg@{k} ({label})"]
        out[f"ranker / oracle ({label})"] = ranker_ndcg / oracle if oracle else float("nan")
        base = out[f"baseline ndcg@{k} ({label})"]
        out[f"ranker vs baseline ({label})"] = ranker_ndcg / base - 1.0 if base else float("nan")
        out[f"postings judged ({label})"] = int(judged.sum())
    out["postings"] = int(gains.shape[0])
    out["seekers"] = int(gains.shape[1])
    return out
