"""The closed loop: simulated seekers served by the real Recommender, with a little exploration.

Each day the market's requests go through `Recommender.recommend`; the served lists (and the exact
feature rows the fine stage scored, with their slots) are logged; clicks and applies are sampled
from the ground truth; histories and job popularity are updated from the day's events for the
next day. Exploration: a share of lists is served in random order (so the slot's effect can be
told apart from the job's), and a few slots per list show a random job from the fine pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.market.market import Market
from recsys.market.simulate import simulate_days
from recsys.market.traffic import DayRequests
from recsys.pipeline.candidates import Candidates, Filters, History, Profile, RequestContext
from recsys.pipeline.catalog import Popularity, ServingCatalog
from recsys.pipeline.recommender import Recommender
from recsys.ranking.training_data import feature_frame, write_feature_rows

#: seekers who will not relocate search within this radius (remote jobs pass any radius).
LOCAL_RADIUS_KM = 80.0
#: a seeker counts as new this long after first being seen.
NEW_SEEKER_DAYS = 2
#: days since last activity for a seeker never seen active.
NEVER_ACTIVE_DAYS = 365.0


@dataclass
class Exploration:
    shuffle_share: float = 0.15
    random_slot_share: float = 0.1


@dataclass
class LoopState:
    """What the service would hold in its online store: seekers' histories, built from events."""

    applied: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    clicks: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    impressions: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    last_active: dict[int, np.datetime64] = field(default_factory=dict)

    def history(self, market: Market, row: int, now: np.datetime64) -> History:
        applied = self.applied.get(row, [])
        first_seen = np.datetime64(market.seekers["first_seen"].iat[row], "s")
        last = self.last_active.get(row)
        since = (
            (now - last).astype("timedelta64[s]").astype(float) / 86400
            if last
            else NEVER_ACTIVE_DAYS
        )
        return History(
            applied_job_ids=np.array(applied[-50:], dtype=np.int64),
            n_applies=len(applied),
            n_clicks=self.clicks.get(row, 0),
            n_impressions=self.impressions.get(row, 0),
            days_since_last_activity=since,
            is_new=bool((now - first_seen) < np.timedelta64(NEW_SEEKER_DAYS, "D")),
        )

    def observe(self, market: Market, events: pd.DataFrame) -> None:
        """Fold events into the histories (per seeker; counts are vector ops per event type)."""
        rows = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
        for kind, frame in events.groupby("type"):
            seeker = rows[frame["user_id"]].to_numpy()
            if kind == "apply":
                for s, j in zip(seeker.tolist(), frame["job_id"].tolist()):
                    self.applied[s].append(j)
                continue
            counter = self.clicks if kind == "click" else self.impressions
            for s, n in pd.Series(seeker).value_counts().items():
                counter[int(s)] += int(n)
            if kind == "impression":
                last = frame.groupby(seeker)["ts"].max()
                for s, t in last.items():
                    self.last_active[int(s)] = np.datetime64(t.tz_localize(None), "s")


def seeker_profile(market: Market, row: int) -> Profile:
    s = market.seekers.iloc[row]
    return Profile(
        desired_title=str(s["desired_title"]),
        skills=list(s["skills"]),
        lat=float(s["lat"]),
        lon=float(s["lon"]),
        location=f"{s['city']}, {s['state']}",
        level=int(s["level"]),
        expected_salary=float(s["expected_salary"]),
        wants_remote=bool(s["wants_remote"]),
        relocate=bool(s["relocate"]),
    )


def seeker_filters(profile: Profile) -> Filters:
    return Filters(radius_km=None if profile.relocate else LOCAL_RADIUS_KM, remote="acceptable")


class RecommenderPolicy:
    """A `ServingPolicy` backed by the Recommender; logs served feature rows to `features_root`."""

    def __init__(
        self, recommender: Recommender, features_root: Path, exploration: Exploration | None = None
    ):
        self.recommender = recommender
        self.features_root = Path(features_root)
        self.exploration = exploration or Exploration()
        self.state = LoopState()

    def __call__(
        self, market: Market, requests: DayRequests, rng: np.random.Generator
    ) -> np.ndarray:
        length = market.config.list_length
        rec = self.recommender
        titles = market.seekers["desired_title"].to_numpy()[requests.seekers]
        queries = rec.encoder.encode(list(titles), batch_size=256)
        lists = np.zeros((len(requests.seekers), length), dtype=np.int64)
        frames = []
        for i, row in enumerate(requests.seekers.tolist()):
            profile = seeker_profile(market, row)
            ctx = RequestContext(
                request_id=str(requests.request_ids[i]),
                profile=profile,
                now=requests.ts[i],
                k=length,
                user_id=str(market.seekers["user_id"].iat[row]),
                history=self.state.history(market, row, requests.ts[i]),
                filters=seeker_filters(profile),
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
        self.state = LoopState()
        self.recommender.catalog.popularity = Popularity.zeros(len(self.recommender.catalog))
        if first_day > 0:
            before = read_events(
                events_root, None, market.config.start + timedelta(days=first_day - 1)
            )
            self.observe(market, before)

    def observe(self, market: Market, events: pd.DataFrame) -> None:
        """Fold a day's events into histories and the catalog's popularity counters."""
        self.state.observe(market, events)
        catalog = self.recommender.catalog
        catalog.popularity.add(catalog_popularity(catalog, events))


def catalog_popularity(catalog: ServingCatalog, events: pd.DataFrame) -> Popularity:
    """Impression, click and apply counts per catalog row from an event frame."""
    pop = Popularity.zeros(len(catalog))
    if events.empty:
        return pop
    counts = events.groupby(["job_id", "type"]).size().unstack(fill_value=0)
    rows = catalog.rows_of(counts.index.to_numpy())
    known = rows >= 0
    for kind, arr in (
        ("impression", pop.impressions),
        ("click", pop.clicks),
        ("apply", pop.applies),
    ):
        if kind in counts:
            arr[rows[known]] = counts[kind].to_numpy(np.float32)[known]
    return pop


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
