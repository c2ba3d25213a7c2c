"""The service follows the title-encoder champion with its index, swapped in as a pair: on a
real MLflow registry (an embedded SQLite file), a catalog database of a few hundred postings and
two encoders that embed differently (the base model, and a variant whose tokenizer keeps case).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feature_store.backends import open_store, open_stream
from recsys.catalog_db import CatalogStore
from recsys.core.context import Profile
from recsys.data.taxonomy import Taxonomy
from recsys.lifecycle.encoder_release import register_encoder
from recsys.market.market import Market
from recsys.market.publish import publish_postings, publish_seekers
from recsys.offline.market_service import market_now
from recsys.recall.encoder import ONNX_FILE, TitleEncoder, write_metadata
from recsys.recall.encoder_metadata import base_model_dir
from recsys.recall.job_index import JobIndex
from recsys.recall.occupations import OccupationIndex
from recsys.registry.mlflow_registry import (
    CHAMPION,
    ENCODER_MODEL,
    ModelRegistry,
    RegistryUnavailableError,
    Version,
)
from recsys.service import encoder_follower as follower_module
from recsys.service import serving_pipeline as pipeline_module
from recsys.service.caches import query_vector_key
from recsys.service.champion import AliasFollower
from recsys.service.encoder_follower import EncoderFollower
from recsys.service.loader import build_service
from recsys.service.requests import RequestOptions
from recsys.service.service import RecommendationService
from recsys.service.serving_pipeline import encoder_label, reuse_index
from recsys.settings import Settings, get_settings

N_POSTINGS, N_SEEKERS = 400, 150
TITLES = ("Registered Nurse", "software developer", "Truck Driver", "Accountant")


# ----------------------------------------------------------------------------- the shared poller
class _Registry:
    """Answers `by_alias` with a set version, or raises like a lost tracking server."""

    def __init__(self) -> None:
        self.version: Version | None = None
        self.lost = False

    def by_alias(self, name: str, alias: str) -> Version | None:
        if self.lost:
            raise RegistryUnavailableError("tracking server down")
        return self.version


class _Follower(AliasFollower):
    model_name, what = "thing", "thing"

    def __init__(self, registry: Any, fail: bool = False):
        super().__init__(registry, poll_s=60, loaded_version=None)
        self.fail = fail
        self.adopted: list[str] = []

    def adopt(self, version: Version) -> str:
        if self.fail:
            raise ValueError("bad model")
        self.adopted.append(version.version)
        return f"v{version.version}"


def _version(number: str) -> Version:
    return Version("thing", number, "run", "src", (CHAMPION,), {}, {})


def test_the_poller_adopts_each_new_version_once_and_keeps_serving_on_failures() -> None:
    registry = _Registry()
    follower = _Follower(registry)
    assert follower.check() is False  # no champion yet
    registry.version = _version("1")
    assert follower.check() is True and follower.loaded_version == "1"
    assert follower.check() is False and follower.adopted == ["1"]
    registry.lost = True
    assert follower.check() is False and follower.loaded_version == "1"
    registry.lost, registry.version = False, _version("2")
    failing = _Follower(registry, fail=True)
    failing.loaded_version = "1"
    assert failing.check() is False and failing.loaded_version == "1"  # tried again next poll


@dataclass
class _Encoder:
    fingerprint: str


def test_a_released_index_is_reused_only_over_exactly_the_open_postings(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, dim = 30, 8
    emb = rng.standard_normal((n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    now = np.datetime64("2100-01-10T12:00:00", "s")  # open under any clock
    jobs = pd.DataFrame(
        {
            "job_id": np.arange(1, n + 1, dtype=np.int64),
            "lat": np.zeros(n, np.float32),
            "lon": np.zeros(n, np.float32),
            "remote": np.zeros(n, bool),
            "job_zone": np.full(n, 3, np.int8),
            "expires_at": np.full(n, now + np.timedelta64(86_400, "s")),
        }
    )
    is_open = np.arange(n) >= 5
    rows: Any = type("Rows", (), {"jobs": jobs, "embeddings": emb})()
    JobIndex.from_catalog(jobs[is_open], emb[is_open], "fp-a").save(tmp_path / "a")
    moved = emb.copy()
    moved[10] = emb[11]  # a title that changed after the index was released
    rows.embeddings = moved
    index = reuse_index(tmp_path / "a", _Encoder("fp-a"), rows, is_open)  # type: ignore[arg-type]
    assert index is not None and sorted(index.job_ids) == list(range(6, n + 1))
    ids, _ = index.search(moved[10], 2)
    assert set(ids.tolist()) == {11, 12}  # rows written again from the catalog
    assert reuse_index(tmp_path / "a", _Encoder("fp-b"), rows, is_open) is None  # type: ignore[arg-type]
    fewer = np.arange(n) >= 6
    assert reuse_index(tmp_path / "a", _Encoder("fp-a"), rows, fewer) is None  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the whole service
def _encoder_folder(out: Path, name: str, ndcg: float, keep_case: bool) -> Path:
    """A copy of the base model as an encoder release folder (own ONNX graph, metadata with a
    retrieval score); `keep_case` switches the tokenizer's lowercasing off, so the vectors of
    titles with capitals differ from the base model's (another fingerprint, same graph)."""
    base = TitleEncoder.load("base")
    shutil.copytree(base_model_dir(), out)
    onnx = out / ONNX_FILE
    onnx.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(base.embedder.onnx_path), onnx)  # type: ignore[attr-defined]
    if keep_case:
        tokenizer = json.loads((out / "tokenizer.json").read_text())
        tokenizer["normalizer"]["lowercase"] = False
        (out / "tokenizer.json").write_text(json.dumps(tokenizer))
    meta = {
        **{k: base.metadata[k] for k in ("dim", "max_seq_length", "base_model")},
        "name": name,
        "trained": False,
        "evaluation": {"results": [{"model": name, "ndcg@10": ndcg}]},
    }
    write_metadata(out, meta)
    return out


@dataclass
class Served:
    service: RecommendationService
    settings: Settings
    catalog: CatalogStore
    registry: ModelRegistry
    variant: Path


@pytest.fixture(scope="module")
def served(
    small_market: tuple[Market, Path],
    taxonomy: Taxonomy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    market, _ = small_market
    root = tmp_path_factory.mktemp("encoder_follow")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    repo_artifacts = get_settings().artifacts_dir.resolve()
    base = TitleEncoder.load("base")
    OccupationIndex.load_or_build(base, taxonomy, repo_artifacts)  # cached for every test
    variant = _encoder_folder(root / "variant", "variant", 0.5, keep_case=True)
    variant_fp = TitleEncoder.load(variant).fingerprint
    # The O*NET title vectors of the base model stand in for the variant's: classification
    # quality is not under test, and embedding 57k titles would take a minute.
    (artifacts / "encoder_cache").symlink_to(repo_artifacts / "encoder_cache")
    for suffix in (".npz", ".hnsw"):
        cached = repo_artifacts / f"occupation_titles_{base.fingerprint[:16]}{suffix}"
        for fp in (base.fingerprint, variant_fp):
            (artifacts / f"occupation_titles_{fp[:16]}{suffix}").symlink_to(cached)
    settings = get_settings().model_copy(
        update={
            "artifacts_dir": artifacts,
            "mlflow_uri": None,
            "recall_k": 300,
            "coarse_k": 100,
            "impression_flush_s": 3600.0,  # no impressions counted into popularity mid-test
        }
    )
    catalog = CatalogStore.open(f"sqlite:///{root / 'catalog.sqlite'}", migrate=True)
    published = datetime(2026, 1, 1)
    publish_postings(catalog, market.jobs.head(N_POSTINGS), published)
    publish_seekers(catalog, market.seekers.head(N_SEEKERS), published)
    now = market_now(market)
    service = build_service(
        settings,
        catalog,
        base,
        open_store("sqlite", sqlite_path=root / "store.sqlite"),
        open_stream("sqlite", sqlite_path=root / "stream.sqlite"),
        log_dir=root,
        clock=lambda: now,
    )
    yield Served(service, settings, catalog, ModelRegistry.from_settings(settings), variant)
    service.close()


def _answer(service: RecommendationService, title: str) -> tuple[str, tuple[int, ...]]:
    ctx = service.profile_request(Profile(desired_title=title), RequestOptions(k=10))
    response = service.recommend(ctx)
    return response.model_versions["encoder"], tuple(int(i["job_id"]) for i in response.items)


@pytest.mark.slow
def test_a_promoted_encoder_and_its_index_reach_the_running_service_as_a_pair(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, settings = served.service, served.settings
    base_fp = service.recommender.encoder.fingerprint
    follower = EncoderFollower(service, served.registry, settings, None)

    # the first release is the model serving: the follower records it and rebuilds nothing
    same = _encoder_folder(tmp_path / "same", "base-release", 0.2, keep_case=False)
    assert register_encoder(same, settings)["promoted"]
    before = service.recommender
    assert follower.check() is True and service.recommender is before
    assert follower.loaded_version == "1"

    user = str(served.catalog.seekers.frame()["user_id"].iloc[0])
    service.recommend(service.user_request(user, RequestOptions(k=10)))  # caches its vector
    first_job = int(service.catalog.jobs["job_id"].iat[0])
    service.candidates(first_job, 5, None)  # the employer side built with the base encoder
    old_answers = {t: _answer(service, t) for t in TITLES}

    # the second release comes with a job index built by it over the open postings
    variant = TitleEncoder.load(served.variant)
    jobs = service.catalog.jobs
    is_open = jobs["expires_at"].to_numpy("datetime64[s]") > service.now()
    released = tmp_path / "released_index"
    JobIndex.from_catalog(
        jobs[is_open], variant.encode(jobs["title"][is_open].tolist()), variant.fingerprint
    ).save(released)
    assert register_encoder(served.variant, settings, index_dir=released)["promoted"]

    # a posting closed by another process while the new pipeline builds must not come back
    open_ids = jobs["job_id"].to_numpy(np.int64)[is_open]
    shown = {j for _, ids in old_answers.values() for j in ids}
    closed_mid_build = int(next(j for j in open_ids if j not in shown))
    real_pipeline, reused = pipeline_module.serving_pipeline, []

    def pipeline_then_close(*args: Any, **kwargs: Any) -> Any:
        built = real_pipeline(*args, **kwargs)
        served.catalog.postings.close([closed_mid_build], datetime(2026, 1, 2))
        return built

    def spy_reuse(*args: Any) -> Any:
        reused.append(real_reuse(*args))
        return reused[-1]

    real_reuse = pipeline_module.reuse_index
    monkeypatch.setattr(follower_module, "serving_pipeline", pipeline_then_close)
    monkeypatch.setattr(pipeline_module, "reuse_index", spy_reuse)

    seen: list[tuple[str, str, tuple[int, ...]]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        try:
            while not done.is_set():
                rec = service.recommender
                assert rec.encoder.fingerprint == rec.index.fingerprint
                assert rec.occupations.fingerprint == rec.encoder.fingerprint
                for title in TITLES:
                    seen.append((title, *_answer(service, title)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        assert follower.check() is True
    finally:
        done.set()
        asker.join()
    assert not errors, errors
    assert follower.loaded_version == "2" and reused and reused[0] is not None

    new_label = encoder_label(variant)
    assert service.model_versions["encoder"] == new_label != encoder_label(before.encoder)
    assert service.recommender.encoder.fingerprint == variant.fingerprint != base_fp
    assert service.index.fingerprint == variant.fingerprint
    assert closed_mid_build not in service.index
    new_answers = {t: _answer(service, t) for t in TITLES}
    assert any(new_answers[t][1] != old_answers[t][1] for t in TITLES)  # the encoders differ
    labels = {label for _, label, _ in seen}
    assert old_answers[TITLES[0]][0] in labels  # requests ran on the old pair during the build
    for title, label, ids in seen:  # every answer is wholly the old pair's or the new pair's
        expected = old_answers[title] if label != new_label else new_answers[title]
        assert (label, ids) == expected

    # the user's cached vector was the base encoder's; the new one is cached beside it
    service.recommend(service.user_request(user, RequestOptions(k=10)))
    title = service.user_request(user, RequestOptions()).profile.desired_title
    key = query_vector_key(title, variant.fingerprint)
    cached = service.store.read_user(user, vector_key=key).query_vector
    assert cached is not None and np.allclose(cached, variant.encode([title])[0], atol=1e-5)

    # the seekers are embedded again by the new encoder at the next candidates request
    service.candidates(first_job, 5, None)
    assert service.candidate_finder.finder().recommender.index.fingerprint == variant.fingerprint

    # catalog changes keep reaching the swapped index: another process's, and this one's
    later = int(next(j for j in open_ids if j != closed_mid_build and j in service.index))
    served.catalog.postings.close([later], datetime(2026, 1, 2))
    assert service.postings.feed.poll() == 1 and later not in service.index
    posting = {"title": "Night Shift Nurse", "company": "Clinic", "city": "Austin", "state": "TX"}
    (added,) = service.add_postings([posting])
    assert added in service.index
    stored = served.catalog.postings.get(added)
    assert stored is not None and stored["encoder_fingerprint"] == variant.fingerprint


@pytest.mark.slow
def test_a_broken_champion_leaves_the_current_pair_serving(served: Served, tmp_path: Path) -> None:
    service, registry = served.service, served.registry
    broken = _encoder_folder(tmp_path / "broken", "broken", 0.9, keep_case=False)
    (broken / "config.json").write_text(
        (broken / "config.json").read_text().replace("{", '{"edited": 1,', 1)
    )  # the weights' files no longer match the fingerprint recorded
    run = registry.log_run(
        ENCODER_MODEL, "broken", params={}, metrics={}, artifacts={"model": broken}
    )
    version = registry.register(ENCODER_MODEL, run).version
    registry.set_alias(ENCODER_MODEL, CHAMPION, version)
    current = registry.versions(ENCODER_MODEL)[-1].version
    follower = EncoderFollower(service, registry, served.settings, current)
    serving, versions = service.recommender, dict(service.model_versions)
    assert follower.check() is False
    assert service.recommender is serving and service.model_versions == versions
    assert follower.loaded_version == current
    assert _answer(service, TITLES[0])[0] == versions["encoder"]
