"""How many requests interleaving needs to find the better ranker, against an A/B split.

The market's requests are run through the real pipeline up to the coarse cut; on those pools two
rankers compete: the champion orders by the coarse score, the challenger by the coarse score
plus `lift` times the (standardised) true relevance, so the oracle knows the challenger is the
better one and by how much (its oracle nDCG@10 is reported). For each traffic size and seed,
clicks and applies are drawn from the market's behaviour model (examination x relevance):

- interleaving: every request is served a team-draft list, credit goes to the slot's team, the
  team winning more requests is picked (and the sign test says whether that is significant);
- A/B: the same number of requests split in half, each half served one ranker's list, the ranker
  with more credit per request (clicks + APPLY_WEIGHT x applies) is picked (Welch's t-test).

A method "finds" the challenger at a traffic size when it picks it in at least `need` of the
seeded runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ttest_ind

from recsys.core.context import request_context
from recsys.core.profiles import seeker_profile
from recsys.evaluation.metrics import ndcg_at_k
from recsys.experiments.interleaving import APPLY_WEIGHT, credit, outcome, team_draft
from recsys.market.behaviour import examination
from recsys.market.market import Market
from recsys.market.traffic import day_requests
from recsys.pipeline.recommender import Recommender


@dataclass
class Pools:
    """Per request (n x P): coarse pool rows, their coarse scores and their true relevance."""

    rows: np.ndarray
    coarse: np.ndarray
    relevance: np.ndarray


def request_pools(market: Market, recommender: Recommender, days: range, depth: int) -> Pools:
    """The coarse pools (the first `depth` by coarse score) of the market's requests on `days`."""
    rows, coarse, rel = [], [], []
    for day in days:
        req = day_requests(market, day, np.random.default_rng([market.config.seed, 1_000 + day]))
        for i, s in enumerate(req.seekers.tolist()):
            ctx = request_context(seeker_profile(market.seekers, s), req.ts[i], k=depth)
            pool = recommender.run_through(ctx, "coarse")
            pool = pool.top("coarse", min(depth, len(pool)))
            if len(pool) < depth:
                continue
            rows.append(pool.rows)
            coarse.append(pool.scores["coarse"].astype(np.float64))
            rel.append(market.model.relevance(np.full(depth, s), pool.rows, day + 0.5))
    return Pools(np.stack(rows), np.stack(coarse), np.stack(rel))


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / np.maximum(x.std(axis=1, keepdims=True), 1e-9)


def rankings(pools: Pools, lift: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions into each pool (n x length) of the champion's and the challenger's top lists."""
    champ = np.argsort(-pools.coarse, axis=1, kind="stable")[:, :length]
    score = _zscore(pools.coarse) + lift * _zscore(pools.relevance)
    chall = np.argsort(-score, axis=1, kind="stable")[:, :length]
    return champ, chall


def oracle_ndcg(pools: Pools, order: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k of a ranking of the pools, gains the true relevance, ideal the pool's best."""
    gains = np.take_along_axis(pools.relevance, order, axis=1)
    return float(ndcg_at_k(gains, pools.relevance, k).mean())


def _behave(rel: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clicks and applies on lists of true relevance `rel` (n x k), the market's model."""
    exam = examination(np.arange(rel.shape[1]))[None, :]
    sq = np.sqrt(rel)
    clicks = rng.random(rel.shape) < exam * sq
    applies = clicks & (rng.random(rel.shape) < sq)
    return clicks, applies


def interleaving_pick(
    pools: Pools, champ: np.ndarray, chall: np.ndarray, idx: np.ndarray, rng: np.random.Generator
) -> tuple[str, float]:
    """The leader and the sign test's p-value of team-draft interleaving on requests `idx`."""
    merged, team = team_draft(champ[idx], chall[idx], champ.shape[1], rng)
    rel = np.take_along_axis(pools.relevance[idx], np.maximum(merged, 0), axis=1) * (merged >= 0)
    clicks, applies = _behave(rel, rng)
    o = outcome(credit(team, clicks, applies))
    return o.leader, o.p_value


def ab_pick(
    pools: Pools, champ: np.ndarray, chall: np.ndarray, idx: np.ndarray, rng: np.random.Generator
) -> tuple[str, float]:
    """The leader and Welch's p-value of an A/B split of requests `idx` (half to each)."""
    arm = rng.permutation(len(idx)) % 2 == 1
    values = []
    for order, take in ((champ, ~arm), (chall, arm)):
        rel = np.take_along_axis(pools.relevance[idx[take]], order[idx[take]], axis=1)
        clicks, applies = _behave(rel, rng)
        values.append(clicks.sum(axis=1) + APPLY_WEIGHT * applies.sum(axis=1))
    a, b = values
    if a.mean() == b.mean():
        return "tie", 1.0
    p = float(ttest_ind(b, a, equal_var=False).pvalue)
    return ("challenger" if b.mean() > a.mean() else "champion"), p


def sensitivity(
    pools: Pools,
    lift: float,
    sizes: Sequence[int],
    seeds: int = 20,
    length: int = 20,
    alpha: float = 0.05,
) -> dict[str, object]:
    """For each traffic size: in how many of `seeds` runs each method led with the challenger,
    and in how many it did so significantly at `alpha`; plus both rankers' oracle nDCG@10."""
    champ, chall = rankings(pools, lift, length)
    table = []
    for n in sizes:
        row: dict[str, int] = {"requests": int(n)}
        for name, pick in (("interleaving", interleaving_pick), ("ab", ab_pick)):
            led = significant = 0
            for seed in range(seeds):
                rng = np.random.default_rng([seed, n])
                idx = rng.integers(0, len(pools.rows), n)
                leader, p = pick(pools, champ, chall, idx, rng)
                led += leader == "challenger"
                significant += leader == "challenger" and p < alpha
            row[f"{name}_correct"] = led
            row[f"{name}_significant"] = significant
        table.append(row)
    return {
        "pool_requests": len(pools.rows),
        "lift": lift,
        "seeds": seeds,
        "ndcg@10_champion": oracle_ndcg(pools, champ),
        "ndcg@10_challenger": oracle_ndcg(pools, chall),
        "sizes": table,
    }


def requests_needed(result: dict[str, object], method: str, need: int, key: str) -> int | None:
    """The smallest traffic size at which `method` reached `need` runs by `key` ('correct' or
    'significant'); None when no size did."""
    for row in result["sizes"]:  # type: ignore[attr-defined]
        if row[f"{method}_{key}"] >= need:
            return int(row["requests"])
    return None
