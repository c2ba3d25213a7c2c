"""What flows between stages: a columnar candidate set, and the Stage protocol.

Stages never loop over candidates in Python: a candidate set is catalog row ids plus one score
column per stage (and, after the fine stage, the feature rows it scored), and a stage returns a
smaller or reordered set built with `take`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from recsys.core.context import RequestContext


@dataclass
class Candidates:
    """Catalog rows with one score column per stage; `features` is set by the fine stage."""

    rows: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        for name, col in self.scores.items():
            if len(col) != len(self.rows):
                raise ValueError(
                    f"score column {name!r} has {len(col)} values for {len(self.rows)} candidates"
                )

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, idx: np.ndarray) -> Candidates:
        """The candidates at positions `idx`, in that order, with every column."""
        idx = np.asarray(idx, dtype=np.int64)
        return Candidates(
            rows=self.rows[idx],
            scores={k: v[idx] for k, v in self.scores.items()},
            features=None if self.features is None else self.features[idx],
        )

    def with_score(self, name: str, values: np.ndarray) -> Candidates:
        return Candidates(self.rows, {**self.scores, name: np.asarray(values)}, self.features)

    def top(self, score: str, k: int) -> Candidates:
        """The k best by `score`, best first (stable for ties)."""
        s = self.scores[score]
        if k < len(s):
            part = np.argpartition(-s, k - 1)[:k]
            order = part[np.argsort(-s[part], kind="stable")]
        else:
            order = np.argsort(-s, kind="stable")
        return self.take(order)


class Stage(Protocol):
    """A step of the request path: takes candidates, returns fewer or reordered ones."""

    name: str

    def __call__(self, ctx: RequestContext, candidates: Candidates) -> Candidates: ...
