"""The rerank policy of candidate lists: recent activity, diversity, and an exposure cap.

- **Recent activity.** A seeker active in the last days is likelier to answer: the fit score is
  raised by up to `activity` for a seeker active today, decaying with `activity_days`.
- **Diversity.** Seekers with the same desired title are discounted `diversity ** i` for the
  i-th one below the first, so one title does not fill the list.
- **Exposure cap.** No seeker is shown to more than `exposure_cap` employers within one window
  (a day by default): popular profiles would otherwise be flooded. `ExposureLedger` counts, per
  seeker row, the distinct employers shown; a seeker at the cap is dropped for other employers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from recsys.candidates.pool import SeekerPool


@dataclass(frozen=True)
class CandidateRerank:
    """Knobs of the rerank (module docstring)."""

    activity: float = 0.3
    activity_days: float = 14.0
    diversity: float = 0.85
    exposure_cap: int = 25

    def adjust(
        self, pool: SeekerPool, rows: np.ndarray, scores: np.ndarray, inactive: np.ndarray
    ) -> np.ndarray:
        """Reranked scores for `rows` (fit scores `scores`, days inactive `inactive`)."""
        boosted = scores * (1.0 + self.activity * np.exp(-inactive / self.activity_days))
        order = np.argsort(-boosted, kind="stable")
        titles = np.char.lower(pool.title[rows][order].astype(str))
        _, group = np.unique(titles, return_inverse=True)
        rank_in_group = _rank_within(group)
        out = np.empty_like(boosted)
        out[order] = boosted[order] * self.diversity**rank_in_group
        return out


def _rank_within(group: np.ndarray) -> np.ndarray:
    """0 for the first member of each group in order, 1 for the second, ..."""
    srt = np.argsort(group, kind="stable")
    g = group[srt]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(g)])
    within = np.arange(len(g)) - np.repeat(starts, counts)
    out = np.empty(len(g), np.int64)
    out[srt] = within
    return out


class ExposureLedger:
    """Distinct employers each seeker row was shown to in the current window (thread-safe)."""

    def __init__(self, n_seekers: int, window_s: int = 86_400):
        self.window_s = window_s
        self._counts = np.zeros(n_seekers, np.int32)
        self._seen: set[tuple[str, int]] = set()
        self._window: int | None = None
        self._lock = threading.Lock()

    def _roll(self, now: np.datetime64) -> None:
        window = int(np.asarray(now).astype("datetime64[s]").astype(np.int64)) // self.window_s
        if window != self._window:
            self._counts[:] = 0
            self._seen.clear()
            self._window = window

    def blocked(self, rows: np.ndarray, employer: str, cap: int, now: np.datetime64) -> np.ndarray:
        """Mask over `rows`: at the cap for employers other than `employer`."""
        with self._lock:
            self._roll(now)
            full = self._counts[rows] >= cap
            if not full.any():
                return full
            shown = np.fromiter(
                ((employer, int(r)) in self._seen for r in rows[full]), bool, int(full.sum())
            )
            full[np.flatnonzero(full)[shown]] = False
            return full

    def record(self, rows: np.ndarray, employer: str, now: np.datetime64) -> None:
        """Count the served rows as shown to `employer` (once per employer and window)."""
        with self._lock:
            self._roll(now)
            new = [int(r) for r in rows.tolist() if (employer, int(r)) not in self._seen]
            self._seen.update((employer, r) for r in new)
            np.add.at(self._counts, np.asarray(new, np.int64), 1)

    def count(self, row: int) -> int:
        return int(self._counts[row])
