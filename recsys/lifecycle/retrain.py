"""The daily retrain: every step of `RETRAIN_STEPS`, each reading and writing one date's folder.

`artifacts/retrain/<YYYY-MM-DD>/` holds every step's output, so each step is idempotent per
logical date (re-running it rewrites the same files, or finds its result already recorded) and
the Airflow DAG's tasks and `recsys retrain --date D` call the very same functions, by the
names and in the order of `recsys.lifecycle.retrain_steps.RETRAIN_STEPS`:

- `training_steps`: `extract`, `training_set`, `train` (one GBDT kind);
- `evaluation_step`: `evaluate` (against the oracle, with the report and its latency figure);
- `release_steps`: `register`, `promote`, `rebuild_index`, `notify`;
- `candidate_release`: `candidate_ranker` (the employer side's model, its own gate).

This module is where they are looked up by name (`run_step`), and `retrain` runs them all.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any

from recsys.lifecycle.candidate_release import candidate_ranker
from recsys.lifecycle.evaluation_step import evaluate
from recsys.lifecycle.release_steps import notify, promote, rebuild_index, register
from recsys.lifecycle.retrain_job import RetrainJob
from recsys.lifecycle.retrain_steps import RETRAIN_STEPS, STEPS
from recsys.lifecycle.training_steps import extract, train, training_set
from recsys.ranking.train import KINDS
from recsys.settings import Settings

__all__ = [
    "STEPS",
    "RetrainJob",
    "candidate_ranker",
    "evaluate",
    "extract",
    "notify",
    "promote",
    "rebuild_index",
    "register",
    "retrain",
    "run_step",
    "train",
    "training_set",
]


def run_step(step: str, job: RetrainJob, *args: Any) -> dict[str, Any]:
    """The step named `step` (one of `STEPS`) for `job`, looked up here at call time."""
    if step not in STEPS:
        raise ValueError(f"unknown retrain step {step!r}; the steps are {STEPS}")
    result: dict[str, Any] = getattr(sys.modules[__name__], step)(job, *args)
    return result


def retrain(day: date | str, settings: Settings | None = None) -> dict[str, Any]:
    """Every step in order, as the DAG runs them (the per-kind runs one after the other);
    the date's summary with the seconds each run took."""
    job = RetrainJob.of(day, settings)
    seconds: dict[str, float] = {}
    for step in RETRAIN_STEPS:
        for task_id, args in step.runs(KINDS):
            start = time.perf_counter()
            run_step(step.name, job, *args)
            seconds[task_id] = round(time.perf_counter() - start, 2)
    summary = job.read("summary")
    summary["seconds"] = seconds
    return job.write("summary", summary)
