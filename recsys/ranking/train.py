"""Train the apply-rate rankers from logged feature rows and pick the one that serves.

The training set is the served rows up to a day with their apply labels
(`training_data.build_training_set`). The last day in the range is held out for validation; both
LightGBM and XGBoost train on the rest, and the one with the better validation nDCG@10 (over the
logged lists, applies as labels) serves. Position bias: the slot a row was shown in is a feature
(`shown_position`) that serving holds at 0; `position="ignore"` trains without it, for comparison.
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
from recsys.ranking.apply_rate_ranker import load_ranker, make_ranker
from recsys.ranking.features import FEATURE_NAMES, POSITION, SERVING_POSITION
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
    objective: str = "binary"
    n_estimators: int = 300
    learning_rate: float = 0.05
    seed: int = 42
    position: PositionHandling = "feature"


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
    model = make_ranker(
        kind,
        objective=config.objective,
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        random_state=config.seed,
    )
    group = None
    if config.objective == "lambdarank":
        group = train.groupby("request_id", sort=False).size().to_numpy()
    X_train = design_matrix(train, config.position)
    model.fit(X_train, train["apply"].to_numpy(), group=group, feature_names=list(FEATURE_NAMES))
    seconds = time.perf_counter() - t0
    metrics = list_metrics(valid, model.predict(design_matrix(valid, "ignore")))
    model.save(Path(out))
    return {**metrics, "train_seconds": round(seconds, 2)}


def train_rankers(
    events_root: Path,
    features_root: Path,
    until: date,
    out: Path,
    config: RankerTrainingConfig | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, Any]:
    """Train every kind on the served rows up to `until`, validate on `until`, save all, and
    record which one serves in `out/selection.json`."""
    config = config or RankerTrainingConfig()
    data = build_training_set(events_root, features_root, until)
    train, valid = split_training_set(data, until, config.seed)
    out = Path(out)
    report: dict[str, Any] = {
        "until": until.isoformat(),
        "position": config.position,
        "train_rows": len(train),
        "valid_rows": len(valid),
        "train_applies": int(train["apply"].sum()),
        "features": list(FEATURE_NAMES),
        "models": {kind: train_one(kind, train, valid, out / kind, config) for kind in kinds},
    }
    report["selected"] = best_kind(report["models"])
    out.mkdir(parents=True, exist_ok=True)
    (out / SELECTION_FILE).write_text(json.dumps(report, indent=2))
    return report


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
