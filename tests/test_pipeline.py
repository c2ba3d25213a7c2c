"""Stage contracts of the request path on a small simulated market, with the base encoder:
cut sizes and ordering, hard filters inside recall, the rerank policy, reasons, cold start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.core.candidates import Candidates
from recsys.core.context import (
    LOCAL_RADIUS_KM,
    Filters,
    History,
    Profile,
    RequestContext,
    request_context,
)
from recsys.core.profiles import profile_request
from recsys.data.geo import haversine_km
from recsys.market.market import Market
from recsys.pipeline.recommender import Recommender
from recsys.ranking import signals
from recsys.ranking.apply_rate_ranker import make_ranker
from recsys.ranking.features import FEATURE_NAMES, POSITION, SERVING_POSITION
from recsys.ranking.fine import FineStage
from recsys.ranking.reasons import skill_reason
from recsys.ranking.rerank import RerankPolicy, RerankStage
from recsys.recall.job_index import JobIndexError
from recsys.recall.occupations import OccupationIndex
from recsys.recall.stage import RecallStage
from recsys.settings import get_settings


def _request(market: Market, row: int = 0, **filters: object) -> RequestContext:
    s = market.seekers.iloc[row]
    profile = Profile(
        desired_title=str(s["desired_title"]),
        skills=list(s["skills"]),
        lat=float(s["lat"]),
        lon=float(s["lon"]),
        level=int(s["level"]),
        expected_salary=float(s["expected_salary"]),
    )
    now = np.datetime64(f"{market.config.start.isoformat()}T12:00:00", "s")
    return RequestContext(
        request_id="r1", profile=profile, now=now, k=10, filters=Filters(**filters)
    )  # type: ignore[arg-type]


def _run_until(rec: Recommender, ctx: RequestContext, last: str) -> Candidates:
    ctx.seeker = rec.seeker_view(ctx)
    cands = Candidates(np.zeros(0, np.int64))
    for stage in rec.stages:
        cands = stage(ctx, cands)
        if stage.name == last:
            return cands
    raise AssertionError(last)


def test_cut_sizes_and_ordering(
    recommender: Recommender, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    ctx = _request(market)
    recall = _run_until(recommender, ctx, "recall")
    recall_k, coarse_k = recommender.stage("recall").k, recommender.stage("coarse").k  # type: ignore[attr-defined]
    assert 0 < len(recall) <= recall_k
    assert np.all(np.diff(recall.scores["recall"]) <= 1e-6), "recall is best first"
    coarse = recommender.stage("coarse")(ctx, recall)
    assert len(coarse) == min(coarse_k, len(recall))
    assert np.all(np.diff(coarse.scores["coarse"]) <= 0)
    assert set(coarse.rows) <= set(recall.rows)
    fine = recommender.stage("fine")(ctx, coarse)
    assert fine.features is not None and fine.features.shape == (len(coarse), len(FEATURE_NAMES))
    assert np.all(fine.features[:, POSITION] == SERVING_POSITION)
    assert np.all(np.diff(fine.scores["fine"]) <= 0)
    served = recommender.stage("rerank")(ctx, fine)
    assert len(served) == ctx.k


def test_recall_applies_hard_filters_inside_the_search(
    recommender: Recommender, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    ctx = _request(market, radius_km=50.0, remote="acceptable", min_zone=2, max_zone=3)
    applied = recommender.catalog.arrays.job_id[:25]
    ctx.history = History(applied_job_ids=applied, n_applies=25, is_new=False)
    got = _run_until(recommender, ctx, "recall")
    arr = recommender.catalog.arrays
    rows = got.rows
    km = haversine_km(ctx.profile.lat, ctx.profile.lon, arr.lat[rows], arr.lon[rows])
    assert np.all((km <= 50.0 + 1e-3) | arr.remote[rows])
    zones = market.jobs["job_zone"].to_numpy()[rows]
    assert np.all((zones >= 2) & (zones <= 3))
    assert np.all(arr.expires_at[rows] > ctx.now)
    assert not np.isin(arr.job_id[rows], applied).any()
    # no recall collapse: everything allowed comes back when fewer than k are allowed
    all_km = haversine_km(ctx.profile.lat, ctx.profile.lon, arr.lat, arr.lon)
    all_zones = market.jobs["job_zone"].to_numpy()
    allowed = (
        ((all_km <= 50.0) | arr.remote)
        & (all_zones >= 2)
        & (all_zones <= 3)
        & (arr.expires_at > ctx.now)
        & ~np.isin(arr.job_id, applied)
    )
    assert len(rows) == min(recommender.stage("recall").k, int(allowed.sum()))  # type: ignore[attr-defined]


def test_remote_only(recommender: Recommender, small_market: tuple[Market, Path]) -> None:
    market, _ = small_market
    got = _run_until(recommender, _request(market, remote="only"), "recall")
    assert len(got) > 0 and recommender.catalog.arrays.remote[got.rows].all()


def test_rerank_policy(recommender: Recommender, small_market: tuple[Market, Path]) -> None:
    market, _ = small_market
    for row in range(5):
        ctx = _request(market, row)
        ctx.k = 20
        served = recommender.recommend(ctx).items
        companies = recommender.catalog.company[served.rows]
        _, counts = np.unique(companies, return_counts=True)
        fine_pool = ctx.counts["fine"]
        if fine_pool >= 100:  # enough candidates that the cap can always be met
            assert counts.max() <= get_settings().rerank_max_per_company
        keys = recommender.catalog.duplicate_key[served.rows]
        assert len(np.unique(keys)) == len(keys), "near-duplicates collapsed"


def test_reasons_are_true(recommender: Recommender, small_market: tuple[Market, Path]) -> None:
    market, _ = small_market
    ctx = _request(market, 3)
    out = recommender.recommend(ctx)
    arr, view = recommender.catalog.arrays, ctx.view()
    assert len(out.reasons) == len(out.items)
    for row, why in zip(out.items.rows, out.reasons):
        assert why, "every item has a reason"
        job_skills = recommender.catalog.skills[row].toarray().ravel() > 0
        vocab = np.array(recommender.catalog.taxonomy.skill_vocab)
        matched = list(vocab[job_skills & (view.skills > 0)])
        missing = list(vocab[job_skills & (view.skills == 0)])
        assert set(matched) <= set(ctx.profile.skills)
        skill_lines = [w for w in why if w.startswith("you have ")]
        if matched:
            assert skill_lines == [skill_reason(matched, missing)]
        else:
            assert not skill_lines
        if arr.remote[row]:
            assert "remote" in why
        else:
            km = haversine_km(ctx.profile.lat, ctx.profile.lon, arr.lat[row], arr.lon[row])
            assert f"{float(km):.0f} km away" in why
        assert any(w.startswith("posted") for w in why)


def test_skill_reason_names_what_matches_and_what_is_missing() -> None:
    assert (
        skill_reason(["Python", "SQL"], ["Spark"]) == "you have Python, SQL; it also asks for Spark"
    )
    assert skill_reason(["Python"], []) == "you have Python"
    assert skill_reason(list("abcde"), list("xyz")) == (
        "you have a, b, c and 2 more; it also asks for x, y, z"
    )
    assert skill_reason([], ["Spark"]) is None


def test_cold_start_profile_only(recommender: Recommender) -> None:
    ctx = profile_request(
        "registered nurse",
        "Austin, TX",
        ["Microsoft Excel"],
        k=5,
        now=np.datetime64("2026-01-05T12:00:00", "s"),
    )
    assert ctx.user_id is None and ctx.history.n_applies == 0
    out = recommender.recommend(ctx)
    assert 0 < len(out.items) <= 5
    for stage in ("profile", "recall", "coarse", "fine", "rerank", "total"):
        assert ctx.timings_ms[stage] >= 0
    no_place = profile_request("accountant", None, k=5, now=np.datetime64("2026-01-05", "s"))
    assert no_place.filters.radius_km is None
    assert len(recommender.recommend(no_place).items) == 5


def test_profile_request_rejects_empty_title() -> None:
    with pytest.raises(ValueError, match="desired title"):
        profile_request("  ")


def test_skills_improve_occupation_coding(
    recommender: Recommender, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    occupations, catalog = recommender.occupations, recommender.catalog
    truth = market.model.jobs.occupation
    by_title, _ = occupations.classify(catalog.embeddings)
    with_skills, _ = occupations.classify(catalog.embeddings, catalog.skills)
    assert np.array_equal(with_skills, catalog.occupation), "the catalog uses title + skills"
    title_acc, skill_acc = (by_title == truth).mean(), (with_skills == truth).mean()
    assert skill_acc > title_acc + 0.05 and skill_acc > 0.75, (title_acc, skill_acc)


def test_the_skill_likelihood_prefers_the_specific_occupation_and_reaches_far_titles() -> None:
    """Three occupations over a 10-skill vocabulary: 0 lists every skill, 1 lists skills 0-2,
    2 lists skills 3-4; the query's nearest title is 0's, then 1's, and 2's is orthogonal."""
    listed = np.zeros((3, 10), np.float32)
    listed[0], listed[1, :3], listed[2, 3:5] = 1, 1, 1
    titles = np.array([[1, 0, 0], [0.97, 0.243, 0], [0, 0, 1]], np.float32)
    titles /= np.linalg.norm(titles, axis=1, keepdims=True)
    coder = OccupationIndex(titles, np.array([0, 1, 2]), "test", sp.csr_matrix(listed))
    query = np.array([[1, 0, 0]], np.float32)

    def posting(*skills: int) -> sp.csr_matrix:
        row = np.zeros((1, 10), np.float32)
        row[0, list(skills)] = 1
        return sp.csr_matrix(row)

    assert coder.classify(query)[0][0] == 0, "without skills: the nearest title"
    assert coder.classify(query, posting(0, 1), candidates=2)[0][0] == 1, "the specific list"
    assert coder.classify(query, posting(0, 5), candidates=2)[0][0] == 0, "1 misses skill 5"
    # 2's title is not among the 2 nearest, but its short list holds both skills
    assert coder.classify(query, posting(3, 4), candidates=2)[0][0] == 2


def test_request_context_applies_the_filter_defaults() -> None:
    now = np.datetime64("2026-01-05T12:00:00", "s")
    local = request_context(Profile("nurse", lat=30.27, lon=-97.74), now)
    assert (local.filters.radius_km, local.filters.remote) == (LOCAL_RADIUS_KM, "acceptable")
    moving = Profile("nurse", lat=30.27, lon=-97.74, relocate=True)
    assert request_context(moving, now).filters.radius_km is None
    assert request_context(moving, now, radius_km=20.0).filters.radius_km == 20.0
    assert request_context(Profile("nurse"), now, radius_km=20.0).filters.radius_km is None
    with pytest.raises(ValueError, match="remote='sometimes'"):
        request_context(Profile("nurse"), now, remote="sometimes")


def test_with_ranker_leaves_the_pipeline_it_came_from_alone(recommender: Recommender) -> None:
    class Constant:
        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.zeros(len(X), np.float32)

    model = Constant()
    swapped = recommender.with_ranker(model)
    assert swapped.ranker is model and recommender.ranker is None
    assert swapped.catalog is recommender.catalog and swapped.index is recommender.index
    assert [s.name for s in swapped.stages] == [s.name for s in recommender.stages]


def test_run_through_stops_after_the_named_stage(
    recommender: Recommender, small_market: tuple[Market, Path]
) -> None:
    market, _ = small_market
    pool = recommender.run_through(_request(market), "coarse")
    assert len(pool) > 0 and "coarse" in pool.scores and "fine" not in pool.scores
    with pytest.raises(KeyError, match="no stage 'final'"):
        recommender.run_through(_request(market), "final")


def test_stages_save_and_load_their_own_artifacts(recommender: Recommender, tmp_path: Path) -> None:
    recall = recommender.stage("recall")
    assert isinstance(recall, RecallStage)
    recall.save_artifacts(tmp_path / "recall")
    fingerprint = recommender.encoder.fingerprint
    loaded = RecallStage.load_artifacts(tmp_path / "recall", recall.catalog, recall.k, fingerprint)
    assert len(loaded.index) == len(recall.index)
    with pytest.raises(JobIndexError):
        RecallStage.load_artifacts(tmp_path / "recall", recall.catalog, recall.k, "another")

    rng = np.random.default_rng(0)
    X = rng.random((400, len(FEATURE_NAMES))).astype(np.float32)
    model = make_ranker("lightgbm", n_estimators=5, min_child_samples=20, n_jobs=1)
    model.fit(X, (X[:, 0] > 0.7).astype(np.int64), feature_names=list(FEATURE_NAMES))
    fine = FineStage(recommender.catalog, model)
    fine.save_artifacts(tmp_path / "fine")
    again = FineStage.load_artifacts(tmp_path / "fine", recommender.catalog)
    assert again.model is not None
    assert np.allclose(again.model.predict(X), model.predict(X), atol=1e-5)


@pytest.mark.parametrize("margin", [-2.0, 3.0])
def test_rerank_boosts_lift_fresh_jobs_whatever_the_score_sign(
    recommender: Recommender, small_market: tuple[Market, Path], margin: float
) -> None:
    market, _ = small_market
    ctx = _request(market, 0)
    ctx.k = 10
    cat = recommender.catalog
    rows = np.arange(40, dtype=np.int64)
    # a cap above the pool so it does not reorder; equal scores: freshness alone decides
    cands = Candidates(rows, {"fine": np.full(len(rows), margin, np.float32)})
    policy = RerankPolicy(
        max_per_company=100, freshness_boost=0.5, rating_boost=0.0, mmr_lambda=None
    )
    stage = RerankStage(cat, policy)
    ctx.seeker = recommender.seeker_view(ctx)
    out = stage(ctx, cands)
    age = signals.job_age_days(ctx, cat, out.rows)
    kept = np.isin(rows, out.rows)
    assert np.all(np.diff(age) >= -1e-6), "fresher jobs first"
    assert age.max() <= signals.job_age_days(ctx, cat, rows[~kept]).min() + 1e-6
    assert np.all(out.scores["final"] >= margin)


def test_title_words_match_the_vectorizer(recommender: Recommender) -> None:
    """The query side's fast word lookup gives what the catalog's vectorizer gives the jobs."""
    cat = recommender.catalog
    queries = ["Senior Software Engineer (Python, C++)", "nurse", "zzzz unknownword", ""]
    for text in queries:
        expected = np.asarray(cat.vectorizer.transform([text]).todense()).ravel()
        assert np.array_equal(cat.title_words(text), expected), text
    assert cat.title_words(queries[0]).dtype == np.float32
