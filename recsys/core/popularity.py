"""Per-job popularity: impression, click and apply counters aligned with catalog rows.

`count_events` is the one way an event frame becomes counters; the serving catalog owns its
counters and changes them only through its own methods (`ServingCatalog.reset_popularity`,
`add_events`, `set_popularity`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Popularity:
    """Per-job counters from the event log or the online store, aligned with catalog rows."""

    impressions: np.ndarray
    clicks: np.ndarray
    applies: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Popularity:
        return cls(np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32))

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.impressions, self.clicks, self.applies

    def add(self, other: Popularity) -> None:
        """Add `other`'s counts in place, over the rows both hold (a catalog may have grown)."""
        for mine, theirs in zip(self.as_tuple(), other.as_tuple(), strict=True):
            n = min(len(mine), len(theirs))
            mine[:n] += theirs[:n]

    def grown(self, n: int) -> Popularity:
        """A copy with `n` more rows of zeros (postings appended to the catalog)."""
        return Popularity(*(np.concatenate([a, np.zeros(n, np.float32)]) for a in self.as_tuple()))

    def apply_rate(self, prior: float = 0.03, strength: float = 50.0) -> np.ndarray:
        """Apply rate shrunk toward `prior` with `strength` pseudo-impressions."""
        return (self.applies + prior * strength) / (self.impressions + strength)


def count_events(
    events: pd.DataFrame, rows_of: Callable[[np.ndarray], np.ndarray], n_rows: int
) -> Popularity:
    """Impression, click and apply counts per row from an event frame; `rows_of` maps job ids to
    rows (-1 for jobs not held, which are not counted)."""
    pop = Popularity.zeros(n_rows)
    if events.empty:
        return pop
    counts = events.groupby(["job_id", "type"]).size().unstack(fill_value=0)
    rows = rows_of(counts.index.to_numpy())
    known = rows >= 0
    for kind, arr in (
        ("impression", pop.impressions),
        ("click", pop.clicks),
        ("apply", pop.applies),
    ):
        if kind in counts:
            arr[rows[known]] = counts[kind].to_numpy(np.float32)[known]
    return pop
