"""Congestion-aware rerank: reorder near-equally relevant jobs toward those short of applies.

Ranking by apply rate alone sends the applies to the same few postings: they are shown most, so
they are applied to most, so they look best. LinkedIn's job application redistribution work
counters this in the rerank with a per-job congestion signal; this is the same idea, bounded so
that it only moves exposure among candidates the ranker cannot tell apart.

A seeker applies with examination(slot) * relevance, whatever the job already has (the simulated
market, `recsys.market.behaviour`, has no congestion effect on seekers), so every swap of a more
relevant job below a less relevant one costs applies. A multiplicative factor on the score (the
first version: `((need + 1) / (applies + 1)) ** strength`, up to x2) lifts a starved job past many
better ones and cost 13% of the applies. Here each score is shifted instead by

    shift = strength * spread * pressure,   pressure = clip(log((need + 1) / (applies + 1))
                                                           / log(max_factor), -1, 1)

`spread` the standard deviation of the list's scores, so two jobs can only trade places when
their scores are within `2 * strength * spread` of each other: a job at its need is left alone,
one short of it (pressure up to +1 at `max_factor` times short) moves ahead of slightly better
ones, one past it moves behind slightly worse ones. The shift is additive, so it works the same
for negative scores (a lambdarank margin), which a multiplier would push the wrong way.
`applies` are the catalog's counters (the online store's window, the closed loop's); `need` is a
per-row array when the board knows it (the simulator's `recsys.market.needs`), else one default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.core.catalog import ServingCatalog
from recsys.settings import Settings


@dataclass
class CongestionBalance:
    """The balancing shift; `needs` is row-aligned with the catalog or None (the default)."""

    #: the largest shift, in standard deviations of the list's scores (0: off)
    strength: float
    #: how many times short of (or past) its need a job is when its pressure saturates at +-1
    max_factor: float
    default_need: float
    needs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.strength < 0:
            raise ValueError(f"balance strength must be >= 0, got {self.strength}")
        if self.max_factor <= 1:
            raise ValueError(f"balance max_factor must be > 1, got {self.max_factor}")

    @classmethod
    def from_settings(cls, s: Settings, needs: np.ndarray | None = None) -> CongestionBalance:
        return cls(
            s.rerank_balance_strength, s.rerank_balance_max_factor, s.rerank_balance_need, needs
        )

    def need_of(self, rows: np.ndarray) -> np.ndarray:
        """Applies wanted by each row; rows past the known needs (new postings) get the default."""
        if self.needs is None:
            return np.full(len(rows), self.default_need, np.float64)
        known = rows < len(self.needs)
        out = np.full(len(rows), self.default_need, np.float64)
        out[known] = self.needs[rows[known]]
        return out

    def pressure(self, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
        """Per row in [-1, 1]: positive when short of its need, negative when past it, 0 at it."""
        applies = catalog.popularity.applies[rows].astype(np.float64)
        ratio = (self.need_of(rows) + 1.0) / (applies + 1.0)
        return np.clip(np.log(ratio) / np.log(self.max_factor), -1.0, 1.0)

    def adjusted(self, catalog: ServingCatalog, rows: np.ndarray, score: np.ndarray) -> np.ndarray:
        """`score` shifted by each row's pressure, at most `strength` list standard deviations
        (unchanged when strength is 0 or the list has one score)."""
        score = np.asarray(score, dtype=np.float64)
        spread = float(score.std()) if len(score) > 1 else 0.0
        if self.strength == 0 or spread == 0.0:
            return score
        return score + self.strength * spread * self.pressure(catalog, rows)
