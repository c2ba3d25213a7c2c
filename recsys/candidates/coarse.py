"""The coarse rules: a weighted sum of the cheap fit signals over the recall set, cut to
`coarse_k` before the GBDT scores the rest.

The weights follow what an employer screens first: the title (the recall score), how close the
inferred occupations are in the taxonomy, the share of the
posting's required skills the seeker has, the commute (remote postings and relocating seekers pay
none) and the seniority gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.candidates.features import (
    PairPostings,
    distance_km,
    occupation_distance,
    skill_overlap,
)
from recsys.candidates.pool import SeekerPool
from recsys.data.taxonomy import MAX_DISTANCE


@dataclass(frozen=True)
class CoarseRules:
    """Weights of the coarse score; `commute_km` is the e-folding distance of the commute term."""

    title: float = 1.0
    occupation: float = 1.0
    coverage: float = 1.0
    commute: float = 0.5
    seniority: float = 0.3
    commute_km: float = 50.0

    def score(
        self, pool: SeekerPool, rows: np.ndarray, postings: PairPostings, recall: np.ndarray
    ) -> np.ndarray:
        """Coarse score per (seeker row, posting) pair, higher is better."""
        required = np.asarray(postings.skills.sum(axis=1)).ravel()
        distance, _ = occupation_distance(pool, rows, postings)
        same_field = 1.0 - distance / (MAX_DISTANCE + 1.0)
        coverage = skill_overlap(pool, rows, postings) / np.maximum(required, 1.0)
        km = np.nan_to_num(distance_km(pool, rows, postings), nan=10_000.0)
        near = np.exp(-km / self.commute_km)
        commute = np.where(postings.remote | pool.willing_to_relocate[rows], 1.0, near)
        level = pool.level[rows].astype(np.float64)
        gap = np.where((level >= 0) & (postings.seniority >= 0), postings.seniority - level, 0.0)
        return (
            self.title * recall
            + self.occupation * same_field
            + self.coverage * coverage
            + self.commute * commute
            + self.seniority * np.exp(-(gap**2) / 2.0)
        )

    def cut(
        self,
        pool: SeekerPool,
        rows: np.ndarray,
        postings: PairPostings,
        recall: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `k` positions into `rows` by coarse score and their scores, best first."""
        scores = self.score(pool, rows, postings, recall)
        if k >= len(rows):
            order = np.argsort(-scores, kind="stable")
        else:
            part = np.argpartition(-scores, k - 1)[:k]
            order = part[np.argsort(-scores[part], kind="stable")]
        return order, scores[order]
