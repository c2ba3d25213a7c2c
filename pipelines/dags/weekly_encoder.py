"""The weekly title-encoder release as an Airflow DAG: one task around
`recsys.lifecycle.encoder_release.weekly_encoder`.

Why it looks like this:

* One task, not train / evaluate / register: fine-tuning writes a folder that already carries
  its retrieval evaluation, and `weekly_encoder` keeps a folder that is complete, so a retry
  after a failed registration does not fine-tune again. The logic stays in `recsys`, where the
  CLI calls it too.
* A long `execution_timeout`: on CPU the fine-tune runs for a long time; the timeout only
  catches a hung run. One retry after a long delay (a registry or disk outage) is enough.
* The logical date names the release (`artifacts/encoders/<date>/`); the week's data is not
  involved (the encoder learns from the O*NET titles), so the default trigger timetable is fine.
* `recsys` (torch, sentence-transformers, MLflow) is imported inside the task so the DAG
  processor parses this file in milliseconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="weekly_encoder",
    description="Fine-tune the title encoder, evaluate retrieval, register; promote if better.",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "recsys",
        "retries": 1,
        "retry_delay": timedelta(minutes=30),
    },
    tags=["recsys", "encoder"],
    doc_md=__doc__,
)
def weekly_encoder() -> None:
    @task(execution_timeout=timedelta(hours=12))
    def fine_tune_and_register(
        logical_date: datetime | None = None, dag_run: Any = None
    ) -> dict[str, Any]:
        from recsys.lifecycle.encoder_release import weekly_encoder as release
        from recsys.settings import get_settings

        # a manual run without a logical date is named after the time it was asked to run
        when = logical_date or (dag_run.run_after if dag_run is not None else None)
        if when is None:
            raise ValueError("weekly_encoder needs a logical date or a dag run")
        result = release(when.astimezone(UTC).date(), get_settings())
        return json.loads(json.dumps(result, default=str))

    fine_tune_and_register()


weekly_encoder()
