"""Paired significance tests on per-query metric values of two systems.

Two systems evaluated on the same queries give paired scores; a difference in means is only
worth reporting if it is unlikely under "the systems are interchangeable". The randomization
(sign-flip) test makes no normality assumption and is the usual choice in IR (Smucker et al.,
CIKM 2007); the paired t-test is reported beside it because readers expect it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

_CHUNK = 2_000


def _paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired tests need two 1-D arrays of equal length, got {a.shape} and {b.shape}"
        )
    return a - b


def paired_randomization_test(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 10_000, seed: int = 0
) -> float:
    """Two-sided p-value that the mean of a - b is 0, by randomly flipping the sign of each pair.

    The +1 in numerator and denominator counts the observed assignment itself, so p is never 0.
    """
    diff = _paired(a, b)
    if diff.size == 0:
        return float("nan")
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    at_least = 0
    for start in range(0, n_resamples, _CHUNK):
        n = min(_CHUNK, n_resamples - start)
        signs = rng.integers(0, 2, size=(n, diff.size), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diff) / diff.size
        at_least += int((means >= observed - 1e-12).sum())
    return (at_least + 1) / (n_resamples + 1)


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value.

    Degenerate cases scipy would answer with NaN get their limit instead: identical scores on
    every query give 1.0, a constant non-zero difference gives 0.0.
    """
    diff = _paired(a, b)
    if diff.size < 2:
        return float("nan")
    if not diff.any():
        return 1.0
    if np.ptp(diff) == 0:
        return 0.0
    return float(stats.ttest_rel(a, b).pvalue)
