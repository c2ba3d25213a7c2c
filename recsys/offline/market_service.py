"""A market folder served by the real pipeline for the CLI and the demo, and its evaluation.

`recsys recommend` and `recsys evaluate ranking` build their Recommender here, so there is one
way to go from folders to a pipeline over a simulated market. A stored seeker's request carries
the profile from the seekers table and the history replayed from the event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.core.context import RequestContext, request_context
from recsys.core.folder import simulated_now
from recsys.core.histories import ReplayedHistories
from recsys.core.profiles import seeker_profile
from recsys.data.taxonomy import load_taxonomy
from recsys.lifecycle.ranking_evaluation import evaluate_ranking
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender
from recsys.pipeline.recommender import Recommender
from recsys.ranking.apply_rate_ranker import load_ranker
from recsys.ranking.train import KINDS, load_selected
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings


@dataclass
class MarketService:
    """A market folder served by a Recommender, with the seekers' state as of `until`."""

    market: Market
    folder: Path
    recommender: Recommender
    state: ReplayedHistories
    ranker_kind: str | None

    @classmethod
    def open(
        cls,
        folder: Path,
        encoder: str | None = None,
        ranker: Path | None = None,
        until: date | None = None,
    ) -> MarketService:
        """Load the market, build the pipeline (coarse-only without a ranker) and replay the
        events up to `until` (default: all) into histories and job popularity."""
        settings = get_settings()
        taxonomy = load_taxonomy(settings.data_dir)
        market = Market.load(Path(folder), taxonomy)
        kind, model = load_selected(ranker) if ranker is not None else (None, None)
        rec = build_recommender(
            market.jobs,
            taxonomy,
            TitleEncoder.load(encoder or settings.encoder_model),
            ranker=model,
        )
        events = read_events(Path(folder) / "events", None, until)
        state = ReplayedHistories()
        state.observe(market.seekers, events)
        now = market_now(market) if until is None else np.datetime64(until, "s") + 86_400
        state.refresh_popularity(rec.catalog, now)
        return cls(market, Path(folder), rec, state, kind)

    def seeker_request(
        self, user_id: str, k: int, now: np.datetime64 | None = None
    ) -> RequestContext:
        """A request for a stored seeker: their profile and their history so far."""
        seekers = self.market.seekers
        rows = np.flatnonzero(seekers["user_id"].to_numpy() == user_id)
        if len(rows) == 0:
            raise KeyError(
                f"unknown user id {user_id!r}; ids look like {seekers['user_id'].iat[0]!r}"
            )
        row = int(rows[0])
        now = now if now is not None else market_now(self.market)
        return request_context(
            seeker_profile(seekers, row),
            now,
            k=k,
            user_id=user_id,
            history=self.state.history(seekers, row, now),
        )


def market_now(market: Market) -> np.datetime64:
    """The simulated clock: noon of the day after the market's last day."""
    return simulated_now(market.config.start, market.config.days)


def evaluate_market_day(
    folder: Path,
    day: int | date,
    ranker: Path | None,
    encoder: str | None = None,
    n_requests: int = 400,
) -> pd.DataFrame:
    """Offline ranking metrics on one logged day: popularity, coarse, every trained ranker kind
    found in `ranker` (LightGBM, XGBoost) and the oracle, with ratios to the oracle."""
    settings = get_settings()
    market = Market.load(Path(folder), load_taxonomy(settings.data_dir))
    index = day if isinstance(day, int) else (day - market.config.start).days
    if not index > 0:
        raise ValueError(
            f"day {day} must come after the market's first day "
            f"{market.config.start} (the ranker trains on earlier days)"
        )
    rec = build_recommender(
        market.jobs, market.taxonomy, TitleEncoder.load(encoder or settings.encoder_model)
    )
    models = {}
    if ranker is not None:
        models = {
            kind: load_ranker(Path(ranker) / kind)
            for kind in KINDS
            if (Path(ranker) / kind).is_dir()
        }
    return evaluate_ranking(
        market,
        Path(folder) / "events",
        rec,
        models,
        index,
        n_requests=n_requests,
        seed=settings.seed,
    )
