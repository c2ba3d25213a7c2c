"""The closed loop with an online experiment: a share of traffic interleaves champion and
challenger (team draft), the rest sees the champion; the team of every slot goes to the
experiment log next to the events, where `recsys experiments show` finds it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.experiments.assignment import in_experiment
from recsys.experiments.interleaving import team_draft
from recsys.experiments.log import team_frame, write_teams
from recsys.market.market import Market
from recsys.market.simulate import simulate_days
from recsys.market.traffic import DayRequests
from recsys.offline.closed_loop import Exploration, RecommenderPolicy
from recsys.pipeline.recommender import Recommender


class InterleavedPolicy:
    """A `ServingPolicy`: champion lists, team-draft lists for the requests in the experiment."""

    def __init__(
        self,
        champion: Recommender,
        challenger: Recommender,
        folder: Path,
        share: float,
        name: str = "champion-vs-challenger",
    ):
        none = Exploration(0.0, 0.0)
        self.arms = [
            RecommenderPolicy(champion, folder / "features", none),
            RecommenderPolicy(challenger, folder / "features_challenger", none),
        ]
        self.log_root = folder / "experiments"
        self.share = share
        self.name = name

    def __call__(
        self, market: Market, requests: DayRequests, rng: np.random.Generator
    ) -> np.ndarray:
        champ, chall = (arm(market, requests, rng) for arm in self.arms)
        taken = in_experiment(requests.request_ids, self.share, self.name)
        lists = champ.copy()
        if taken.any():
            merged, team = team_draft(champ[taken], chall[taken], champ.shape[1], rng)
            lists[taken] = np.where(merged >= 0, merged, champ[taken])
            day = market.config.start + timedelta(days=requests.day)
            write_teams(
                self.log_root, day, team_frame(self.name, requests.request_ids[taken], team)
            )
        return lists

    def observe(self, market: Market, day: int, events: pd.DataFrame) -> None:
        for arm in self.arms:
            arm.observe(market, day, events)


def run_interleaved_loop(
    market: Market,
    folder: Path,
    champion: Recommender,
    challenger: Recommender,
    days: range,
    share: float,
) -> dict[str, int]:
    """Serve `days` with the experiment on `share` of the requests; events and the experiment
    log are written under `folder`."""
    folder = Path(folder)
    policy = InterleavedPolicy(champion, challenger, folder, share)
    for arm in policy.arms:
        arm.resume(market, folder / "events", days.start)
    return simulate_days(
        market, folder, days, policy, observe=lambda d, e: policy.observe(market, d, e)
    )
