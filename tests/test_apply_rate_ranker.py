"""Conformance of the apply-rate rankers: both kinds x both objectives, compiled vs native."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recsys.ranking.apply_rate_ranker import (
    ApplyRateRanker,
    load_ranker,
    make_ranker,
)

N_ROWS, N_FEATURES, LIST_SIZE = 5_000, 22, 50
NAMES = [f"feature_{i}" for i in range(N_FEATURES)]
CASES = [
    (kind, objective) for kind in ("lightgbm", "xgboost") for objective in ("binary", "lambdarank")
]


def synthetic(seed: int = 0, n_rows: int = N_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Logistic ground truth over a few features, ~5% positives, 3% of values missing."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    weights = np.zeros(N_FEATURES)
    weights[:6] = [1.5, -1.0, 0.8, 0.6, -0.5, 0.4]
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-(X @ weights - 3.5)))).astype(np.int64)
    X[rng.random(X.shape) < 0.03] = np.nan
    return X, y


def fit(kind: str, objective: str, seed: int = 7) -> ApplyRateRanker:
    X, y = synthetic()
    group = np.full(N_ROWS // LIST_SIZE, LIST_SIZE) if objective == "lambdarank" else None
    model = make_ranker(
        kind,
        objective=objective,
        n_estimators=60,
        learning_rate=0.1,
        random_state=seed,
        min_child_samples=20,
        n_jobs=1,
    )
    return model.fit(X, y, group=group, feature_names=NAMES)


@pytest.fixture(scope="module", params=CASES, ids=lambda case: "-".join(case))
def fitted(request: pytest.FixtureRequest) -> ApplyRateRanker:
    return fit(*request.param)


def test_ranks_better_than_random(fitted: ApplyRateRanker) -> None:
    X, y = synthetic(seed=1)
    assert roc_auc_score(y, fitted.predict(X)) > 0.7


def test_compiled_equals_native_including_missing(fitted: ApplyRateRanker) -> None:
    X, _ = synthetic(seed=2, n_rows=2_000)
    X[::7] = np.nan
    X[::11, :3] = 0.0
    compiled, native = fitted.predict(X), fitted.predict_native(X)
    assert compiled.dtype == np.float32 and compiled.shape == (X.shape[0],)
    assert np.max(np.abs(compiled - native)) < 1e-5


def test_kernel_equals_numpy_reference(fitted: ApplyRateRanker) -> None:
    X, _ = synthetic(seed=4, n_rows=700)
    X[::5, 2] = np.nan
    forest = fitted.forest_
    assert np.allclose(forest.margin(X), forest.margin_reference(X), rtol=0, atol=1e-9)


def test_scores_are_probabilities_or_finite_margins(fitted: ApplyRateRanker) -> None:
    scores = fitted.predict(synthetic(seed=3)[0])
    assert np.isfinite(scores).all()
    if fitted.objective == "binary":
        assert scores.min() >= 0.0 and scores.max() <= 1.0


def test_save_load_round_trip(fitted: ApplyRateRanker, tmp_path: Path) -> None:
    fitted.save(tmp_path / "ranker")
    loaded = load_ranker(tmp_path / "ranker")
    X, _ = synthetic(seed=4, n_rows=500)
    assert (loaded.kind, loaded.objective) == (fitted.kind, fitted.objective)
    assert loaded.feature_names == NAMES
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


def test_truncated_scores_like_the_first_rounds(fitted: ApplyRateRanker, tmp_path: Path) -> None:
    X, _ = synthetic(seed=6, n_rows=500)
    short = fitted.truncated(25)
    assert (short.n_trees, short.get_params()["n_estimators"], fitted.n_trees) == (25, 25, 60)
    np.testing.assert_allclose(short.predict(X), fitted.predict_native(X, 25), atol=1e-5)
    assert not np.allclose(short.predict(X), fitted.predict(X), atol=1e-3)
    reloaded = load_ranker(short.save(tmp_path / "short"))
    np.testing.assert_array_equal(reloaded.predict(X), short.predict(X))
    with pytest.raises(ValueError, match="n_trees"):
        fitted.truncated(61)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_monotone_constraints_hold_along_every_row(kind: str) -> None:
    # the truth rises with feature_0 and falls with feature_1; constrained the other way round,
    # the model's score must still move only the constrained way when one feature is swept
    X, y = synthetic()
    model = make_ranker(
        kind, n_estimators=40, min_child_samples=20, n_jobs=1, monotone={NAMES[0]: -1, NAMES[1]: 1}
    ).fit(X, y, feature_names=NAMES)
    rows, _ = synthetic(seed=8, n_rows=50)
    sweep = np.linspace(-3, 3, 25, dtype=np.float32)
    for column, direction in ((0, -1), (1, 1)):
        grid = np.repeat(rows, len(sweep), axis=0)
        grid[:, column] = np.tile(sweep, len(rows))
        steps = np.diff(model.predict(grid).reshape(len(rows), len(sweep)), axis=1)
        assert (direction * steps >= -1e-6).all()
    with pytest.raises(ValueError, match="not_a_feature"):
        make_ranker(kind, monotone={"not_a_feature": 1}).fit(X, y, feature_names=NAMES)


@pytest.mark.parametrize(("kind", "objective"), CASES)
def test_boosted_from_a_prior_feature(kind: str, objective: str, tmp_path: Path) -> None:
    # the trees start from a logistic fit on feature_0 (the truth's strongest term): with no
    # trees worth keeping the model orders rows by that feature alone, and both predicts, the
    # truncated copy and the saved folder all add the same prior
    X, y = synthetic()
    group = np.full(N_ROWS // LIST_SIZE, LIST_SIZE) if objective == "lambdarank" else None
    model = make_ranker(
        kind,
        objective=objective,
        n_estimators=30,
        min_child_samples=20,
        n_jobs=1,
        prior_feature=NAMES[0],
    ).fit(X, y, group=group, feature_names=NAMES)
    intercept, slope = model.prior_
    assert slope > 0.5 and intercept < -1  # rises with feature_0; ~5% positives
    rows, labels = synthetic(seed=9)
    np.testing.assert_allclose(model.predict(rows), model.predict_native(rows), atol=1e-5)
    short = model.truncated(1)
    np.testing.assert_allclose(short.predict(rows), model.predict_native(rows, 1), atol=1e-5)
    # one shallow tree barely moves the prior's order
    assert (
        roc_auc_score(labels, short.predict(rows))
        > roc_auc_score(labels, np.nan_to_num(rows[:, 0])) - 0.02
    )
    reloaded = load_ranker(model.save(tmp_path / "prior"))
    assert reloaded.prior_ == model.prior_
    np.testing.assert_array_equal(reloaded.predict(rows), model.predict(rows))


def test_feature_importance_names_every_feature(fitted: ApplyRateRanker) -> None:
    gains = fitted.feature_importance()
    assert list(gains) == NAMES
    assert max(gains, key=gains.__getitem__) in NAMES[:3]


def test_wrong_column_count_names_expected_features(fitted: ApplyRateRanker) -> None:
    with pytest.raises(ValueError, match="feature_0"):
        fitted.predict(np.zeros((3, N_FEATURES - 1), dtype=np.float32))


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_same_seed_same_predictions(kind: str) -> None:
    X, _ = synthetic(seed=5, n_rows=500)
    np.testing.assert_array_equal(fit(kind, "binary").predict(X), fit(kind, "binary").predict(X))


def test_load_missing_folder_says_where(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_ranker(tmp_path / "nowhere")


def test_load_corrupt_model_says_where(tmp_path: Path) -> None:
    folder = fit("lightgbm", "binary").save(tmp_path / "broken")
    (folder / "model.txt").write_text("not a model")
    with pytest.raises(ValueError, match="broken"):
        load_ranker(folder)


def test_unknown_kind_and_missing_group_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown ranker kind"):
        make_ranker("catboost")
    X, y = synthetic(n_rows=100)
    with pytest.raises(ValueError, match="group"):
        make_ranker("lightgbm", objective="lambdarank").fit(X, y)
