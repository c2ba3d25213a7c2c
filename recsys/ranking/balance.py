"""Congestion-aware rerank: lower jobs with many applies relative to their need, lift the starved.

Ranking by apply rate alone sends the applies to the same few postings: they are shown most, so
they are applied to most, so they look best. LinkedIn's job application redistribution work
counters this in the rerank with a per-job congestion signal; this is the same idea in its
simplest form. Each candidate's score is multiplied by

    factor = clip(((need + 1) / (applies + 1)) ** strength, 1 / max_factor, max_factor)

so a job at its need is left alone, one with ten times its need is lowered, one with none lifted,
by an amount that `strength` tunes (0: off) and `max_factor` bounds, keeping relevance first.
`applies` are the catalog's counters (the online store's, the closed loop's); `need` is a per-row
array when the board knows it (the simulator's `recsys.market.needs`), else one default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.core.catalog import ServingCatalog
from recsys.settings import Settings


@dataclass
class CongestionBalance:
    """The balancing multiplier; `needs` is row-aligned with the catalog or None (the default)."""

    strength: float
    max_factor: float
    default_need: float
    needs: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.strength < 0:
            raise ValueError(f"balance strength must be >= 0, got {self.strength}")
        if self.max_factor < 1:
            raise ValueError(f"balance max_factor must be >= 1, got {self.max_factor}")

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

    def factor(self, catalog: ServingCatalog, rows: np.ndarray) -> np.ndarray:
        """The multiplier for each candidate row (1 everywhere when strength is 0)."""
        if self.strength == 0:
            return np.ones(len(rows), np.float64)
        applies = catalog.popularity.applies[rows].astype(np.float64)
        ratio = (self.need_of(rows) + 1.0) / (applies + 1.0)
        return np.clip(ratio**self.strength, 1.0 / self.max_factor, self.max_factor)
