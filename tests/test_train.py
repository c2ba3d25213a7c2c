"""Training sized to the log: leaf size from the applies, rounds chosen on the validation lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.features import FEATURE_INDEX, FEATURE_NAMES, PRIOR_FEATURE
from recsys.ranking.train import RankerTrainingConfig, design_matrix, list_metrics, train_one

LISTS, LIST_SIZE = 300, 20


def logged_lists(seed: int) -> pd.DataFrame:
    """Logged lists whose applies follow the prior feature plus noise: little for trees to add
    beyond the prior, so many rounds at a high rate can only fit noise."""
    rng = np.random.default_rng(seed)
    n = LISTS * LIST_SIZE
    X = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    prior = X[:, FEATURE_INDEX[PRIOR_FEATURE]]
    frame = pd.DataFrame(X, columns=list(FEATURE_NAMES))
    frame["request_id"] = np.repeat([f"{seed}-{i}" for i in range(LISTS)], LIST_SIZE)
    frame["apply"] = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * prior - 3.0)))).astype(np.int8)
    return frame


def test_min_leaf_size_scales_with_the_apply_rate() -> None:
    config = RankerTrainingConfig(positives_per_leaf=20.0, min_leaf_rows=100)
    assert config.min_leaf_size(5_000, 500) == 200  # 10% applies: 20 expected in 200 rows
    assert config.min_leaf_size(1_000_000, 30_000) == 667
    assert config.min_leaf_size(100_000, 50_000) == 100  # never under min_leaf_rows
    assert config.min_leaf_size(1_000, 0) == 100


@pytest.mark.slow  # two full fits per library: 15-60 s on two shared cores
@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_rounds_chosen_on_the_validation_lists(kind: str, tmp_path: Path) -> None:
    train, valid = logged_lists(0), logged_lists(1)
    wide = dict(n_estimators=100, learning_rate=0.5, positives_per_leaf=0.0, min_leaf_rows=5)
    every = train_one(
        kind, train, valid, tmp_path / "all", RankerTrainingConfig(select_rounds=False, **wide)
    )
    chosen = train_one(kind, train, valid, tmp_path / "chosen", RankerTrainingConfig(**wide))
    assert every["trees"] == 100 and chosen["trees"] < 100 and chosen["trees"] % 10 == 0
    assert chosen["ndcg@10"] >= every["ndcg@10"]
    saved = load_ranker(tmp_path / "chosen")  # the saved model holds the rounds kept
    assert saved.n_trees == chosen["trees"]
    X_valid = design_matrix(valid, "ignore")  # validation scores rows at the serving slot
    assert list_metrics(valid, saved.predict(X_valid))["ndcg@10"] == pytest.approx(
        chosen["ndcg@10"]
    )
