"""The closed loop: simulated seekers served by the real Recommender, with a little exploration.

Each day the market's requests go through `Recommender.recommend`; the served lists (and the exact
feature rows the fine stage scored, with their slots) are logged; clicks and applies are sampled
from the ground truth; histories and job popularity are updated from the day's events for the
next day, through the same online-store code the service runs (`recsys.core.histories`).
Exploration: a share of lists is served in random order (so the slot's effect can be told apart
from the job's), and a few slots per list show a random job from the fine pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.core.candidates import Candidates
from recsys.core.context import request_context
from recsys.core.histories import ReplayedHistories
from recsys.core.profiles import seeker_profile
from recsys.core.sources import SOURCE_COLUMN
from recsys.market.market import Market
from recsys.market.simulate import simulate_days
from recsys.market.summary import outcome_rates
from recsys.market.traffic import DayRequests
from recsys.pipeline.recommender import Recommender
from recsys.ranking.training_data import feature_frame, write_feature_rows


@dataclass
class Exploration:
    shuffle_share: float = 0.15
    random_slot_share: float = 0.1


class RecommenderPolicy:
    """A `ServingPolicy` backed by the Recommender; logs served feature rows to `features_root`."""

    def __init__(
        self, recommender: Recommender, features_root: Path, exploration: Exploration | None = None
    ):
        self.recommender = recommender
        self.features_root = Path(features_root)
        self.exploration = exploration or Exploration()
        self.state = ReplayedHistories()
        #: request id -> the recall source of each served slot (-1: exploration or filler)
        self.served_sources: dict[str, np.ndarray] = {}

    def __call__(
        self, market: Market, requests: DayRequests, rng: np.random.Generator
    ) -> np.ndarray:
        length = market.config.list_length
        rec = self.recommender
        titles = market.seekers["desired_title"].to_numpy()[requests.seekers]
        queries = rec.encoder.encode(list(titles))
        lists = np.zeros((len(requests.seekers), length), dtype=np.int64)
        frames = []
        for i, row in enumerate(requests.seekers.tolist()):
            ctx = request_context(
                seeker_profile(market.seekers, row),
                requests.ts[i],
                k=length,
                user_id=str(market.seekers["user_id"].iat[row]),
                history=self.state.history(market.seekers, row, requests.ts[i]),
                request_id=str(requests.request_ids[i]),
            )
            out = rec.recommend(ctx, query=queries[i], keep_stage_outputs=True)
            served = self._explore(out.items, out.stage_outputs["fine"], length, rng)
            lists[i, : len(served)] = served.rows
            self.served_sources[ctx.request_id] = slot_sources(out.items, lists[i])
            if len(served) < length:  # a thin neighbourhood: fill with random live jobs
                lists[i, len(served) :] = rng.integers(0, len(market.jobs), length - len(served))
            assert served.features is not None
            frames.append(
                feature_frame(
                    np.full(len(served), ctx.request_id),
                    np.full(len(served), ctx.user_id),
                    rec.catalog.arrays.job_id[served.rows],
                    np.arange(len(served)),
                    np.full(len(served), requests.ts[i]),
                    served.features,
                )
            )
        if frames:
            day = market.config.start + timedelta(days=requests.day)
            write_feature_rows(self.features_root, day, pd.concat(frames, ignore_index=True))
        return lists

    def _explore(
        self, served: Candidates, pool: Candidates, length: int, rng: np.random.Generator
    ) -> Candidates:
        """Swap a few slots for random jobs from the fine pool; shuffle a share of lists."""
        ex = self.exploration
        swap = np.flatnonzero(rng.random(len(served)) < ex.random_slot_share)
        outside = np.flatnonzero(~np.isin(pool.rows, served.rows))
        n = min(len(swap), len(outside))
        if n and served.features is not None and pool.features is not None:
            extra = pool.take(rng.choice(outside, n, replace=False))
            rows, feats = served.rows.copy(), served.features.copy()
            rows[swap[:n]] = extra.rows
            feats[swap[:n]] = extra.features
            served = Candidates(rows, {}, feats)
        if rng.random() < ex.shuffle_share:
            served = served.take(rng.permutation(len(served)))
        return served

    def resume(self, market: Market, events_root: Path, first_day: int) -> None:
        """Rebuild histories and popularity from the events logged before `first_day`, so a
        loop run in parts (coarse-only days, then days with a model) sees what it would have."""
        self.state = ReplayedHistories()
        self.recommender.catalog.reset_popularity()
        if first_day > 0:
            before = read_events(
                events_root, None, market.config.start + timedelta(days=first_day - 1)
            )
            self.observe(market, first_day - 1, before)

    def observe(self, market: Market, day: int, events: pd.DataFrame) -> None:
        """Fold day `day`'s events into histories, then set job popularity to the online
        store's window as the next day begins (the service's rule, `ReplayedHistories`)."""
        self.state.observe(market.seekers, events)
        next_day = market.config.start + timedelta(days=day + 1)
        self.state.refresh_popularity(self.recommender.catalog, np.datetime64(next_day, "s"))


def slot_sources(items: Candidates, served_rows: np.ndarray) -> np.ndarray:
    """The recall source code of each served row as `items` tagged it; -1 for rows `items`
    does not hold (an explored or filler slot) or when recall tagged no sources."""
    codes = np.full(len(served_rows), -1, np.int8)
    col = items.scores.get(SOURCE_COLUMN)
    if col is None or len(items) == 0:
        return codes
    order = np.argsort(items.rows, kind="stable")
    at = np.minimum(np.searchsorted(items.rows[order], served_rows), len(order) - 1)
    hit = items.rows[order][at] == served_rows
    codes[hit] = col[order][at[hit]]
    return codes


def loop_summary(totals: dict[str, int]) -> dict[str, float]:
    """The closed loop's counts with the seeker side's two rates: applies per impression and
    applies answered positively by the employer per impression (what the seeker side can now
    optimise for)."""
    return {**{k: float(v) for k, v in totals.items()}, **outcome_rates(totals)}


def run_closed_loop(
    market: Market,
    folder: Path,
    recommender: Recommender,
    days: range,
    exploration: Exploration | None = None,
    progress: Callable[[int], None] | None = None,
    policy: RecommenderPolicy | None = None,
) -> dict[str, int]:
    """Serve `days` of the market with `recommender`; events go to `folder/events`, the served
    feature rows to `folder/features`. Earlier days' events are replayed into the state first.
    `policy` (built over `recommender` by the caller) lets it read what was served afterwards."""
    folder = Path(folder)
    policy = policy or RecommenderPolicy(recommender, folder / "features", exploration)
    policy.resume(market, folder / "events", days.start)
    return simulate_days(
        market,
        folder,
        days,
        policy,
        progress,
        observe=lambda day, events: policy.observe(market, day, events),
    )
