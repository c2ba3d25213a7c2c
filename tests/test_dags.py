"""The Airflow DAGs in pipelines/dags.

Services: none. Airflow runs from this venv with a throwaway AIRFLOW_HOME under /tmp
(`airflow_env.py`, set before Airflow is first imported and restored after this module).

* Integrity tests (fast, no metadata database): the DAG folder parses without errors and
  without importing `recsys` beyond its standard-library step list, both DAGs carry tags,
  retries, no catchup and one active run, and the daily tasks are wired in the retrain's order
  (`RETRAIN_STEPS`).
* `airflow` and `slow`: `airflow db migrate` into a SQLite metadata database in that home, then
  `dag.test()` runs `daily_retrain` in process for the last day of a small closed-loop market
  (served feature rows, the retrain's input), with its own artifacts folder and embedded MLflow.
  The base encoder's occupation index is linked from the repo's `artifacts/` when it is there;
  otherwise the run encodes the O*NET titles first (a few minutes more on two cores).
  `weekly_encoder` (also `slow`) runs the same way on a tiny budget: two fine-tuning steps and a
  50-query evaluation into a fresh artifacts folder, then registration and promotion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_env import DAGS_FOLDER, AirflowHome, airflow_environment
from conftest import COARSE_K, RECALL_K

from recsys.market.market import Market
from recsys.settings import get_settings

DAILY, WEEKLY = "daily_retrain", "weekly_encoder"


def _daily_edges() -> dict[str, set[str]]:
    """Upstream task -> its downstream tasks: each step of RETRAIN_STEPS feeds the next, a
    per-kind step as one task per recsys.ranking.train.KINDS in parallel."""
    from recsys.lifecycle.retrain_steps import RETRAIN_STEPS
    from recsys.ranking.train import KINDS

    layers = [[task_id for task_id, _ in step.runs(KINDS)] for step in RETRAIN_STEPS]
    edges: dict[str, set[str]] = {}
    for i, layer in enumerate(layers):
        after = set(layers[i + 1]) if i + 1 < len(layers) else set()
        edges.update({task_id: after for task_id in layer})
    return edges


#: the daily retrain's edges, upstream task -> its downstream tasks
DAILY_EDGES = _daily_edges()


@pytest.fixture(scope="module")
def airflow_home() -> Iterator[AirflowHome]:
    with airflow_environment() as home:
        yield home


def load_dags(home: AirflowHome) -> Any:
    """A fresh DagBag of pipelines/dags (`home`: Airflow must be set up first)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def bag(airflow_home: AirflowHome) -> Any:
    return load_dags(airflow_home)


# ------------------------------------------------------------------------------- integrity
def test_dag_folder_imports_cleanly(bag: Any) -> None:
    assert bag.import_errors == {}
    assert {DAILY, WEEKLY} <= set(bag.dags)


@pytest.mark.parametrize("dag_id", [DAILY, WEEKLY])
def test_dag_policies(bag: Any, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert dag.tags and "recsys" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    assert dag.doc_md, "the module docstring explains the DAG"
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_delay.total_seconds() > 0, task.task_id
        assert task.execution_timeout is not None, task.task_id


def test_schedules(bag: Any) -> None:
    daily, weekly = bag.dags[DAILY].timetable, bag.dags[WEEKLY].timetable
    # data intervals: the logical date is the start of the (finished) day being retrained
    assert type(daily).__name__ == "CronDataIntervalTimetable"
    assert daily.expression == "0 0 * * *"
    assert weekly.expression == "0 0 * * 0"
    assert bag.dags[WEEKLY].tasks[0].execution_timeout.total_seconds() >= 4 * 3600


def test_daily_task_order(bag: Any) -> None:
    from recsys.ranking.train import KINDS

    dag = bag.dags[DAILY]
    assert DAILY_EDGES["extract"] == {"training_set"}
    assert DAILY_EDGES["training_set"] == {"train_lightgbm", "train_xgboost"}
    assert DAILY_EDGES["notify"] == set()
    assert {t.task_id for t in dag.tasks} == set(DAILY_EDGES)
    assert {f"train_{k}" for k in KINDS} == {t for t in DAILY_EDGES if t.startswith("train_")}, (
        "one training task per recsys.ranking.train.KINDS"
    )
    for task_id, downstream in DAILY_EDGES.items():
        assert dag.get_task(task_id).downstream_task_ids == downstream, task_id
    upstream = {t: {u for u, d in DAILY_EDGES.items() if t in d} for t in DAILY_EDGES}
    for task_id, expected in upstream.items():
        assert dag.get_task(task_id).upstream_task_ids == expected, task_id


def test_dag_files_parse_without_recsys(airflow_home: AirflowHome) -> None:
    """The DAG processor re-parses these files all the time: no torch / LightGBM / MLflow, and
    of recsys only the standard-library step list (and the packages above it)."""
    heavy = ("torch", "lightgbm", "xgboost", "mlflow", "pandas")
    light = ("recsys", "recsys.lifecycle", "recsys.lifecycle.retrain_steps")
    code = (
        "import runpy, sys, time\n"
        "t = time.perf_counter()\n"
        f"for name in ('daily_retrain', 'weekly_encoder'):\n"
        f"    runpy.run_path(f'{DAGS_FOLDER}/{{name}}.py')\n"
        "print(time.perf_counter() - t)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}"
        f" or (m.startswith('recsys') and m not in {light!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **airflow_home.env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out[-1] == "[]", f"parsing the DAG files imported {out[-1]}"
    # Airflow gives up on a DAG file after `dagbag_import_timeout` (30 s by default); that is the
    # functional limit, the module check above is what keeps parsing fast.
    assert float(out[-2]) < 30.0


def test_tasks_wrap_the_retrain_steps(bag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each task calls its step with RetrainJob.of(logical date) and returns a JSON-able dict."""
    from recsys.lifecycle import retrain

    calls: list[tuple[str, Any, tuple[Any, ...]]] = []

    def fake(name: str) -> Any:
        def step(job: retrain.RetrainJob, *args: Any) -> dict[str, Any]:
            calls.append((name, job.day, args))
            return {"day": job.day, "table": {"big": 1}, "n": 1}

        return step

    for name in retrain.STEPS:
        monkeypatch.setattr(retrain, name, fake(name))
    dag = bag.dags[DAILY]
    when = datetime(2026, 1, 7, tzinfo=UTC)
    for task in dag.tasks:
        out = task.python_callable(*task.op_args, **task.op_kwargs, logical_date=when)
        assert out == {"day": "2026-01-07", "n": 1}, task.task_id
        assert json.loads(json.dumps(out)) == out
    assert sorted(c[0] for c in calls) == sorted([*retrain.STEPS, "train"])
    assert {c[1].isoformat() for c in calls} == {"2026-01-07"}
    assert sorted(c[2] for c in calls if c[0] == "train") == [("lightgbm",), ("xgboost",)]
    extract = dag.get_task("extract")
    with pytest.raises(ValueError, match="logical date"):
        extract.python_callable(logical_date=None)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def served_market(
    small_market: tuple[Market, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Market, Path, Path]:
    """(market, market folder, artifacts folder): every day of the small market served by a
    coarse-only recommender, so the folder has the feature rows the retrain trains on."""
    from recsys.offline.closed_loop import run_closed_loop
    from recsys.pipeline.build import build_recommender
    from recsys.recall.encoder import TitleEncoder

    market, _ = small_market
    root = tmp_path_factory.mktemp("airflow_retrain")
    folder, artifacts = root / "market", root / "artifacts"
    artifacts.mkdir()
    repo_artifacts = get_settings().artifacts_dir.resolve()
    encoder = TitleEncoder.load("base")
    # the O*NET title embeddings (57k titles) and the ONNX export, read-only, from the repo
    for name in (f"occupation_titles_{encoder.fingerprint[:16]}.npz", "encoder_cache"):
        if (repo_artifacts / name).exists():
            (artifacts / name).symlink_to(repo_artifacts / name)
    settings = get_settings().model_copy(
        update={"artifacts_dir": artifacts, "recall_k": RECALL_K, "coarse_k": COARSE_K}
    )
    rec = build_recommender(market.jobs, market.taxonomy, encoder, settings=settings)
    market.save(folder)
    run_closed_loop(market, folder, rec, range(market.config.days))
    return market, folder, artifacts


@pytest.mark.slow
@pytest.mark.airflow
def test_daily_retrain_dag_runs_end_to_end(
    airflow_home: AirflowHome,
    served_market: tuple[Market, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recsys.lifecycle.retrain import RetrainJob, promote
    from recsys.registry.mlflow_registry import CHAMPION, RANKER_MODEL, ModelRegistry

    market, folder, artifacts = served_market
    day = market.config.start + timedelta(days=market.config.days - 1)  # its last day
    for key in ("RECSYS_MLFLOW_URI", "RECSYS_STREAM_PATH", "RECSYS_SQLITE_PATH"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_SERVE_MARKET_DIR": str(folder),
        "RECSYS_ENCODER_MODEL": "base",
        "RECSYS_ONLINE_STORE": "sqlite",
        "RECSYS_RETRAIN_EVAL_REQUESTS": "60",
        "RECSYS_RECALL_K": str(RECALL_K),
        "RECSYS_COARSE_K": str(COARSE_K),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert ModelRegistry.from_settings(settings).by_alias(RANKER_MODEL, CHAMPION) is None

        t0 = time.perf_counter()
        airflow_home.migrate()
        migrate_s = time.perf_counter() - t0

        dag = load_dags(airflow_home).dags[DAILY]
        for task in dag.tasks:
            task.retries = 0  # fail the test at once instead of waiting out retry_delay
        t0 = time.perf_counter()
        run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))
        run_s = time.perf_counter() - t0
        print(f"\nairflow db migrate {migrate_s:.1f}s; dag.test({day}) {run_s:.1f}s")

        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == dict.fromkeys(DAILY_EDGES, "success"), states
        assert run.state == "success"

        folder_out = settings.retrain_root / day.isoformat()
        summary = json.loads((folder_out / "summary.json").read_text())
        assert summary["promoted"] is True, "no champion before: the first candidate is promoted"
        registry = ModelRegistry.from_settings(settings)
        champion = registry.by_alias(RANKER_MODEL, CHAMPION)
        assert champion is not None and champion.version == summary["champion"]

        versions = [v.version for v in registry.versions(RANKER_MODEL)]
        before = json.loads((folder_out / "promote.json").read_text())
        again = promote(RetrainJob.of(day, settings))
        assert again == before
        assert [v.version for v in registry.versions(RANKER_MODEL)] == versions
        after = registry.by_alias(RANKER_MODEL, CHAMPION)
        assert after is not None and after.version == champion.version
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.slow
@pytest.mark.airflow
def test_weekly_encoder_dag_trains_evaluates_and_registers(
    airflow_home: AirflowHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dag.test()` of weekly_encoder on a tiny budget (2 steps of 8, 50 benchmark queries): the
    release is named after its date (`artifacts/encoders/<date>/`), reads its own results row
    under that name, and is registered and promoted (no champion before)."""
    from recsys.recall.encoder import read_metadata
    from recsys.recall.encoder_training import own_results
    from recsys.registry.mlflow_registry import CHAMPION, ENCODER_MODEL, ModelRegistry

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    repo_cache = get_settings().artifacts_dir.resolve() / "encoder_cache"
    if repo_cache.is_dir():  # the base model's ONNX export, read-only, from the repo
        (artifacts / "encoder_cache").symlink_to(repo_cache)
    for key in ("RECSYS_MLFLOW_URI", "RECSYS_ENCODER_BUDGET_MINUTES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {
        "RECSYS_ARTIFACTS_DIR": str(artifacts),
        "RECSYS_ENCODER_BUDGET_STEPS": "2",
        "RECSYS_ENCODER_GPU_STEPS": "2",
        "RECSYS_ENCODER_BATCH_SIZE": "8",
        "RECSYS_ENCODER_BENCHMARK_QUERIES": "50",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        airflow_home.migrate()
        dag = load_dags(airflow_home).dags[WEEKLY]
        for task in dag.tasks:
            task.retries = 0  # fail the test at once instead of waiting out retry_delay
        t0 = time.perf_counter()
        run = dag.test(logical_date=datetime(2026, 1, 4, tzinfo=UTC))
        print(f"\ndag.test(weekly_encoder) {time.perf_counter() - t0:.1f}s")

        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == {"fine_tune_and_register": "success"}, states
        assert run.state == "success"

        folder = artifacts / "encoders" / "2026-01-04"
        meta = read_metadata(folder)
        assert meta["name"] == "2026-01-04" and meta["training"]["steps"] == 2
        models = [r["model"] for r in meta["evaluation"]["results"]]
        assert models == ["base", "tfidf", "2026-01-04"]
        assert meta["evaluation"]["results"][0]["n_queries"] == 50
        result = json.loads((folder.parent / "2026-01-04.json").read_text())
        assert result["promoted"] is True, "no champion before: the first encoder is promoted"
        assert result["metrics"]["ndcg@10"] == own_results(meta)["ndcg@10"]
        champion = ModelRegistry.from_settings(settings).by_alias(ENCODER_MODEL, CHAMPION)
        assert champion is not None and champion.version == result["version"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
