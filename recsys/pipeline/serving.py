"""Serving pieces loaded from disk: a market (or any catalog), the encoder, the chosen ranker.

The CLI (`recsys recommend`, `recsys evaluate ranking`) and the demo build their Recommender here,
so there is one way to go from folders to a serving pipeline. Requests are built either from a
stored seeker (profile plus history replayed from the event log) or from an inline profile, the
cold start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.closed_loop import (
    LOCAL_RADIUS_KM,
    LoopState,
    catalog_popularity,
    seeker_filters,
    seeker_profile,
)
from recsys.data.geo import get_gazetteer
from recsys.data.taxonomy import load_taxonomy
from recsys.evaluation.ranking import evaluate_ranking
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender
from recsys.pipeline.candidates import Filters, Profile, RequestContext
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
    state: LoopState
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
        state = LoopState()
        if not events.empty:
            state.observe(market, events)
            rec.catalog.popularity = catalog_popularity(rec.catalog, events)
        return cls(market, Path(folder), rec, state, kind)

    def seeker_request(
        self, user_id: str, k: int, now: np.datetime64 | None = None
    ) -> RequestContext:
        """A request for a stored seeker: their profile and their history so far."""
        rows = np.flatnonzero(self.market.seekers["user_id"].to_numpy() == user_id)
        if len(rows) == 0:
            raise KeyError(
                f"unknown user id {user_id!r}; ids look like "
                f"{self.market.seekers['user_id'].iat[0]!r}"
            )
        row = int(rows[0])
        now = now if now is not None else market_now(self.market)
        profile = seeker_profile(self.market, row)
        return RequestContext(
            request_id=uuid.uuid4().hex,
            profile=profile,
            now=now,
            k=k,
            user_id=user_id,
            history=self.state.history(self.market, row, now),
            filters=seeker_filters(profile),
        )


def market_now(market: Market) -> np.datetime64:
    """The simulated clock: noon of the day after the market's last day."""
    end = market.config.start + timedelta(days=market.config.days)
    return np.datetime64(f"{end.isoformat()}T12:00:00", "s")


def inline_profile(
    title: str,
    location: str | None = None,
    skills: list[str] | None = None,
    level: int | None = None,
    wants_remote: bool = False,
) -> Profile:
    """A profile sent with the request; the location is resolved by the gazetteer.

    A place coarser than a city (a state, the country) is no point to measure a radius from, so
    such a profile is marked `relocate` (search anywhere; distance still counts in the ranking).
    """
    if not title or not title.strip():
        raise ValueError("a profile needs a desired title")
    lat = lon = None
    label = ""
    precise = False
    if location:
        place = get_gazetteer().resolve(location)
        lat, lon, label = place.lat, place.lon, place.label
        precise = place.precision == "city"
    return Profile(
        desired_title=title.strip(),
        skills=list(skills or []),
        lat=lat,
        lon=lon,
        location=label,
        level=level,
        wants_remote=wants_remote,
        relocate=not precise,
    )


def profile_request(
    title: str,
    location: str | None = None,
    skills: list[str] | None = None,
    k: int = 10,
    radius_km: float | None = LOCAL_RADIUS_KM,
    remote: str = "acceptable",
    level: int | None = None,
    now: np.datetime64 | None = None,
) -> RequestContext:
    """A cold-start request from an inline profile (see `inline_profile`)."""
    profile = inline_profile(title, location, skills, level)
    return RequestContext(
        request_id=uuid.uuid4().hex,
        profile=profile,
        now=now if now is not None else np.datetime64("now", "s"),
        k=k,
        filters=Filters(radius_km=None if profile.relocate else radius_km, remote=remote),
    )


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
