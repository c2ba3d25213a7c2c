"""The closed loop: simulated seekers served by the real Recommender, with a little exploration.

Each day the market's requests go through `Recommender.recommend`; the served lists (and the exact
feature rows the fine stage scored, with their slots) are logged; clicks and applies are sampled
from the ground truth; histories and job popularity are updated from the day's events for the
next day. Exploration: a share of lists is served in random order (so the slot's effect can be
told apart from the job's), and a few slots per list show a random job from the fine pool.
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
from recsys.market.market import Market
from recsys.market.simulate import simulate_days
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
            self.observe(market, before)

    def observe(self, market: Market, events: pd.DataFrame) -> None:
        """Fold a day's events into histories and the catalog's popularity counters."""
        self.state.observe(market.seekers, events)
        self.recommender.catalog.add_events(events)


def run_closed_loop(
    market: Market,
    folder: Path,
    recommender: Recommender,
    days: range,
    exploration: Exploration | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Serve `days` of the market with `recommender`; events go to `folder/events`, the served
    feature rows to `folder/features`. Earlier days' events are replayed into the state first."""
    folder = Path(folder)
    policy = RecommenderPolicy(recommender, folder / "features", exploration)
    policy.resume(market, folder / "events", days.start)
    return simulate_days(
        market,
        folder,
        days,
        policy,
        progress,
        observe=lambda _day, events: policy.observe(market, events),
    )
