"""The position bias a trained ranker learned: its predicted apply rate by the slot shown in.

Training keeps the slot as a feature (`shown_position`) so the model credits "shown first" to
the slot, not the job. What it learned can be read back by scoring the same rows with the slot
set to each position: the ratio to slot 0 is the model's estimate of the examination curve,
which the offline evaluation compares with the simulator's true one.
"""

from __future__ import annotations

import numpy as np

from recsys.ranking.features import POSITION
from recsys.ranking.fine import ApplyRateModel


def as_rates(scores: np.ndarray) -> np.ndarray:
    """Scores as apply rates: a binary model's probabilities stay; margins (a model that
    outputs log-odds) go through the logistic function."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        return scores
    return 1.0 / (1.0 + np.exp(-scores))


def estimated_examination(model: ApplyRateModel, X: np.ndarray, n_slots: int) -> np.ndarray:
    """Mean predicted apply rate over the rows of `X` with the slot set to 0..n_slots-1,
    relative to slot 0 (one vectorised prediction per slot)."""
    rows = np.array(X, dtype=np.float32, copy=True)
    rates = np.empty(n_slots)
    for slot in range(n_slots):
        rows[:, POSITION] = slot
        rates[slot] = as_rates(model.predict(rows)).mean()
    return rates / max(rates[0], 1e-12)
