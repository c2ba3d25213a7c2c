"""Per-stage serving latency of a candidate ranker: the figure the retrain report shows."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from recsys.core.context import request_context
from recsys.core.profiles import seeker_profile
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.ranking.apply_rate_ranker import ApplyRateRanker

#: requests timed through the pipeline for the report's latency figure
LATENCY_REQUESTS: Final[int] = 40


def stage_latency(
    rec: Recommender,
    market: Market,
    model: ApplyRateRanker,
    seed: int,
    requests: int = LATENCY_REQUESTS,
) -> dict[str, float]:
    """Median ms per pipeline step over `requests` of the market's seekers (sampled with
    `seed`), served at the market's end by `rec` with `model` as its ranker."""
    ranked = rec.with_ranker(model)
    rows = np.random.default_rng(seed).choice(len(market.seekers), requests, replace=False)
    now = np.datetime64(market.config.start.isoformat(), "s") + np.timedelta64(
        market.config.days, "D"
    )
    timings: list[dict[str, float]] = []
    for row in rows.tolist():
        ctx = request_context(
            seeker_profile(market.seekers, row), now, k=20, request_id=f"latency-{row}"
        )
        ranked.recommend(ctx)
        timings.append(ctx.timings_ms)
    return {k: round(float(v), 3) for k, v in pd.DataFrame(timings).median().items()}
