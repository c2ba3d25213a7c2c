"""The registry, the promotion gate and the API following the champion, on a real MLflow store
(an embedded SQLite file per test module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_service import make_service

from recsys.lifecycle.promotion import decide, sanity_problems
from recsys.market.market import Market
from recsys.ranking.apply_rate_ranker import make_ranker
from recsys.ranking.features import FEATURE_NAMES
from recsys.registry.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    RANKER_MODEL,
    ModelRegistry,
    RegistryUnavailableError,
)
from recsys.service.champion import ChampionFollower, load_champion
from recsys.service.service import RecommendationService


def test_gate_promotes_only_a_sane_and_better_challenger() -> None:
    assert decide(0.5, None, 0.01, []).promote
    assert decide(0.52, 0.5, 0.01, []).promote
    kept = decide(0.505, 0.5, 0.01, [])
    assert not kept.promote and "0.5050 vs champion 0.5000" in kept.reason
    assert not decide(0.9, 0.5, 0.01, ["3 of 10 scores are NaN or infinite"]).promote
    assert not decide(float("nan"), None, 0.01, []).promote


def test_sanity_checks_catch_nan_scores_and_a_foreign_feature_list() -> None:
    names = list(FEATURE_NAMES)
    assert sanity_problems(names, np.array([0.1, 0.2])) == []
    assert "NaN" in sanity_problems(names, np.array([0.1, np.nan]))[0]
    assert "missing" in sanity_problems(names[:-1], np.array([0.1]))[0]
    assert "order" in sanity_problems(names[::-1], np.array([0.1]))[0]


def _ranker(folder: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.random((400, len(FEATURE_NAMES))).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.random(400) > 0.8).astype(int)
    model = make_ranker("lightgbm", n_estimators=5, random_state=seed)
    model.fit(X, y, feature_names=list(FEATURE_NAMES))
    return model.save(folder)


def _release(registry: ModelRegistry, folder: Path, seed: int) -> str:
    run = registry.log_run(
        "apply-rate-ranker",
        f"test {seed}",
        params={"seed": seed},
        metrics={"heldout_ndcg@10": 0.5 + seed / 100},
        artifacts={"model": _ranker(folder, seed)},
        tags={"kind": "lightgbm"},
    )
    return registry.register(RANKER_MODEL, run, tags={"kind": "lightgbm"}).version


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("mlflow")
    return ModelRegistry(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")


def test_versions_aliases_and_downloads(registry: ModelRegistry, tmp_path: Path) -> None:
    assert registry.by_alias("never-registered", CHAMPION) is None
    first = _release(registry, tmp_path / "a", 1)
    second = _release(registry, tmp_path / "b", 2)
    registry.set_alias(RANKER_MODEL, CHAMPION, first)
    registry.set_alias(RANKER_MODEL, CHALLENGER, second)
    champion = registry.by_alias(RANKER_MODEL, CHAMPION)
    assert champion is not None and champion.version == first
    assert champion.metrics["heldout_ndcg_at_10"] == pytest.approx(0.51)
    listed = registry.versions(RANKER_MODEL)
    assert [v.version for v in listed][:2] == [second, first]
    assert CHALLENGER in listed[0].aliases
    files = sorted(p.name for p in registry.download(champion).iterdir())
    assert "ranker.json" in files


@pytest.fixture(scope="module")
def service(
    small_market: tuple[Market, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecommendationService]:
    market, _ = small_market
    svc = make_service(market, "sqlite", tmp_path_factory.mktemp("follow"))
    yield svc
    svc.close()


def test_the_service_follows_the_champion_and_survives_a_lost_registry(
    registry: ModelRegistry,
    service: RecommendationService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = _release(registry, tmp_path / "c", 3)
    registry.set_alias(RANKER_MODEL, CHAMPION, version)
    follower = ChampionFollower(service, registry, poll_s=60, loaded_version=None)
    assert follower.check() is True
    assert service.model_versions["ranker"] == f"lightgbm:v{version}"
    model = service.recommender.ranker
    assert model is not None
    assert follower.check() is False  # same alias, nothing to do

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    lost = ModelRegistry("http://127.0.0.1:9", tmp_path)
    with pytest.raises(RegistryUnavailableError):
        lost.by_alias(RANKER_MODEL, CHAMPION)
    follower.registry = lost
    assert follower.check() is False
    assert service.recommender.ranker is model
    assert service.model_versions["ranker"] == f"lightgbm:v{version}"


def test_a_champion_with_another_feature_list_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((200, 3)).astype(np.float32)
    model = make_ranker("lightgbm", n_estimators=3, random_state=0)
    model.fit(X, (X[:, 0] > 0.5).astype(int), feature_names=["a", "b", "c"])
    run = registry.log_run(
        "apply-rate-ranker",
        "foreign",
        params={},
        metrics={},
        artifacts={"model": model.save(tmp_path / "foreign")},
    )
    version = registry.register(RANKER_MODEL, run).version
    registry.set_alias(RANKER_MODEL, CHAMPION, version)
    with pytest.raises(ValueError, match="another feature list"):
        load_champion(registry)
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") is None
