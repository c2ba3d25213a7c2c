"""Run a market for a number of days and write its events as daily Parquet partitions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import write_partition
from recsys.market.employer import employer_day
from recsys.market.market import Market
from recsys.market.traffic import NeighbourhoodPolicy, ServingPolicy, day_requests, sample_outcomes


def simulate_days(
    market: Market,
    out: Path,
    days: range | None = None,
    policy: ServingPolicy | None = None,
    progress: Callable[[int], None] | None = None,
    observe: Callable[[int, pd.DataFrame], None] | None = None,
) -> dict[str, int]:
    """Serve each day's requests with `policy`, sample outcomes, write `out/events/date=.../`.

    Each day draws from its own generator seeded by (seed, day), so re-running one day (or the
    days in another order) gives the same events. `observe(day, events)` sees each day's events
    after they are written (the closed loop updates histories and popularity there). The
    employer side of each day (responses to applies, recruiter sessions: `recsys.market.employer`)
    is written next to them; its counts are in the totals too.
    """
    policy = policy or NeighbourhoodPolicy()
    days = days if days is not None else range(market.config.days)
    totals = {"requests": 0, "impression": 0, "click": 0, "apply": 0}
    for day in days:
        rng = np.random.default_rng([market.config.seed, 1_000 + day])
        requests = day_requests(market, day, rng)
        lists = policy(market, requests, rng)
        events = sample_outcomes(market, requests, lists, rng)
        write_partition(Path(out) / "events", market.config.start + timedelta(days=day), events)
        if observe:
            observe(day, events)
        totals["requests"] += len(requests.seekers)
        for kind, count in events["type"].value_counts().items():
            totals[str(kind)] += int(count)
        for kind, count in employer_day(market, Path(out), day, events).items():
            totals[kind] = totals.get(kind, 0) + count
        if progress:
            progress(day)
    return totals
