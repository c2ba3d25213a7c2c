"""Train the apply-rate rankers from logged feature rows and pick the one that serves.

The training set is the served rows up to a day with their apply labels
(`training_data.build_training_set`). The last day in the range is held out for validation; both
LightGBM and XGBoost train on the rest, and the one with the better validation nDCG@10 (over the
logged lists, applies as labels) serves. Position bias: the slot a row was shown in is a feature
(`shown_position`) that serving holds at 0; `position="ignore"` trains without it, for comparison.

A young market logs a few hundred applies, and a GBDT fit on them with a fixed 300 rounds learned
the noise: it ranked below the coarse rule whose score it has as a feature. So the trees are
boosted from the coarse score (a logistic fit of the applies on it is the initial margin, see
`ApplyRateRanker.prior_feature`) and learn corrections to it; the fit is sized to the log (leaves
hold at least `positives_per_leaf` expected applies); known directions are monotone constraints
(`features.MONOTONE`); and the validation lists choose how many boosting rounds are kept. The
same `_new_model` and `_validate_and_save` serve the in-process and the Dask path.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recsys.evaluation.metrics import grouped_auc, ndcg_at_k
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker, make_ranker
from recsys.ranking.features import (
    FEATURE_NAMES,
    MONOTONE,
    POSITION,
    PRIOR_FEATURE,
    SERVING_POSITION,
)
from recsys.ranking.training_data import build_training_set

KINDS = ("lightgbm", "xgboost")
#: which kind serves, with every kind's validation metrics (each kind's own folder holds its
#: `apply_rate_ranker.METADATA_FILE`, a different file)
SELECTION_FILE = "selection.json"
#: the name the selection had before it was told apart from the models' metadata
_LEGACY_SELECTION_FILE = "ranker.json"
PositionHandling = Literal["feature", "ignore"]


@dataclass(frozen=True)
class RankerTrainingConfig:
    """How the rankers are fit.

    `n_estimators` is the most boosting rounds; with `select_rounds` the model keeps the prefix
    (checked every `rounds_step` rounds) with the best validation nDCG@10. A leaf holds at least
    `min_leaf_rows` rows and at least `positives_per_leaf` applies expected at the training set's
    apply rate, so the fewer the applies, the coarser the trees (for XGBoost, which counts
    hessians, the same rows at the binary objective's hessian at that rate). `monotone` applies
    `features.MONOTONE`; `prior_feature` (None: boost from a constant) is the feature the
    trees are boosted from.
    """

    objective: str = "binary"
    n_estimators: int = 300
    learning_rate: float = 0.05
    seed: int = 42
    position: PositionHandling = "feature"
    select_rounds: bool = True
    rounds_step: int = 10
    positives_per_leaf: float = 20.0
    min_leaf_rows: int = 100
    monotone: bool = True
    prior_feature: str | None = PRIOR_FEATURE

    def min_leaf_size(self, rows: int, positives: int) -> int:
        """Rows per leaf for a training set of `rows` with `positives` applies."""
        if positives <= 0:
            return self.min_leaf_rows
        return max(self.min_leaf_rows, int(np.ceil(self.positives_per_leaf * rows / positives)))


def design_matrix(rows: pd.DataFrame, position: PositionHandling) -> np.ndarray:
    X = np.array(rows[list(FEATURE_NAMES)].to_numpy(np.float32), copy=True)
    if position == "ignore":
        X[:, POSITION] = SERVING_POSITION
    return X


def list_metrics(
    rows: pd.DataFrame, scores: np.ndarray, label: str = "apply", k: int = 10
) -> dict[str, float]:
    """nDCG@k and AUC within each logged list, over lists with at least one positive."""
    frame = rows[["request_id", label]].assign(score=scores)
    frame = frame[frame.groupby("request_id")[label].transform("sum") > 0]
    if frame.empty:
        return {"ndcg@10": float("nan"), "auc": float("nan"), "lists": 0}
    frame = frame.sort_values(["request_id", "score"], ascending=[True, False])
    depth = int(frame.groupby("request_id").size().max())
    rank = frame.groupby("request_id").cumcount().to_numpy()
    req = pd.factorize(frame["request_id"])[0]
    grid = np.zeros((req.max() + 1, depth))
    grid[req, rank] = frame[label].to_numpy()
    ideal = -np.sort(-grid, axis=1)
    auc = grouped_auc(frame["request_id"].to_numpy(), frame[label].to_numpy(), frame["score"])
    return {
        "ndcg@10": float(ndcg_at_k(grid, ideal, k).mean()),
        "auc": float(np.nanmean(auc)),
        "lists": int(grid.shape[0]),
    }


def split_training_set(
    data: pd.DataFrame, until: date, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, valid): the rows served on `until` are held out; with one day only, a fifth of
    its requests."""
    day = data["ts"].dt.date
    valid_mask = (day == until).to_numpy()
    if valid_mask.all() or not valid_mask.any():
        requests = data["request_id"].unique()
        held = set(
            np.random.default_rng(seed).choice(requests, max(1, len(requests) // 5), replace=False)
        )
        valid_mask = data["request_id"].isin(held).to_numpy()
    return data[~valid_mask], data[valid_mask]


def train_one(
    kind: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    out: Path,
    config: RankerTrainingConfig | None = None,
) -> dict[str, Any]:
    """Train one kind, save it to `out`, and return its validation metrics (nDCG@10 and AUC
    over the held-out logged lists, positions held at the serving slot)."""
    config = config or RankerTrainingConfig()
    t0 = time.perf_counter()
    model = _new_model(kind, config, len(train), int(train["apply"].sum()))
    group = None
    if config.objective == "lambdarank":
        group = train.groupby("request_id", sort=False).size().to_numpy()
    X_train = design_matrix(train, config.position)
    model.fit(X_train, train["apply"].to_numpy(), group=group, feature_names=list(FEATURE_NAMES))
    return _validate_and_save(model, valid, out, config, t0)


def _new_model(kind: str, config: RankerTrainingConfig, rows: int, positives: int) -> Any:
    """An untrained ranker of `kind` with the config's objective, size and seed, its leaves
    sized to a training set of `rows` with `positives` applies."""
    leaf = config.min_leaf_size(rows, positives)
    rate = positives / max(rows, 1)
    params: dict[str, Any] = {}
    if config.objective == "binary" and 0 < rate < 1:
        params["min_child_weight"] = leaf * rate * (1 - rate)
    return make_ranker(
        kind,
        objective=config.objective,
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        random_state=config.seed,
        min_child_samples=leaf,
        monotone=dict(MONOTONE) if config.monotone else None,
        prior_feature=config.prior_feature,
        **params,
    )


def train_one_dask(
    kind: str,
    client: Any,
    train: Any,
    valid: pd.DataFrame,
    out: Path,
    config: RankerTrainingConfig | None = None,
) -> dict[str, Any]:
    """`train_one` on a Dask cluster: `train` is a dask.dataframe from
    `dask_training.build_training_set_dask`, `valid` the held-out rows on the client."""
    import dask

    from recsys.ranking.dask_training import QID, design_frame

    config = config or RankerTrainingConfig()
    t0 = time.perf_counter()
    rows, positives = dask.compute(train.shape[0], train["apply"].sum())
    model = _new_model(kind, config, int(rows), int(positives))
    model.fit_dask(client, design_frame(train, config.position), train["apply"], qid=train[QID])
    return _validate_and_save(model, valid, out, config, t0)


def _validate_and_save(
    model: ApplyRateRanker,
    valid: pd.DataFrame,
    out: Path,
    config: RankerTrainingConfig,
    started: float,
) -> dict[str, Any]:
    """Keep the rounds the validation lists choose (with `select_rounds`), save, and return the
    validation metrics of the saved model."""
    X_valid = design_matrix(valid, "ignore")
    if config.select_rounds:
        model = model.truncated(select_rounds(model, valid, X_valid, config.rounds_step))
    metrics = list_metrics(valid, model.predict(X_valid))
    model.save(Path(out))
    seconds = time.perf_counter() - started
    return {**metrics, "trees": model.n_trees, "train_seconds": round(seconds, 2)}


def select_rounds(
    model: ApplyRateRanker, valid: pd.DataFrame, X_valid: np.ndarray, step: int
) -> int:
    """The number of boosting rounds (a multiple of `step`, or all) whose scores give the best
    nDCG@10 over the validation lists; the fewest among equals. All rounds when no validation
    list holds an apply.

    The same validation lists then pick the kind (`best_kind`), so its nDCG is a little
    optimistic; the held-out day of `benchmarks.oracle_gap` is what to judge by."""
    counts = sorted({*range(step, model.n_trees, step), model.n_trees})
    ndcg = [
        np.nan_to_num(list_metrics(valid, model.predict_native(X_valid, n))["ndcg@10"])
        for n in counts
    ]
    return counts[int(np.argmax(ndcg))]


def train_rankers(
    events_root: Path,
    features_root: Path,
    until: date,
    out: Path,
    config: RankerTrainingConfig | None = None,
    kinds: tuple[str, ...] = KINDS,
    dask_scheduler: str | None = None,
) -> dict[str, Any]:
    """Train every kind on the served rows up to `until`, validate on `until`, save all, and
    record which one serves in `out/selection.json`. With `dask_scheduler` (the setting
    `RECSYS_DASK_SCHEDULER`) the training set is built and the models fit on that cluster."""
    config = config or RankerTrainingConfig()
    out = Path(out)
    if dask_scheduler:
        models, counts = _train_on_dask(
            dask_scheduler, events_root, features_root, until, out, config, kinds
        )
    else:
        data = build_training_set(events_root, features_root, until)
        train, valid = split_training_set(data, until, config.seed)
        counts = (len(train), len(valid), int(train["apply"].sum()))
        models = {kind: train_one(kind, train, valid, out / kind, config) for kind in kinds}
    report: dict[str, Any] = {
        "until": until.isoformat(),
        "position": config.position,
        "train_rows": counts[0],
        "valid_rows": counts[1],
        "train_applies": counts[2],
        "features": list(FEATURE_NAMES),
        "trained_on": dask_scheduler or "in-process",
        "models": models,
    }
    report["selected"] = best_kind(report["models"])
    out.mkdir(parents=True, exist_ok=True)
    (out / SELECTION_FILE).write_text(json.dumps(report, indent=2))
    return report


def _train_on_dask(
    scheduler: str,
    events_root: Path,
    features_root: Path,
    until: date,
    out: Path,
    config: RankerTrainingConfig,
    kinds: tuple[str, ...],
) -> tuple[dict[str, dict[str, Any]], tuple[int, int, int]]:
    """(metrics per kind, (train rows, valid rows, train applies)) trained on the cluster."""
    from recsys.ranking.dask_training import build_training_set_dask, connect, split_by_day

    with connect(scheduler) as client:
        data = build_training_set_dask(events_root, features_root, until)
        train, valid = split_by_day(data, until)
        models = {
            kind: train_one_dask(kind, client, train, valid, out / kind, config) for kind in kinds
        }
        counts = (int(len(train)), len(valid), int(train["apply"].sum().compute()))
    return models, counts


def best_kind(models: dict[str, dict[str, Any]]) -> str:
    """The kind with the best validation nDCG@10 (NaN counts as 0)."""
    return max(models, key=lambda k: np.nan_to_num(models[k]["ndcg@10"]))


def load_selected(folder: Path) -> tuple[str, Any]:
    """(kind, model) of the ranker chosen by validation in a training output folder."""
    path = Path(folder) / SELECTION_FILE
    if not path.exists() and (Path(folder) / _LEGACY_SELECTION_FILE).is_file():
        path = Path(folder) / _LEGACY_SELECTION_FILE  # a folder trained before the rename
    if not path.exists():
        raise FileNotFoundError(f"{folder} has no {SELECTION_FILE}; run `recsys ranker train`")
    kind = json.loads(path.read_text())["selected"]
    return kind, load_ranker(Path(folder) / kind)
