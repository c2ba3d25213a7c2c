"""The server's /metrics between two scrapes: histogram deltas, bucket quantiles, counters."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

STAGE_METRIC = "recsys_stage_duration_seconds"
REQUEST_METRIC = "recsys_request_duration_seconds"

#: (sample name, sorted label pairs) -> value, from one scrape of /metrics
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of /metrics, parsed by prometheus_client's text-format parser."""
    r = await client.get("/metrics")
    r.raise_for_status()
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def histogram_delta(
    before: Samples, after: Samples, metric: str, match: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Per value of the labels not in `match` (e.g. stage): count, sum, buckets between scrapes."""
    out: dict[str, dict[str, Any]] = {}
    for (name, labels), value in after.items():
        if not name.startswith(metric + "_"):
            continue
        lab = dict(labels)
        if any(lab.get(k) != v for k, v in match.items()):
            continue
        key = ",".join(f"{k}={v}" for k, v in sorted(lab.items()) if k not in match and k != "le")
        delta = value - before.get((name, labels), 0.0)
        entry = out.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
        suffix = name[len(metric) + 1 :]
        if suffix in ("count", "sum"):
            entry[suffix] = delta
        elif suffix == "bucket":
            entry["buckets"][float(lab["le"])] = delta
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear inside the bucket the rank falls in."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return float("nan")
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if upper == float("inf"):
                return lower
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


def _histogram_summary(h: dict[str, Any]) -> dict[str, float]:
    return {
        "count": h["count"],
        "mean_ms": h["sum"] / h["count"] * 1e3,
        "p50_ms_bucket": bucket_quantile(h["buckets"], 0.5) * 1e3,
        "p99_ms_bucket": bucket_quantile(h["buckets"], 0.99) * 1e3,
    }


def stage_summary(before: Samples, after: Samples, route: str) -> dict[str, dict[str, float]]:
    """Mean and bucket-estimated p50/p99 (ms) of each pipeline stage between two scrapes, and
    of the server-side duration of GET `route`."""
    out = {}
    for key, h in histogram_delta(before, after, STAGE_METRIC, {}).items():
        if h["count"] > 0:
            out[key.removeprefix("stage=")] = _histogram_summary(h)
    match = {"method": "GET", "route": route}
    for h in histogram_delta(before, after, REQUEST_METRIC, match).values():
        if h["count"] > 0:
            out["http (server-side)"] = _histogram_summary(h)
    return out


def counter_values(samples: Samples, name: str) -> dict[str, float]:
    """A counter's value per label set ("label=value,..."), from one scrape."""
    return {
        ",".join(f"{k}={v}" for k, v in labels): v
        for (n, labels), v in samples.items()
        if n == name
    }


def counter_delta(before: Samples, after: Samples, name: str, label: str, value: str) -> float:
    """How much the counter `name{label="value"}` grew between two scrapes."""
    key = (name, ((label, value),))
    return after.get(key, 0.0) - before.get(key, 0.0)
