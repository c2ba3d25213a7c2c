"""The marketplace evaluation: the closed loop run with and without the congestion-aware rerank.

Both policies serve the same market from the same first day with the same seeds, each into its
own folder, so the requests are the same and only what was shown (and so applied to) differs.
Per policy it reports the Gini of applies per open job, the share of jobs with no apply in their
first 7 days in the loop, total applies, seeker-side nDCG@10 against the oracle (the best 10 open
jobs by true relevance for a sample of requests), and each recall source's share of the served
top 20 and of the applies.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.core.sources import SOURCES
from recsys.data.taxonomy import load_taxonomy
from recsys.evaluation.marketplace import gini, source_shares, zero_share
from recsys.evaluation.metrics import ndcg_at_k
from recsys.market.config import MarketConfig
from recsys.market.market import Market, generate_market
from recsys.market.needs import applies_wanted
from recsys.offline.closed_loop import Exploration, RecommenderPolicy, run_closed_loop
from recsys.pipeline.build import build_recommender
from recsys.pipeline.recommender import Recommender
from recsys.ranking.balance import CongestionBalance
from recsys.recall.encoder import TitleEncoder
from recsys.settings import get_settings

#: a job's first days in the loop over which a zero-apply job counts as starved
ZERO_APPLY_DAYS = 7
#: requests sampled per policy for the oracle nDCG (the ideal scores every open job)
NDCG_REQUESTS = 400


@dataclass(frozen=True)
class LoopPolicy:
    """A named serving policy for the marketplace comparison; `balance` None: no balancing."""

    name: str
    balance: CongestionBalance | None


def marketplace_policies(
    market: Market, strength: float, max_factor: float, default_need: float
) -> list[LoopPolicy]:
    """The baseline and the balanced policy, the latter with the market's per-job needs."""
    needs = applies_wanted(market.jobs, market.config.seed)
    balanced = CongestionBalance(strength, max_factor, default_need, needs)
    return [LoopPolicy("baseline", None), LoopPolicy(f"balanced(s={strength:g})", balanced)]


def open_window(market: Market, days: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per job: open at some time in the loop, and the start and end (float days) of its first
    ZERO_APPLY_DAYS days in the loop (NaN start when it has no such full window)."""
    posted = market.day_of(market.jobs["posted_at"].to_numpy("datetime64[s]"))
    expires = market.day_of(market.jobs["expires_at"].to_numpy("datetime64[s]"))
    is_open = (posted < days.stop) & (expires > days.start)
    start = np.maximum(posted, days.start)
    full = is_open & (start + ZERO_APPLY_DAYS <= days.stop) & (expires >= start + ZERO_APPLY_DAYS)
    return is_open, np.where(full, start, np.nan), start + ZERO_APPLY_DAYS


def oracle_ndcg(
    market: Market, events: pd.DataFrame, rng: np.random.Generator, k: int = 10
) -> float:
    """Mean nDCG@k of the served lists, gains the true relevance, the ideal the k most relevant
    jobs open at the request's time (a sample of NDCG_REQUESTS requests)."""
    imp = events[events["type"] == "impression"]
    if imp.empty:
        return float("nan")
    ids = imp["request_id"].unique()
    chosen = set(rng.choice(ids, min(NDCG_REQUESTS, len(ids)), replace=False).tolist())
    imp = imp[imp["request_id"].isin(chosen) & (imp["position"] < k)]
    user_row = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    job_row = pd.Series(np.arange(len(market.jobs)), index=market.jobs["job_id"])
    seeker = user_row[imp["user_id"]].to_numpy()
    job = job_row[imp["job_id"]].to_numpy()
    day = market.day_of(imp["ts"].dt.tz_localize(None).to_numpy("datetime64[s]"))
    rel = market.model.relevance(seeker, job, day)
    codes, req = np.unique(imp["request_id"].to_numpy(), return_inverse=True)
    served = np.zeros((len(codes), k))
    served[req, imp["position"].to_numpy()] = rel
    first = np.unique(req, return_index=True)[1]
    posted = market.day_of(market.jobs["posted_at"].to_numpy("datetime64[s]"))
    expires = market.day_of(market.jobs["expires_at"].to_numpy("datetime64[s]"))
    ideal = np.zeros((len(codes), k))
    for q, i in enumerate(first):  # one vectorised oracle pass per sampled request
        live = np.flatnonzero((posted <= day[i]) & (expires > day[i]))
        r = market.model.relevance(np.full(len(live), seeker[i]), live, day[i])
        ideal[q] = -np.sort(-r)[:k]
    return float(ndcg_at_k(served, ideal, k).mean())


def policy_metrics(
    market: Market, folder: Path, days: range, served_sources: dict[str, np.ndarray], seed: int
) -> dict[str, float]:
    """The marketplace and seeker metrics of one policy's loop in `folder`."""
    events = read_events(folder / "events", None, None)
    first = market.start + np.timedelta64(days.start, "D")
    events = events[events["ts"].dt.tz_localize(None) >= pd.Timestamp(first)]
    applies = events[events["type"] == "apply"]
    job_row = pd.Series(np.arange(len(market.jobs)), index=market.jobs["job_id"])
    rows = job_row[applies["job_id"]].to_numpy()
    when = market.day_of(applies["ts"].dt.tz_localize(None).to_numpy("datetime64[s]"))
    is_open, w_start, w_end = open_window(market, days)
    per_job = np.bincount(rows, minlength=len(market.jobs))
    in_window = (when >= w_start[rows]) & (when < w_end[rows])
    early = np.bincount(rows[in_window], minlength=len(market.jobs))
    tracked = ~np.isnan(w_start)
    out: dict[str, float] = {
        "jobs_open": int(is_open.sum()),
        "gini_applies": gini(per_job[is_open]),
        "zero_apply_share": zero_share(early[tracked]),
        "total_applies": int(len(applies)),
        "ndcg@10": oracle_ndcg(market, events, np.random.default_rng(seed)),
    }
    imp = events[events["type"] == "impression"]
    slot = _slot_codes(imp, served_sources)
    top = slot[imp["position"].to_numpy() < market.config.list_length]
    app = _slot_codes(applies, served_sources)
    for name, share in source_shares(top, SOURCES).items():
        out[f"share_top20_{name}"] = share
    for name, share in source_shares(app, SOURCES).items():
        out[f"share_applies_{name}"] = share
    return out


def _slot_codes(events: pd.DataFrame, served_sources: dict[str, np.ndarray]) -> np.ndarray:
    """The recall source of each event's (request, position) slot; -1 where none was logged."""
    if events.empty or not served_sources:
        return np.full(len(events), -1, np.int8)
    ids = np.array(list(served_sources))
    table = np.stack(list(served_sources.values()))
    order = np.argsort(ids)
    req = events["request_id"].to_numpy().astype(ids.dtype)
    at = np.minimum(np.searchsorted(ids[order], req), len(ids) - 1)
    known = ids[order][at] == req
    pos = np.minimum(events["position"].to_numpy(np.int64), table.shape[1] - 1)
    out = np.full(len(events), -1, np.int8)
    out[known] = table[order[at[known]], pos[known]]
    return out


def _named(progress: Callable[[str, int], None] | None, name: str) -> Callable[[int], None] | None:
    """`progress` with the policy's name bound (None stays None)."""
    if progress is None:
        return None
    report = progress
    return lambda day: report(name, day)


def run_marketplace(
    market: Market,
    folder: Path,
    recommender: Recommender,
    policies: list[LoopPolicy],
    days: range,
    warmup: range | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Each policy's metrics after serving `days` of `market` with `recommender` (balance set
    per policy). `warmup` days are served once by the baseline first and copied into every
    policy's folder, so the loops start from the same history."""
    folder = Path(folder)
    base = folder / "warmup"
    market.save(base)
    if warmup is not None and len(warmup):
        run_closed_loop(market, base, recommender.with_balance(None), warmup)
    results: dict[str, dict[str, float]] = {}
    for p in policies:
        out = folder / re.sub(r"[^A-Za-z0-9.]+", "_", p.name).strip("_")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(base, out)
        rec = recommender.with_balance(p.balance)
        policy = RecommenderPolicy(rec, out / "features", Exploration(0.0, 0.0))
        run_closed_loop(market, out, rec, days, progress=_named(progress, p.name), policy=policy)
        results[p.name] = policy_metrics(
            market, out, days, policy.served_sources, market.config.seed
        )
    return results


def evaluate_marketplace(
    folder: Path,
    days: int,
    n_jobs: int,
    n_seekers: int,
    seed: int,
    strength: float,
    max_factor: float,
    encoder: str = "base",
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Generate a market of `n_jobs` x `n_seekers` over `days`, serve it with the coarse-only
    pipeline (recall and coarse cuts scaled to the catalog) with and without balancing."""
    settings = get_settings()
    taxonomy = load_taxonomy(settings.data_dir)
    config = MarketConfig(n_jobs=n_jobs, n_seekers=n_seekers, days=days, seed=seed)
    market = generate_market(config, taxonomy, settings.data_dir)
    scaled = settings.model_copy(
        update={
            "recall_k": min(settings.recall_k, max(n_jobs // 2, 100)),
            "coarse_k": min(settings.coarse_k, max(n_jobs // 15, 50)),
        }
    )
    rec = build_recommender(market.jobs, taxonomy, TitleEncoder.load(encoder), settings=scaled)
    policies = marketplace_policies(market, strength, max_factor, settings.rerank_balance_need)
    return run_marketplace(market, folder, rec, policies, range(days), progress=progress)
