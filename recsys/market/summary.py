"""What a generated market looks like: its jobs, its traffic, and the oracle against random."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from feature_store.events import read_events
from recsys.evaluation.metrics import ndcg_at_k
from recsys.market.employer import POSITIVE_RESPONSES, read_responses
from recsys.market.market import Market


def oracle_vs_random(
    market: Market, impressions: pd.DataFrame, k: int = 10, seed: int = 0
) -> dict[str, float | int]:
    """nDCG@k of the oracle and of a random order over the lists that were served.

    Labels are the seeker's intent, drawn as Bernoulli(relevance) with no position effect: what
    they would apply to if they read the whole list. The expected-gain variant uses relevance
    itself as the graded label (the oracle scores 1 there by construction).
    """
    rng = np.random.default_rng(seed)
    imp = impressions.sort_values(["request_id", "position"])
    sizes = imp.groupby("request_id", sort=False).size()
    length = int(sizes.max())
    imp = imp[imp["request_id"].isin(sizes[sizes == length].index)]
    day = market.day_of(imp["ts"].dt.tz_localize(None).to_numpy("datetime64[s]"))
    row_of_job = pd.Series(np.arange(len(market.jobs)), index=market.jobs["job_id"])
    row_of_user = pd.Series(np.arange(len(market.seekers)), index=market.seekers["user_id"])
    s = row_of_user[imp["user_id"]].to_numpy()
    j = row_of_job[imp["job_id"]].to_numpy()
    rel = market.model.relevance(s, j, day).reshape(-1, length)
    intent = (rng.random(rel.shape) < rel).astype(float)
    oracle = np.argsort(-rel, axis=1)
    shuffled = rng.random(rel.shape).argsort(axis=1)
    take = np.take_along_axis
    out: dict[str, float | int] = {}
    for name, labels in (("intent", intent), ("expected", rel)):
        judged = labels[labels.sum(axis=1) > 0]  # lists with nothing relevant say nothing
        o = ndcg_at_k(take(judged, oracle[labels.sum(axis=1) > 0], 1), judged, k)
        r = ndcg_at_k(take(judged, shuffled[labels.sum(axis=1) > 0], 1), judged, k)
        out[f"oracle ndcg@{k} ({name})"] = float(o.mean())
        out[f"random ndcg@{k} ({name})"] = float(r.mean())
    out["lists"] = rel.shape[0]
    return out


def outcome_rates(totals: dict[str, int]) -> dict[str, float]:
    """Seeker-side outcomes per impression: applies, and applies that got a positive employer
    answer (shortlisted or further); and the share of applies answered positively."""
    impressions = max(int(totals.get("impression", 0)), 1)
    applies = int(totals.get("apply", 0))
    positive = int(totals.get("positive_response", 0))
    return {
        "apply rate": applies / impressions,
        "positive response rate": positive / impressions,
        "positive answers per apply": positive / max(applies, 1),
    }


def market_summary(market: Market, folder: Path, oracle_sample: int = 20_000) -> dict[str, object]:
    """Jobs per SOC major group, traffic ratios and oracle vs random nDCG@10."""
    tax = market.taxonomy
    majors = pd.Series([tax.occupations[o].major for o in market.job_occupation.tolist()])
    per_major = majors.value_counts().rename(lambda c: f"{c} {tax.soc_titles.get(c, '')}")
    events = read_events(Path(folder) / "events")
    counts = events["type"].value_counts()
    imp, clk, app = (int(counts.get(t, 0)) for t in ("impression", "click", "apply"))
    impressions = events[events["type"] == "impression"]
    requests = impressions["request_id"].unique()
    if len(requests) > oracle_sample:
        keep = np.random.default_rng(0).choice(requests, oracle_sample, replace=False)
        impressions = impressions[impressions["request_id"].isin(keep)]
    return {
        "jobs": len(market.jobs),
        "seekers": len(market.seekers),
        "jobs per major group": per_major.to_dict(),
        "requests": int(events["request_id"].nunique()),
        "impressions": imp,
        "clicks": clk,
        "applies": app,
        "clicks per impression": clk / max(imp, 1),
        "applies per impression": app / max(imp, 1),
        "applies per click": app / max(clk, 1),
        "positive answers per apply": float(
            read_responses(folder)["response"].isin(POSITIVE_RESPONSES).sum() / max(app, 1)
        ),
        "ranking": oracle_vs_random(market, impressions) if len(impressions) else {},
    }
