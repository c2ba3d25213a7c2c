"""What flows between stages: one request's context and a columnar candidate set.

Stages never loop over candidates in Python: a candidate set is catalog row ids plus one score
column per stage (and, after the fine stage, the feature rows it scored), and a stage returns a
smaller or reordered set built with `take`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Profile:
    """What we know of the seeker for this request: stated, stored or sent inline."""

    desired_title: str
    skills: list[str] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    location: str = ""
    level: int | None = None
    expected_salary: float | None = None
    wants_remote: bool = False
    relocate: bool = False


@dataclass
class History:
    """The seeker's past behaviour from the online store (empty for a cold start)."""

    applied_job_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    clicked_job_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_applies: int = 0
    n_clicks: int = 0
    n_impressions: int = 0
    days_since_last_activity: float = 365.0
    is_new: bool = True


@dataclass
class Filters:
    """Hard filters the recall stage applies inside the search."""

    radius_km: float | None = None
    remote: str = "acceptable"  # "only", "acceptable" or "exclude"
    min_zone: int = 1
    max_zone: int = 5


@dataclass
class SeekerView:
    """The seeker turned into arrays once per request (the 'profile' step), read by all stages."""

    query: np.ndarray  # L2-normalised query vector
    occupation: int  # inferred taxonomy index of the desired title (-1 unknown)
    skills: np.ndarray  # binary row over the taxonomy skill vocabulary, dense float32
    n_skills: int
    title_words: np.ndarray  # dense 0/1 over the catalog's title vocabulary
    applied_rows: np.ndarray  # catalog rows of jobs applied to (for similarity and exclusion)


@dataclass
class RequestContext:
    """One request as every stage sees it; stages add their timings and counts."""

    request_id: str
    profile: Profile
    now: np.datetime64
    k: int = 20
    user_id: str | None = None
    history: History = field(default_factory=History)
    filters: Filters = field(default_factory=Filters)
    seeker: SeekerView | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def view(self) -> SeekerView:
        if self.seeker is None:
            raise RuntimeError("the profile step has not run: RequestContext.seeker is unset")
        return self.seeker


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
