"""The apply-rate rankers of the fine stage: one estimator interface over LightGBM and XGBoost.

Both kinds follow scikit-learn conventions (hyperparameters stored unchanged by `__init__`,
`fit` returns self, learned state ends in `_`) and serve through `compiled_trees`: the trained
booster is flattened into numpy tables at fit and at load time, and `predict` evaluates those,
because the libraries' own predict is dominated by per-call overhead at ~500 rows.
`predict_native` keeps the library path as the reference.

A saved ranker is a folder: the library's native model file plus `ranker.json` (kind, objective,
feature names, hyperparameters, library versions), so it can be read without this code.
"""

from __future__ import annotations

import json
import platform
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from sklearn.base import BaseEstimator

from recsys.ranking.compiled_trees import CompiledForest, compile_lightgbm, compile_xgboost

Kind = Literal["lightgbm", "xgboost"]
Objective = Literal["binary", "lambdarank"]
OBJECTIVES: tuple[str, ...] = ("binary", "lambdarank")
METADATA_FILE = "ranker.json"
FORMAT_VERSION = 1


class ApplyRateRanker(BaseEstimator, ABC):
    """A GBDT scoring (user, job) feature rows; higher is better, `binary` gives P(apply).

    Defaults suit ~100k-1M rows with ~3% positives: 31 leaves with a depth cap (regularises and
    bounds the compiled evaluation's steps), at least 100 rows per leaf so rare positives do not
    yield single-row leaves, and seeded row/column subsampling. Training is deterministic for a
    given seed and thread count.

    `monotone` maps feature names to +1 (the score may only rise with the feature) or -1 (only
    fall); where the direction is known this keeps a model fit on few positives from learning
    noise such as "more skills matched, lower score". Features it does not name are free.

    `prior_feature` boosts the trees from a prior instead of a constant: a logistic fit of the
    labels on that one feature (learned as `prior_`, intercept and slope) is the initial margin,
    and the trees learn corrections to it. With the coarse score as the prior, a model fit on a
    few hundred applies keeps the rule's full ordering where the trees know nothing better,
    rather than the coarse steps of a few leaves. The prior is part of the model: both predicts
    add it, and `ranker.json` stores it next to the library's file.
    """

    kind: ClassVar[str]
    model_file: ClassVar[str]

    def __init__(
        self,
        objective: Objective = "binary",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = 8,
        min_child_samples: int = 100,
        min_child_weight: float = 1e-3,
        subsample: float = 0.8,
        colsample: float = 0.8,
        reg_lambda: float = 1.0,
        random_state: int = 42,
        n_jobs: int = 2,
        monotone: dict[str, int] | None = None,
        prior_feature: str | None = None,
    ):
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample = colsample
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.monotone = monotone
        self.prior_feature = prior_feature

    @property
    def feature_names(self) -> list[str]:
        return list(self.feature_names_)

    @property
    def n_trees(self) -> int:
        """Boosting rounds the fitted model holds."""
        return self.forest_.n_trees

    def _monotone_vector(self) -> list[int]:
        """`monotone` as one constraint per feature column, in column order (0: free)."""
        wanted = self.monotone or {}
        unknown = set(wanted) - set(self.feature_names_)
        if unknown:
            raise ValueError(f"monotone names features the model does not have: {sorted(unknown)}")
        if any(v not in (-1, 0, 1) for v in wanted.values()):
            raise ValueError(f"monotone directions must be -1, 0 or 1, got {wanted}")
        return [int(wanted.get(name, 0)) for name in self.feature_names_]

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        group: np.ndarray | None = None,
        feature_names: list[str] | None = None,
    ) -> ApplyRateRanker:
        """Trains on float rows and 0/1 labels; `group` (list sizes, rows contiguous per list)
        is required for `lambdarank` and ignored for `binary`."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(f"X must be (rows, features) and y (rows,); got {X.shape}, {y.shape}")
        names = list(feature_names) if feature_names else [f"f{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise ValueError(f"{len(names)} feature names for {X.shape[1]} columns")
        group = self._check_group(group, X.shape[0])
        self.feature_names_ = names
        init = None
        if self.prior_feature is not None:
            column = X[:, self._prior_column()]
            self.prior_ = logistic_prior(column, y)
            init = self._prior_margin(column)
        self.booster_ = self._train(X, y, group, init)
        self.forest_ = self._compile()
        return self

    def fit_dask(self, client: Any, X: Any, y: Any, qid: Any = None) -> ApplyRateRanker:
        """Trains on a Dask cluster: `X` a dask.dataframe of float feature columns (their names
        become the feature names), `y` its 0/1 labels, `qid` (for `lambdarank`) one integer per
        row naming its list, sorted within each partition and no list split across partitions.
        The booster is the library's own, compiled and saved exactly as after `fit`."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "lambdarank" and qid is None:
            raise ValueError("lambdarank needs `qid`: one list id per row, sorted per partition")
        self.feature_names_ = [str(c) for c in X.columns]
        init = None
        if self.prior_feature is not None:
            self._prior_column()
            column, labels = client.compute([X[self.prior_feature], y], sync=True)
            self.prior_ = logistic_prior(np.asarray(column), np.asarray(labels))
            intercept, slope = self.prior_
            init = X[self.prior_feature].fillna(0.0) * slope + intercept
        self.booster_ = self._train_dask(
            client, X, y, qid if self.objective == "lambdarank" else None, init
        )
        self.forest_ = self._compile()
        return self

    def _prior_column(self) -> int:
        if self.prior_feature not in self.feature_names_:
            raise ValueError(f"prior_feature {self.prior_feature!r} is not among the features")
        return self.feature_names_.index(self.prior_feature)

    def _prior_margin(self, column: np.ndarray) -> np.ndarray:
        """The prior's margin for one column of values (NaN contributes nothing)."""
        intercept, slope = self.prior_
        return intercept + slope * np.nan_to_num(column.astype(np.float64))

    def _offset(self, X: np.ndarray) -> np.ndarray | float:
        """What the prior adds to the trees' margin for each row (0 without a prior)."""
        if self.prior_feature is None:
            return 0.0
        return self._prior_margin(X[:, self._prior_column()])

    def _check_group(self, group: np.ndarray | None, n_rows: int) -> np.ndarray | None:
        if self.objective != "lambdarank":
            return None
        if group is None:
            raise ValueError("lambdarank needs `group`: the size of each list, rows contiguous")
        group = np.asarray(group, dtype=np.int64)
        if group.sum() != n_rows:
            raise ValueError(f"group sizes sum to {group.sum()}, not the {n_rows} rows")
        return group

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores from the compiled trees, float32, equal to `predict_native` within ~1e-5."""
        X = self._validate(X)
        return self.forest_.predict(X, self._offset(X))

    def predict_native(self, X: np.ndarray, n_trees: int | None = None) -> np.ndarray:
        """Scores from the library's own predict: the reference the compiled path must match.
        `n_trees` scores with the first that many rounds only (all when None)."""
        if n_trees is not None and not 0 < n_trees <= self.n_trees:
            raise ValueError(f"n_trees must be in 1..{self.n_trees}, got {n_trees}")
        X = self._validate(X)
        if self.prior_feature is None:
            return np.asarray(self._native_predict(X, n_trees), dtype=np.float32)
        margin = self._native_margin(X, n_trees) + self._offset(X)
        if self.objective == "binary":
            margin = 1.0 / (1.0 + np.exp(-margin))
        return np.asarray(margin, dtype=np.float32)

    def truncated(self, n_trees: int) -> ApplyRateRanker:
        """A copy holding the first `n_trees` boosting rounds only (`n_estimators` set to
        match), compiled: how training keeps the round count the validation lists chose."""
        if not 0 < n_trees <= self.n_trees:
            raise ValueError(f"n_trees must be in 1..{self.n_trees}, got {n_trees}")
        model = type(self)(**{**self.get_params(), "n_estimators": n_trees})
        model.feature_names_ = list(self.feature_names_)
        if self.prior_feature is not None:
            model.prior_ = self.prior_
        model.booster_ = self._first_trees(n_trees)
        model.forest_ = model._compile()
        return model

    def _validate(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "forest_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted; call fit or load_ranker")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
            raise ValueError(
                f"expected {len(self.feature_names_)} feature columns "
                f"{self.feature_names_}, got an array of shape {X.shape}"
            )
        return X

    def feature_importance(self) -> dict[str, float]:
        """Total split gain per feature name (0 for features no tree uses)."""
        gains = self._gains()
        return {name: float(gains.get(name, 0.0)) for name in self.feature_names_}

    def save(self, folder: Path) -> Path:
        """Writes the native model file and `ranker.json` into `folder` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_native(folder / self.model_file)
        metadata = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "objective": self.objective,
            "model_file": self.model_file,
            "feature_names": self.feature_names_,
            "params": self.get_params(),
            "prior": list(self.prior_) if self.prior_feature is not None else None,
            "versions": {
                self.kind: self._library_version(),
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }
        (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        return folder

    @classmethod
    def _restore(cls, folder: Path, metadata: dict[str, Any]) -> ApplyRateRanker:
        model = cls(**metadata["params"])
        model.feature_names_ = list(metadata["feature_names"])
        if model.prior_feature is not None:
            intercept, slope = metadata["prior"]
            model.prior_ = (float(intercept), float(slope))
        model.booster_ = model._load_native(folder / metadata["model_file"])
        model.forest_ = model._compile()
        return model

    @abstractmethod
    def _train(
        self, X: np.ndarray, y: np.ndarray, group: np.ndarray | None, init: np.ndarray | None
    ) -> Any: ...

    @abstractmethod
    def _train_dask(self, client: Any, X: Any, y: Any, qid: Any, init: Any) -> Any: ...

    @abstractmethod
    def _compile(self) -> CompiledForest: ...

    @abstractmethod
    def _native_predict(self, X: np.ndarray, n_trees: int | None) -> np.ndarray: ...

    @abstractmethod
    def _native_margin(self, X: np.ndarray, n_trees: int | None) -> np.ndarray: ...

    @abstractmethod
    def _first_trees(self, n_trees: int) -> Any: ...

    @abstractmethod
    def _gains(self) -> dict[str, float]: ...

    @abstractmethod
    def _save_native(self, path: Path) -> None: ...

    @abstractmethod
    def _load_native(self, path: Path) -> Any: ...

    @staticmethod
    @abstractmethod
    def _library_version() -> str: ...


class LightGBMRanker(ApplyRateRanker):
    """LightGBM, leaf-wise growth capped by `num_leaves` and `max_depth`."""

    kind = "lightgbm"
    model_file = "model.txt"

    def _params(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "min_sum_hessian_in_leaf": self.min_child_weight,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample,
            "lambda_l2": self.reg_lambda,
            "monotone_constraints": self._monotone_vector(),
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }

    def _train(
        self, X: np.ndarray, y: np.ndarray, group: np.ndarray | None, init: np.ndarray | None
    ) -> Any:
        import lightgbm

        data = lightgbm.Dataset(
            X,
            y,
            group=group,
            init_score=init,
            feature_name=self.feature_names_,
            free_raw_data=True,
        )
        return lightgbm.train(self._params(), data, num_boost_round=self.n_estimators)

    def _train_dask(self, client: Any, X: Any, y: Any, qid: Any, init: Any) -> Any:
        import lightgbm

        # the Dask estimators set the thread count from each worker's threads
        params = {k: v for k, v in self._params().items() if k not in ("num_threads", "objective")}
        if qid is None:
            model = lightgbm.DaskLGBMClassifier(
                client=client, objective="binary", n_estimators=self.n_estimators, **params
            )
            return model.fit(X, y, init_score=init).booster_
        group = qid.map_partitions(_run_lengths, meta=("group", "int64")).to_dask_array(
            lengths=True
        )
        model = lightgbm.DaskLGBMRanker(
            client=client, objective="lambdarank", n_estimators=self.n_estimators, **params
        )
        return model.fit(X, y, group=group, init_score=init).booster_

    def _compile(self) -> CompiledForest:
        return compile_lightgbm(self.booster_)

    def _native_predict(self, X: np.ndarray, n_trees: int | None) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=n_trees, num_threads=self.n_jobs)

    def _native_margin(self, X: np.ndarray, n_trees: int | None) -> np.ndarray:
        return self.booster_.predict(
            X, num_iteration=n_trees, raw_score=True, num_threads=self.n_jobs
        )

    def _first_trees(self, n_trees: int) -> Any:
        import lightgbm

        return lightgbm.Booster(model_str=self.booster_.model_to_string(num_iteration=n_trees))

    def _gains(self) -> dict[str, float]:
        gains = self.booster_.feature_importance(importance_type="gain")
        return dict(zip(self.booster_.feature_name(), gains.tolist()))

    def _save_native(self, path: Path) -> None:
        self.booster_.save_model(str(path))

    def _load_native(self, path: Path) -> Any:
        import lightgbm

        return lightgbm.Booster(model_file=str(path))

    @staticmethod
    def _library_version() -> str:
        import lightgbm

        return lightgbm.__version__


class XGBoostRanker(ApplyRateRanker):
    """XGBoost with loss-guided growth, so `num_leaves` means what it means for LightGBM."""

    kind = "xgboost"
    model_file = "model.json"

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic" if self.objective == "binary" else "rank:ndcg",
            "eta": self.learning_rate,
            "tree_method": "hist",
            "grow_policy": "lossguide",
            "max_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample,
            "lambda": self.reg_lambda,
            "monotone_constraints": "(" + ",".join(map(str, self._monotone_vector())) + ")",
            "seed": self.random_state,
            "nthread": self.n_jobs,
            "verbosity": 0,
            # boosted from the prior's margin, the trees' own constant starts at 0 (logit .5)
            **(
                {"base_score": 0.5 if self.objective == "binary" else 0.0}
                if self.prior_feature
                else {}
            ),
        }

    def _train(
        self, X: np.ndarray, y: np.ndarray, group: np.ndarray | None, init: np.ndarray | None
    ) -> Any:
        import xgboost

        data = xgboost.DMatrix(
            X,
            y,
            base_margin=init,
            feature_names=self.feature_names_,
            missing=np.nan,
            nthread=self.n_jobs,
        )
        if group is not None:
            data.set_group(group)
        return xgboost.train(self._params(), data, num_boost_round=self.n_estimators)

    def _train_dask(self, client: Any, X: Any, y: Any, qid: Any, init: Any) -> Any:
        from xgboost import dask as xgb_dask

        # xgboost.dask sets the thread count from each worker's threads
        params = {k: v for k, v in self._params().items() if k != "nthread"}
        data = xgb_dask.DaskDMatrix(
            client,
            X,
            y,
            qid=qid,
            base_margin=init,
            feature_names=self.feature_names_,
            missing=np.nan,
        )
        result = xgb_dask.train(client, params, data, num_boost_round=self.n_estimators)
        return result["booster"]

    def _compile(self) -> CompiledForest:
        return compile_xgboost(self.booster_)

    def _native_predict(self, X: np.ndarray, n_trees: int | None) -> np.ndarray:
        import xgboost

        data = xgboost.DMatrix(
            X, feature_names=self.feature_names_, missing=np.nan, nthread=self.n_jobs
        )
        return self.booster_.predict(data, iteration_range=(0, n_trees or 0))

    def _native_margin(self, X: np.ndarray, n_trees: int | None) -> np.ndarray:
        import xgboost

        data = xgboost.DMatrix(
            X, feature_names=self.feature_names_, missing=np.nan, nthread=self.n_jobs
        )
        return self.booster_.predict(data, output_margin=True, iteration_range=(0, n_trees or 0))

    def _first_trees(self, n_trees: int) -> Any:
        return self.booster_[:n_trees]

    def _gains(self) -> dict[str, float]:
        return self.booster_.get_score(importance_type="total_gain")

    def _save_native(self, path: Path) -> None:
        self.booster_.save_model(str(path))

    def _load_native(self, path: Path) -> Any:
        import xgboost

        booster = xgboost.Booster(params={"nthread": self.n_jobs})
        booster.load_model(str(path))
        return booster

    @staticmethod
    def _library_version() -> str:
        import xgboost

        return xgboost.__version__


def logistic_prior(x: np.ndarray, y: np.ndarray, ridge: float = 1e-6) -> tuple[float, float]:
    """(intercept, slope) of a one-feature logistic regression of 0/1 labels `y` on `x` (NaN
    read as 0), by Newton steps: the initial margin a model boosts from (`prior_feature`)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-6, 1 - 1e-6))
    beta = np.array([np.log(rate / (1 - rate)), 0.0])
    design = np.column_stack([np.ones_like(x), x])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (p - y)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def _run_lengths(qid: Any) -> Any:
    """Sizes of the runs of equal list ids in one sorted partition: LightGBM's `group`."""
    import pandas as pd

    values = np.asarray(qid)
    if len(values) == 0:
        return pd.Series([], dtype="int64")
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return pd.Series(np.diff(np.r_[starts, len(values)]), dtype="int64")


RANKERS: dict[str, type[ApplyRateRanker]] = {"lightgbm": LightGBMRanker, "xgboost": XGBoostRanker}


def make_ranker(kind: str, **params: Any) -> ApplyRateRanker:
    """An unfitted ranker of `kind` ("lightgbm" or "xgboost") with the given hyperparameters."""
    if kind not in RANKERS:
        raise ValueError(f"unknown ranker kind {kind!r}; expected one of {sorted(RANKERS)}")
    return RANKERS[kind](**params)


def load_ranker(folder: Path) -> ApplyRateRanker:
    """Reads a folder written by `ApplyRateRanker.save`, compiled and ready to predict."""
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no saved ranker in {folder} (missing {METADATA_FILE}); train one with "
            "`recsys ranker train` or check the path"
        )
    try:
        metadata = json.loads(path.read_text())
        ranker_class = RANKERS[metadata["kind"]]
        return ranker_class._restore(folder, metadata)
    except Exception as error:
        raise ValueError(
            f"the saved ranker in {folder} is unreadable or corrupt: {error}"
        ) from error
