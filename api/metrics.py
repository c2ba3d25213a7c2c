"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
CANDIDATE_BUCKETS = (0, 1, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.request_latency = Histogram(
            "recsys_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "recsys_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.stage_latency = Histogram(
            "recsys_stage_duration_seconds",
            "time in each pipeline step of a recommendation",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_candidates = Histogram(
            "recsys_stage_candidates",
            "candidates left after each stage",
            ["stage"],
            buckets=CANDIDATE_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "recsys_result_cache", "per-user result cache lookups", ["result"], registry=r
        )
        self.events = Counter("recsys_events", "events posted, by outcome", ["outcome"], registry=r)
        self.shed = Counter(
            "recsys_shed_requests",
            "recommendation requests refused with 503 by admission control, by reason",
            ["reason"],
            registry=r,
        )
        self.admission_queue = Gauge(
            "recsys_admission_queue", "requests waiting for a recommendation slot", registry=r
        )
        self.admission_wait = Histogram(
            "recsys_admission_wait_seconds",
            "time an accepted recommendation request waited for a slot",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.impressions_logged = Gauge(
            "recsys_impressions_logged", "impressions written by the impression log", registry=r
        )
        self.impressions_dropped = Gauge(
            "recsys_impressions_dropped",
            "served lists dropped because the impression queue was full",
            registry=r,
        )
