"""The daily retrain, step by step: each step reads and writes one date's folder.

`artifacts/retrain/<YYYY-MM-DD>/` holds every step's output, so each step is idempotent per
logical date (re-running it rewrites the same files, or finds its result already recorded) and
the Airflow DAG's tasks and `recsys retrain --date D` call the very same functions:

1. `extract`        drain the event stream into the Parquet log; count the day's events
2. `training_set`   served feature rows up to the day, labelled with later applies
3. `train`          one GBDT kind (LightGBM and XGBoost run as parallel tasks)
4. `evaluate`       candidates and the current champion on the day (held out from training
                    for the candidates: it was their validation day) against the oracle; the
                    HTML/JSON report
5. `register`       every candidate's run logged to MLflow; the best registered as challenger
6. `promote`        the gate (`recsys.registry.promotion`): champion, or kept with the reason
7. `rebuild_index`  only when the serving encoder or the catalog changed since the last build
8. `notify`         one summary line per retrain, and `summary.json`
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_store.events import read_events
from feature_store.stream import open_stream
from recsys.closed_loop import seeker_filters, seeker_profile
from recsys.data.taxonomy import load_taxonomy
from recsys.evaluation.ranking import evaluate_ranking
from recsys.evaluation.report import calibration_table, write_report
from recsys.market.market import Market
from recsys.pipeline.build import build_recommender, catalog_digest, catalog_vectors
from recsys.pipeline.candidates import RequestContext
from recsys.pipeline.recommender import Recommender
from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker
from recsys.ranking.features import FEATURE_NAMES
from recsys.ranking.train import (
    KINDS,
    RankerTrainingConfig,
    design_matrix,
    split_training_set,
    train_one,
)
from recsys.ranking.training_data import build_training_set
from recsys.recall.encoder import TitleEncoder
from recsys.recall.occupations import OccupationIndex
from recsys.registry.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    RANKER_MODEL,
    ModelRegistry,
)
from recsys.registry.promotion import decide, sanity_problems
from recsys.service.loader import serving_encoder
from recsys.settings import Settings, get_settings

log = logging.getLogger(__name__)

STEPS = (
    "extract",
    "training_set",
    "train",
    "evaluate",
    "register",
    "promote",
    "rebuild_index",
    "notify",
)
#: requests timed through the pipeline for the report's latency figure
LATENCY_REQUESTS = 40


@dataclass(frozen=True)
class RetrainJob:
    """One logical date's retrain: where it reads and writes."""

    day: date
    settings: Settings

    @classmethod
    def of(cls, day: date | str, settings: Settings | None = None) -> RetrainJob:
        parsed = date.fromisoformat(day) if isinstance(day, str) else day
        return cls(parsed, settings or get_settings())

    @property
    def folder(self) -> Path:
        return self.settings.retrain_root / self.day.isoformat()

    @property
    def market_dir(self) -> Path:
        return self.settings.market_dir

    @property
    def events_root(self) -> Path:
        return self.market_dir / "events"

    def candidate_dir(self, kind: str) -> Path:
        return self.folder / "candidates" / kind

    def write(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
        return payload

    def read(self, name: str) -> dict[str, Any]:
        path = self.folder / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: run the earlier retrain steps for {self.day} first"
            )
        return json.loads(path.read_text())

    def registry(self) -> ModelRegistry:
        return ModelRegistry.from_settings(self.settings)


# ---------------------------------------------------------------------------------- steps
def extract(job: RetrainJob) -> dict[str, Any]:
    """Drain accepted events into the daily partitions, then count the day's events."""
    s = job.settings
    stream = open_stream(s.online_store, sqlite_path=s.event_stream_path, redis_url=s.redis_url)
    try:
        drained = stream.drain(job.events_root)
    finally:
        stream.close()
    events = read_events(job.events_root, job.day, job.day)
    if events.empty:
        raise ValueError(f"no events logged on {job.day} under {job.events_root}")
    counts = {str(k): int(v) for k, v in events["type"].value_counts().items()}
    return job.write("extract", {"day": job.day, "drained": drained, "events": counts})


def training_set(job: RetrainJob) -> dict[str, Any]:
    """Served rows up to the day with their apply labels, saved for the training tasks."""
    data = build_training_set(job.events_root, job.market_dir / "features", job.day)
    job.folder.mkdir(parents=True, exist_ok=True)
    data.to_parquet(job.folder / "training_set.parquet", index=False)
    return job.write(
        "training_set",
        {
            "rows": len(data),
            "requests": int(data["request_id"].nunique()),
            "applies": int(data["apply"].sum()),
            "first_day": data["ts"].min().date(),
            "last_day": data["ts"].max().date(),
        },
    )


def train(job: RetrainJob, kind: str) -> dict[str, Any]:
    """Train one kind on the training set (the day itself held out for validation)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ranker kind {kind!r}; expected one of {KINDS}")
    data = pd.read_parquet(job.folder / "training_set.parquet")
    config = RankerTrainingConfig(seed=job.settings.seed)
    rows, valid = split_training_set(data, job.day, config.seed)
    out = job.candidate_dir(kind)
    metrics = train_one(kind, rows, valid, out, config)
    scores = load_ranker(out).predict(design_matrix(valid, "ignore"))
    pd.DataFrame({"score": scores, "apply": valid["apply"].to_numpy()}).to_parquet(
        out.parent / f"{kind}_valid.parquet", index=False
    )
    payload = {
        "kind": kind,
        "params": {
            "n_estimators": config.n_estimators,
            "learning_rate": config.learning_rate,
            "objective": config.objective,
            "position": config.position,
            "seed": config.seed,
        },
        "train_rows": len(rows),
        "valid_rows": len(valid),
        "validation": metrics,
    }
    return job.write(f"train_{kind}", payload)


def evaluate(job: RetrainJob) -> dict[str, Any]:
    """Every trained candidate and the current champion on the day, plus the report."""
    s = job.settings
    candidates = {k: load_ranker(job.candidate_dir(k)) for k in KINDS if _trained(job, k)}
    if not candidates:
        raise FileNotFoundError(f"no trained candidates under {job.folder / 'candidates'}")
    registry = job.registry()
    champion = registry.by_alias(RANKER_MODEL, CHAMPION)
    models: dict[str, ApplyRateRanker] = {f"candidate:{k}": m for k, m in candidates.items()}
    if champion is not None:
        models["champion"] = load_ranker(registry.download(champion))
    taxonomy = load_taxonomy(s.data_dir)
    market = Market.load(job.market_dir, taxonomy)
    encoder = TitleEncoder.load(serving_encoder(s))
    rec = build_recommender(market.jobs, taxonomy, encoder, settings=s)
    day_index = (job.day - market.config.start).days
    table = evaluate_ranking(
        market, job.events_root, rec, models, day_index, s.retrain_eval_requests, seed=s.seed
    )
    best = max(
        candidates, key=lambda k: float(np.nan_to_num(table.loc[f"candidate:{k}", "ndcg@10"]))
    )
    valid = pd.read_parquet(job.candidate_dir(best).parent / f"{best}_valid.parquet")
    problems = sanity_problems(candidates[best].feature_names_, valid["score"].to_numpy())
    latency = _stage_latency(rec, market, candidates[best], s.seed)
    report = write_report(
        job.folder / "report",
        f"retrain {job.day}: candidates vs champion on the held-out day",
        table,
        calibration_table(valid["score"].to_numpy(), valid["apply"].to_numpy()),
        candidates[best].feature_importance(),
        latency,
        extra={
            "best candidate": best,
            "champion": champion.label if champion else "none",
            "sanity problems": "; ".join(problems) or "none",
        },
    )
    return job.write(
        "evaluate",
        {
            "table": json.loads(table.to_json(orient="index")),
            "best": best,
            "champion_version": champion.version if champion else None,
            "sanity_problems": problems,
            "latency_ms": latency,
            "report": report,
        },
    )


def register(job: RetrainJob) -> dict[str, Any]:
    """Log every candidate's run to MLflow; register the best as a version, alias challenger.

    Idempotent: a date whose best candidate is already registered is not registered again.
    """
    registry = job.registry()
    evaluation = job.read("evaluate")
    best = evaluation["best"]
    done = job.folder / "register.json"
    if done.is_file():
        recorded = json.loads(done.read_text())
        for v in registry.versions(RANKER_MODEL):
            if v.version == recorded["version"] and v.run_id == recorded["runs"][best]:
                return recorded
    features = job.folder / "features.json"
    features.write_text(json.dumps(list(FEATURE_NAMES), indent=2))
    runs = {}
    for kind in KINDS:
        if not _trained(job, kind):
            continue
        tags = {"retrain_date": job.day.isoformat(), "kind": kind}
        previous = registry.find_run("apply-rate-ranker", tags)
        if previous is not None:  # a retry after a failure past this point
            runs[kind] = previous
            continue
        trained = job.read(f"train_{kind}")
        held_out = evaluation["table"][f"candidate:{kind}"]
        metrics = {f"valid_{k}": v for k, v in trained["validation"].items()}
        metrics.update({f"heldout_{k}": v for k, v in held_out.items()})
        runs[kind] = registry.log_run(
            "apply-rate-ranker",
            f"{kind} {job.day}",
            params={
                **trained["params"],
                "kind": kind,
                "until": job.day,
                "rows": trained["train_rows"],
            },
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
            artifacts={
                "model": job.candidate_dir(kind),
                "features": features,
                "report": job.folder / "report",
            },
            tags=tags,
        )
    version = registry.register(
        RANKER_MODEL,
        runs[best],
        tags={
            "kind": best,
            "retrain_date": job.day.isoformat(),
            "heldout_ndcg_at_10": f"{evaluation['table'][f'candidate:{best}']['ndcg@10']:.6f}",
        },
    )
    registry.set_alias(RANKER_MODEL, CHALLENGER, version.version)
    return job.write("register", {"version": version.version, "kind": best, "runs": runs})


def promote(job: RetrainJob) -> dict[str, Any]:
    """The gate: the challenger becomes champion, or the champion stays; the reason is logged."""
    done = job.folder / "promote.json"
    if done.is_file():
        return json.loads(done.read_text())
    registry = job.registry()
    evaluation, registered = job.read("evaluate"), job.read("register")
    table = evaluation["table"]
    candidate = float(table[f"candidate:{evaluation['best']}"]["ndcg@10"])
    current = registry.by_alias(RANKER_MODEL, CHAMPION)
    champion_score = None
    if current is not None and "champion" in table:
        if current.version != evaluation["champion_version"]:
            raise RuntimeError(
                f"the champion moved from version {evaluation['champion_version']} to "
                f"{current.version} since the evaluation; re-run evaluate for {job.day}"
            )
        champion_score = float(table["champion"]["ndcg@10"])
    decision = decide(
        candidate, champion_score, job.settings.promotion_margin, evaluation["sanity_problems"]
    )
    version = registered["version"]
    registry.set_version_tag(RANKER_MODEL, version, "decision", decision.reason)
    if decision.promote:
        if current is not None and current.version != version:
            registry.set_version_tag(RANKER_MODEL, version, "previous_champion", current.version)
        registry.set_alias(RANKER_MODEL, CHAMPION, version)
        registry.delete_alias(RANKER_MODEL, CHALLENGER)
    log.info("retrain %s: version %s %s", job.day, version, decision.reason)
    return job.write(
        "promote",
        {
            "version": version,
            "promoted": decision.promote,
            "reason": decision.reason,
            "champion": version if decision.promote else (current.version if current else None),
        },
    )


def rebuild_index(job: RetrainJob) -> dict[str, Any]:
    """Rebuild the job index when the serving encoder or the catalog changed since the last
    build; otherwise record that nothing had to be done."""
    s = job.settings
    taxonomy = load_taxonomy(s.data_dir)
    market = Market.load(job.market_dir, taxonomy)
    encoder = TitleEncoder.load(serving_encoder(s))
    key = f"{encoder.fingerprint[:16]}-{catalog_digest(market.jobs)}"
    state_path = s.artifacts_dir / "index" / "current.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("key") == key:
        return job.write(
            "rebuild_index",
            {"rebuilt": False, "reason": "encoder and catalog unchanged", "key": key},
        )
    t0 = time.perf_counter()
    occupations = OccupationIndex.load_or_build(encoder, taxonomy, s.artifacts_dir)
    vectors = catalog_vectors(
        market.jobs, taxonomy, encoder, occupations, s.artifacts_dir / "catalog_cache"
    )
    seconds = round(time.perf_counter() - t0, 2)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(
        json.dumps({"key": key, "built_on": job.day, "jobs": len(vectors.index)}, default=str)
    )
    reason = "first build" if not state else "encoder or catalog changed"
    return job.write(
        "rebuild_index",
        {
            "rebuilt": True,
            "reason": reason,
            "key": key,
            "jobs": len(vectors.index),
            "seconds": seconds,
        },
    )


def notify(job: RetrainJob) -> dict[str, Any]:
    """One line per retrain in `retrain/notifications.log`, and the date's `summary.json`."""
    decision = job.read("promote")
    evaluation = job.read("evaluate")
    index = job.read("rebuild_index")
    best = evaluation["best"]
    line = (
        f"{job.day}: {best} version {decision['version']} {decision['reason']}; "
        f"index {'rebuilt' if index['rebuilt'] else 'unchanged'}"
    )
    log_path = job.settings.retrain_root / "notifications.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as out:
        out.write(line + "\n")
    log.info(line)
    return job.write(
        "summary",
        {
            "day": job.day,
            "message": line,
            "champion": decision["champion"],
            "promoted": decision["promoted"],
            "heldout": evaluation["table"],
        },
    )


def retrain(day: date | str, settings: Settings | None = None) -> dict[str, Any]:
    """Every step in order, as the DAG runs them (the two kinds one after the other)."""
    job = RetrainJob.of(day, settings)
    steps: list[tuple[str, Callable[[RetrainJob], object]]] = [
        ("extract", extract),
        ("training_set", training_set),
        *((f"train_{kind}", functools.partial(train, kind=kind)) for kind in KINDS),
        ("evaluate", evaluate),
        ("register", register),
        ("promote", promote),
        ("rebuild_index", rebuild_index),
        ("notify", notify),
    ]
    seconds: dict[str, float] = {}
    for name, step in steps:
        start = time.perf_counter()
        step(job)
        seconds[name] = round(time.perf_counter() - start, 2)
    summary = job.read("summary")
    summary["seconds"] = seconds
    return job.write("summary", summary)


# ---------------------------------------------------------------------------------- helpers
def _trained(job: RetrainJob, kind: str) -> bool:
    return (job.folder / f"train_{kind}.json").is_file() and job.candidate_dir(kind).is_dir()


def _stage_latency(
    rec: Recommender, market: Market, model: ApplyRateRanker, seed: int
) -> dict[str, float]:
    """Median ms per pipeline step over a sample of the market's seekers, ranker in place."""
    fine = rec.stage("fine")
    previous = fine.model  # type: ignore[attr-defined]
    fine.model = model  # type: ignore[attr-defined]
    rows = np.random.default_rng(seed).choice(len(market.seekers), LATENCY_REQUESTS, replace=False)
    now = np.datetime64(market.config.start.isoformat(), "s") + np.timedelta64(
        market.config.days, "D"
    )
    timings: list[dict[str, float]] = []
    try:
        for row in rows.tolist():
            profile = seeker_profile(market, row)
            ctx = RequestContext(
                request_id=f"latency-{row}",
                profile=profile,
                now=now,
                k=20,
                filters=seeker_filters(profile),
            )
            rec.recommend(ctx)
            timings.append(ctx.timings_ms)
    finally:
        fine.model = previous  # type: ignore[attr-defined]
    return {k: round(float(v), 3) for k, v in pd.DataFrame(timings).median().items()}
