"""Marketplace metrics as pure numpy functions: how evenly the applies spread over the jobs.

The seeker-side metrics (nDCG, apply rate) say whether each seeker got good jobs; these say
whether the employers did: a board that sends every apply to a few postings leaves the others
unfilled even when each list looks good. They are what the congestion-aware rerank is judged by.
"""

from __future__ import annotations

import numpy as np


def gini(values: np.ndarray) -> float:
    """The Gini coefficient of non-negative `values` (0: all equal, towards 1: one has all);
    0 for an empty or all-zero array."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("gini needs non-negative values")
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * x.sum()) - (n + 1.0) / n)


def zero_share(counts: np.ndarray) -> float:
    """Share of entries that are 0 (NaN for none)."""
    c = np.asarray(counts)
    return float((c == 0).mean()) if c.size else float("nan")


def source_shares(codes: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Share of each name among `codes` (indices into `names`; negative codes are 'other')."""
    c = np.asarray(codes, dtype=np.int64).ravel()
    total = max(c.size, 1)
    out = {name: float((c == i).sum()) / total for i, name in enumerate(names)}
    out["other"] = float((c < 0).sum()) / total
    return out
