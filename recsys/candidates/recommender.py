"""`CandidateRecommender`: the seekers for one posting, through the employer side's four stages.

    recall   the seeker index: title similarity under the hard filters     (~recall_k)
    coarse   `CoarseRules`, cut to coarse_k
    fine     the GBDT fit model over `pair_features` (P(apply and a positive answer)); without a
             model the coarse order stands
    rerank   `CandidateRerank` (activity, diversity) and the exposure cap, then the top k with
             their reasons

Every stage is columnar over seeker rows; only the served k are explained in Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from recsys.candidates.coarse import CoarseRules
from recsys.candidates.features import PairPostings, pair_features
from recsys.candidates.fit_model import FitModel
from recsys.candidates.pool import Posting
from recsys.candidates.reasons import CandidateReasons, explain
from recsys.candidates.rerank import CandidateRerank, ExposureLedger
from recsys.candidates.seeker_index import DEFAULT_LEVEL_BAND, SeekerFilter, SeekerIndex


@dataclass(frozen=True)
class CandidateConfig:
    """Stage cuts and the seniority band of the hard filters."""

    recall_k: int = 2_000
    coarse_k: int = 300
    level_band: tuple[int, int] = DEFAULT_LEVEL_BAND


@dataclass
class CandidateList:
    """The served seekers of one request, best first, with what each stage took."""

    rows: np.ndarray
    scores: np.ndarray
    fit: np.ndarray
    reasons: list[CandidateReasons]
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class CandidateRecommender:
    """The four stages over one seeker index (module docstring)."""

    def __init__(
        self,
        index: SeekerIndex,
        ranker: FitModel | None = None,
        rules: CoarseRules | None = None,
        rerank: CandidateRerank | None = None,
        config: CandidateConfig | None = None,
        ledger: ExposureLedger | None = None,
    ):
        self.index = index
        self.ranker = ranker
        self.rules = rules or CoarseRules()
        self.rerank = rerank or CandidateRerank()
        self.config = config or CandidateConfig()
        self.ledger = ledger if ledger is not None else ExposureLedger(len(index.pool))

    def with_ranker(self, ranker: FitModel | None) -> CandidateRecommender:
        """This recommender with another fit model (the index and exposure ledger are shared)."""
        out = CandidateRecommender(self.index, ranker, self.rules, self.rerank, self.config)
        out.ledger = self.ledger
        return out

    def fit_scores(self, posting: Posting, rows: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """The fit model's scores for seeker rows (the coarse score without a model)."""
        pool, postings = self.index.pool, PairPostings.repeat(posting, len(rows))
        coarse = self.rules.score(pool, rows, postings, similarity)
        if self.ranker is None:
            return coarse
        return self.ranker.predict(pair_features(pool, rows, postings, similarity, coarse))

    def recommend(
        self,
        posting: Posting,
        query: np.ndarray,
        k: int,
        now: np.datetime64,
        radius_km: float | None = None,
        employer: str = "",
        exclude_rows: np.ndarray | None = None,
    ) -> CandidateList:
        """The top `k` seekers for `posting` (`query`: its title embedding) as of `now`."""
        pool, cfg = self.index.pool, self.config
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        filters = SeekerFilter(radius_km, cfg.level_band, exclude_rows)
        rows, similarity = self.index.search(query, cfg.recall_k, posting, filters)
        t1 = time.perf_counter()
        timings["recall"] = (t1 - t0) * 1e3
        n_recall = len(rows)
        postings = PairPostings.repeat(posting, len(rows))
        order, _ = self.rules.cut(pool, rows, postings, similarity, cfg.coarse_k)
        rows, similarity = rows[order], similarity[order]
        t2 = time.perf_counter()
        timings["coarse"] = (t2 - t1) * 1e3
        fit = self.fit_scores(posting, rows, similarity)
        t3 = time.perf_counter()
        timings["fine"] = (t3 - t2) * 1e3
        inactive = pool.days_inactive(rows, now)
        final = self.rerank.adjust(pool, rows, fit.astype(np.float64), inactive)
        blocked = self.ledger.blocked(rows, employer, self.rerank.exposure_cap, now)
        final = np.where(blocked, -np.inf, final)
        keep = min(k, int(np.count_nonzero(~blocked)))
        best = np.argsort(-final, kind="stable")[:keep]
        served = rows[best]
        self.ledger.record(served, employer, now)
        t4 = time.perf_counter()
        timings["rerank"] = (t4 - t3) * 1e3
        reasons = explain(posting, pool, served, inactive[best])
        timings["reasons"] = (time.perf_counter() - t4) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        counts = {"recall": n_recall, "coarse": len(rows), "blocked": int(blocked.sum())}
        return CandidateList(served, final[best], fit[best], reasons, timings, counts)


__all__ = ["CandidateConfig", "CandidateList", "CandidateRecommender"]
