"""The daily ranker retrain as an Airflow DAG: one task per step of `recsys.lifecycle.retrain`.

Why it looks like this:

* Every task is a thin wrapper: `RetrainJob.of(<logical date>, get_settings())`, then the step.
  The logic (and its idempotence per date) lives in `recsys.lifecycle.retrain`, which
  `recsys retrain --date D` runs too, so the DAG and the CLI cannot drift apart; a retried or
  cleared task rewrites the same `artifacts/retrain/<date>/` files, and `register` / `promote`
  find their result already recorded instead of registering or promoting twice.
* Steps hand each other files in that folder, not XComs: a task returns only a small JSON dict
  (counts, versions, the decision) for the UI; the evaluation table stays on disk. All tasks of
  a run must therefore see the same artifacts folder (one machine, or a shared volume).
* The tasks and their order come from `recsys.lifecycle.retrain_steps.RETRAIN_STEPS`, the list
  the CLI runner reads too; that module is standard library only, and the rest of `recsys` is
  imported inside the tasks: the DAG processor re-parses this file every few seconds, and
  importing torch, LightGBM and MLflow there would make every parse take seconds. `KINDS`
  repeats `recsys.ranking.train.KINDS` for the same reason (tests/test_dags.py checks that they
  agree).
* The schedule is `@daily` over data intervals (`CronDataIntervalTimetable`), not the Airflow 3
  default trigger timetable: the logical date is then the start of the day being retrained and
  the run starts once that day is over. With the trigger timetable the run at midnight would
  be dated the day that has just begun, which has no events yet.
* `max_active_runs=1` and no catchup: runs share the registry's champion alias (`promote`
  refuses to act on an evaluation whose champion has since moved), and only the newest day's
  model is worth training; a missed day is backfilled by hand (`airflow dags backfill`).
* The two GBDT kinds train in parallel; `evaluate` waits for both.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, chain, dag, task

from recsys.lifecycle.retrain_steps import RETRAIN_STEPS

#: the GBDT kinds trained side by side (`recsys.ranking.train.KINDS`, not imported at parse time)
KINDS = ("lightgbm", "xgboost")
#: step payload keys too large for an XCom; they stay in the date's folder
_ON_DISK_ONLY = ("table", "heldout")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "recsys",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=2),
}


def retrain_day(logical_date: datetime | None) -> date:
    """The day a run retrains: its logical date (UTC), the start of the day's data interval."""
    if logical_date is None:
        raise ValueError(
            "daily_retrain retrains its logical date; trigger it with one "
            "(airflow dags trigger daily_retrain --logical-date YYYY-MM-DD)"
        )
    return logical_date.astimezone(UTC).date()


def run_step(step: str, logical_date: datetime | None, *args: Any) -> dict[str, Any]:
    """`recsys.lifecycle.retrain.<step>(RetrainJob.of(day, get_settings()), *args)`, with the
    step's payload reduced to a JSON-able dict for the XCom."""
    from recsys.lifecycle import retrain
    from recsys.settings import get_settings

    job = retrain.RetrainJob.of(retrain_day(logical_date), get_settings())
    payload = getattr(retrain, step)(job, *args)
    small = {k: v for k, v in payload.items() if k not in _ON_DISK_ONLY}
    return json.loads(json.dumps(small, default=str))


@dag(
    dag_id="daily_retrain",
    description="Retrain the apply-rate ranker on yesterday's served rows; promote if better.",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["recsys", "ranking"],
    doc_md=__doc__,
)
def daily_retrain() -> None:
    layers: list[Any] = []
    for step in RETRAIN_STEPS:
        runs = [step_task(step.name, task_id)(*args) for task_id, args in step.runs(KINDS)]
        layers.append(runs if step.per_kind else runs[0])
    chain(*layers)


def step_task(step: str, task_id: str) -> Any:
    """The TaskFlow task `task_id` that runs the retrain step `step` with its arguments."""

    @task(task_id=task_id)
    def run(*args: Any, logical_date: datetime | None = None) -> dict[str, Any]:
        """`recsys.lifecycle.retrain.<step>` for the run's logical date."""
        return run_step(step, logical_date, *args)

    return run


daily_retrain()
