"""Daily traffic: who asks for jobs, what they are shown, and what they click and apply to.

A `ServingPolicy` turns the day's requests into ranked lists of catalog rows. Until a recommender
exists the market serves with `NeighbourhoodPolicy`, a logging policy that mixes jobs from the
seeker's occupational neighbourhood with random live jobs in random order; the closed loop swaps in
the real recommender. Outcomes are sampled from the ground-truth `ApplyModel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from recsys.market.behaviour import examination
from recsys.market.market import Market

_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class DayRequests:
    """The requests of one day: one row per (seeker, request)."""

    day: int
    seekers: np.ndarray  # seeker rows
    request_ids: np.ndarray  # str
    ts: np.ndarray  # datetime64[s]


class ServingPolicy(Protocol):
    """Ranks jobs for a day's requests: returns catalog rows, shape (n_requests, list_length)."""

    def __call__(
        self, market: Market, requests: DayRequests, rng: np.random.Generator
    ) -> np.ndarray: ...


def live_jobs(market: Market, day: float) -> np.ndarray:
    """Catalog rows posted and not expired at `day` (days since start)."""
    posted = market.day_of(market.jobs["posted_at"].to_numpy("datetime64[s]"))
    expires = market.day_of(market.jobs["expires_at"].to_numpy("datetime64[s]"))
    return np.flatnonzero((posted <= day) & (expires > day))


class NeighbourhoodPolicy:
    """Half the list from the seeker's SOC minor group, a quarter from the major group, the rest
    random; shuffled. Broad enough that every kind of job gets impressions to learn from."""

    def __call__(
        self, market: Market, requests: DayRequests, rng: np.random.Generator
    ) -> np.ndarray:
        n, length = len(requests.seekers), market.config.list_length
        live = live_jobs(market, requests.day + 0.5)
        occ = market.job_occupation[live]
        seeker_occ = market.seeker_occupation[requests.seekers]
        cols = []
        for level, share in (("minor", 0.5), ("major", 0.25)):
            ids = market.taxonomy.level_ids(level)
            cols.append(
                self._from_groups(ids[occ], live, ids[seeker_occ], int(length * share), rng)
            )
        rest = length - sum(c.shape[1] for c in cols)
        cols.append(live[rng.integers(0, len(live), (n, rest))])
        lists = np.concatenate(cols, axis=1)
        lists = _dedupe_rows(lists, live, rng)
        return np.take_along_axis(lists, rng.random(lists.shape).argsort(axis=1), axis=1)

    @staticmethod
    def _from_groups(
        job_group: np.ndarray, live: np.ndarray, want: np.ndarray, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """k live jobs per request drawn from the request's group (random jobs if it is empty)."""
        order = np.argsort(job_group, kind="stable")
        sorted_groups = job_group[order]
        lo = np.searchsorted(sorted_groups, want, side="left")
        hi = np.searchsorted(sorted_groups, want, side="right")
        size = hi - lo
        u = rng.random((len(want), k))
        pos = lo[:, None] + (u * np.maximum(size, 1)[:, None]).astype(np.int64)
        picked = live[order[np.minimum(pos, len(live) - 1)]]
        fallback = live[rng.integers(0, len(live), (len(want), k))]
        return np.where((size > 0)[:, None], picked, fallback)


def _dedupe_rows(lists: np.ndarray, pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace repeats within a row by random jobs from `pool` (a few passes suffice)."""
    for _ in range(4):
        srt = np.sort(lists, axis=1)
        if not (srt[:, 1:] == srt[:, :-1]).any():
            break
        order = lists.argsort(axis=1, kind="stable")
        s = np.take_along_axis(lists, order, axis=1)
        dup_sorted = np.zeros_like(s, dtype=bool)
        dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        lists = np.where(dup, pool[rng.integers(0, len(pool), lists.shape)], lists)
    return lists


def day_requests(market: Market, day: int, rng: np.random.Generator) -> DayRequests:
    """Seekers who come on `day`: returning and already-joined new seekers, by activity rate."""
    cfg = market.config
    first = market.day_of(market.seekers["first_seen"].to_numpy("datetime64[s]"))
    joined = first <= day
    rate = np.where(
        market.seekers["is_new"].to_numpy(bool),
        cfg.daily_activity_new,
        cfg.daily_activity_returning,
    )
    rate = np.where(np.floor(first) == day, 1.0, rate)
    active = np.flatnonzero(joined & (rng.random(len(first)) < rate))
    seconds = rng.integers(7 * 3600, 23 * 3600, len(active))
    ts = (
        market.start
        + np.timedelta64(day * _SECONDS_PER_DAY, "s")
        + seconds.astype("timedelta64[s]")
    )
    ids = np.char.add(f"sim{cfg.seed}-d{day:03d}-", np.arange(len(active)).astype(str))
    return DayRequests(day, active, ids.astype(object), ts)


def sample_outcomes(
    market: Market, requests: DayRequests, lists: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Impressions for every slot, clicks and applies sampled from the ground truth."""
    n, length = lists.shape
    seeker = np.repeat(requests.seekers, length)
    job = lists.ravel()
    position = np.tile(np.arange(length), n)
    rel = market.model.relevance(seeker, job, requests.day + 0.5)
    exam = examination(position)
    sq = np.sqrt(rel)
    click = rng.random(len(job)) < exam * sq
    apply = click & (rng.random(len(job)) < sq)
    ts = np.repeat(requests.ts, length)
    click_ts = ts + rng.integers(5, 300, len(job)).astype("timedelta64[s]")
    apply_ts = click_ts + rng.integers(60, 1800, len(job)).astype("timedelta64[s]")

    request = np.repeat(requests.request_ids, length)
    user = market.seekers["user_id"].to_numpy()[seeker]
    job_id = market.jobs["job_id"].to_numpy()[job]
    parts = []
    for kind, mask, when in (
        ("impression", slice(None), ts),
        ("click", click, click_ts),
        ("apply", apply, apply_ts),
    ):
        req, pos = request[mask], position[mask]
        parts.append(
            pd.DataFrame(
                {
                    "event_id": req + ":" + pos.astype(str) + ":" + kind,
                    "ts": pd.to_datetime(when[mask]).tz_localize("UTC"),
                    "user_id": user[mask],
                    "job_id": job_id[mask],
                    "type": kind,
                    "request_id": req,
                    "position": pos.astype(np.int16),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
