"""Policy rerank: freshness and employer boosts, near-duplicate collapse, a per-company cap and
optional MMR diversity, applied to the fine ranking before the top k is served."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.core.candidates import Candidates
from recsys.core.catalog import ServingCatalog
from recsys.core.context import RequestContext
from recsys.ranking import signals
from recsys.ranking.balance import CongestionBalance
from recsys.settings import Settings


@dataclass(frozen=True)
class RerankPolicy:
    """The business policy; the defaults are the settings' (RECSYS_RERANK_*)."""

    max_per_company: int
    freshness_boost: float
    rating_boost: float
    mmr_lambda: float | None

    @classmethod
    def from_settings(cls, s: Settings) -> RerankPolicy:
        return cls(
            s.rerank_max_per_company,
            s.rerank_freshness_boost,
            s.rerank_rating_boost,
            s.rerank_mmr_lambda,
        )


def boosted(score: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """`score` raised by the fraction `boost` of its own size, whatever its sign.

    `score * (1 + boost)` only works for positive scores: a lambdarank margin is often
    negative, and multiplying it pushes the boosted (fresh, well-rated) jobs down instead.
    """
    return score + np.abs(score) * boost


def first_of_each(keys: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each key, in their original order."""
    _, first = np.unique(keys, return_index=True)
    return np.sort(first)


def rank_within_group(groups: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions share its group (0 for the first)."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    sizes = np.diff(np.r_[start, len(g)])
    rank_sorted = np.arange(len(g)) - np.repeat(start, sizes)
    out = np.empty(len(g), dtype=np.int64)
    out[order] = rank_sorted
    return out


#: the per-company cap holds within each page of this many results.
PAGE_SIZE = 20


def capped_pages(groups: np.ndarray, cap: int, k: int, page: int = PAGE_SIZE) -> np.ndarray:
    """An order of positions in which every page of `page` items holds at most `cap` of a group.

    Each page takes the best remaining items within the cap; what is left follows in its order.
    A long list (k=100) keeps a chain's many good postings, spread over the pages, instead of
    pushing all but two of them past the end. Loops over pages only (k / page of them).
    """
    remaining = np.arange(len(groups))
    out: list[np.ndarray] = []
    taken = 0
    while taken < k and len(remaining):
        fits = remaining[rank_within_group(groups[remaining]) < cap][:page]
        out.append(fits)
        taken += len(fits)
        remaining = remaining[~np.isin(remaining, fits)]
    return np.concatenate([*out, remaining]).astype(np.int64)


class RerankStage:
    """Final ordering under the business policy; returns the top `ctx.k`."""

    name = "rerank"

    def __init__(
        self,
        catalog: ServingCatalog,
        policy: RerankPolicy,
        balance: CongestionBalance | None = None,
    ):
        self.catalog = catalog
        self.policy = policy
        #: the congestion-aware shift (marketplace balance); None: off
        self.balance = balance

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates:
        if len(candidates) == 0:
            return candidates
        cat, p, rows = self.catalog, self.policy, candidates.rows
        base = candidates.scores.get("fine", candidates.scores.get("coarse"))
        assert base is not None, "rerank needs a fine or coarse score"
        fresh = signals.freshness(signals.job_age_days(ctx, cat, rows))
        rating = np.nan_to_num((cat.arrays.employer_rating[rows] - 3.0) / 2.0)
        final = boosted(base, p.freshness_boost * fresh + p.rating_boost * rating)
        if self.balance is not None:
            final = self.balance.adjusted(cat, rows, final)
        ranked = candidates.with_score("final", final.astype(np.float32)).top("final", len(rows))
        ranked = ranked.take(first_of_each(cat.duplicate_key[ranked.rows]))
        ranked = ranked.take(capped_pages(cat.company[ranked.rows], p.max_per_company, ctx.k))
        if p.mmr_lambda is not None:
            ranked = self._mmr(ranked, ctx.k, p.mmr_lambda)
        return ranked.take(np.arange(min(ctx.k, len(ranked))))

    def _mmr(self, ranked: Candidates, k: int, lam: float) -> Candidates:
        """Maximal marginal relevance over the top 3k: a loop over the k output slots only."""
        pool = ranked.take(np.arange(min(3 * k, len(ranked))))
        emb = self.catalog.embeddings[pool.rows]
        rel = pool.scores["final"]
        rel = (rel - rel.min()) / max(float(rel.max() - rel.min()), 1e-9)
        chosen: list[int] = []
        max_sim = np.full(len(pool), -np.inf, dtype=np.float32)
        for _ in range(min(k, len(pool))):
            redundancy = np.where(np.isfinite(max_sim), max_sim, 0.0)
            gain = lam * rel - (1 - lam) * redundancy
            gain[chosen] = -np.inf
            best = int(np.argmax(gain))
            chosen.append(best)
            max_sim = np.maximum(max_sim, emb @ emb[best])
        rest = np.setdiff1d(np.arange(len(ranked)), chosen, assume_unique=True)
        return ranked.take(np.r_[np.array(chosen, dtype=np.int64), rest])
