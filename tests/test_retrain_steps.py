"""The retrain runner reads the one step list: every step exists, runs once (per kind), in order.

Services: none; the steps are replaced by fakes, so nothing is trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recsys.lifecycle import retrain
from recsys.lifecycle.retrain_steps import RETRAIN_STEPS, STEPS
from recsys.ranking.train import KINDS
from recsys.settings import get_settings


def test_every_step_is_a_function_of_the_retrain_module() -> None:
    assert STEPS == retrain.STEPS
    for name in STEPS:
        assert callable(getattr(retrain, name)), name
    assert [s.name for s in RETRAIN_STEPS if s.per_kind] == ["train"]


def test_runner_follows_the_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings().model_copy(update={"artifacts_dir": tmp_path})
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def fake(name: str) -> Any:
        def step(job: retrain.RetrainJob, *args: Any) -> dict[str, Any]:
            calls.append((name, args))
            return job.write("summary", {"message": "done"}) if name == "notify" else {}

        return step

    for name in STEPS:
        monkeypatch.setattr(retrain, name, fake(name))
    summary = retrain.retrain("2026-01-07", settings)
    assert calls == [(s.name, args) for s in RETRAIN_STEPS for _, args in s.runs(KINDS)]
    assert list(summary["seconds"]) == [t for s in RETRAIN_STEPS for t, _ in s.runs(KINDS)]
    assert "train_lightgbm" in summary["seconds"] and "train_xgboost" in summary["seconds"]


def test_unknown_step_is_refused() -> None:
    job = retrain.RetrainJob.of("2026-01-07")
    with pytest.raises(ValueError, match="unknown retrain step"):
        retrain.run_step("deploy", job)
