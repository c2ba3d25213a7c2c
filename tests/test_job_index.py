"""JobIndex: exact and IVF search, hard filters inside the search, updates, persistence.

Every filtered answer is compared with a brute-force numpy answer over the allowed jobs, so a
filter applied after the search (and the recall collapse that comes with it) fails here.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pytest

from recsys.data.geo import haversine_km
from recsys.recall.job_index import IndexConfig, IndexFilter, JobIndex, JobIndexError

DIM = 384
N = 5_000
NOW = np.datetime64("2025-06-01T00:00:00", "s")
CITIES = np.array(
    [
        [40.71, -74.01],
        [34.05, -118.24],
        [41.88, -87.63],
        [29.76, -95.37],
        [47.61, -122.33],
        [39.74, -104.99],
        [25.76, -80.19],
        [42.36, -71.06],
    ]
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _catalog(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Clustered unit embeddings (families > occupations > jobs) and jobs around 8 cities."""
    rng = np.random.default_rng(seed)
    family = _unit(rng.standard_normal((8, DIM)))
    occ = _unit(family[rng.integers(0, 8, 60)] + 0.9 * _unit(rng.standard_normal((60, DIM))))
    emb = _unit(occ[rng.integers(0, 60, n)] + 0.8 * _unit(rng.standard_normal((n, DIM))))
    city = CITIES[rng.integers(0, len(CITIES), n)]
    jobs = pd.DataFrame(
        {
            "job_id": rng.choice(10 * n, n, replace=False).astype(np.int64) + 1_000,
            "lat": (city[:, 0] + rng.normal(0, 0.6, n)).astype(np.float32),
            "lon": (city[:, 1] + rng.normal(0, 0.6, n)).astype(np.float32),
            "remote": rng.random(n) < 0.1,
            "job_zone": rng.integers(1, 6, n).astype(np.int8),
            "expires_at": NOW + rng.integers(-5, 30, n).astype("timedelta64[D]"),
        }
    )
    return jobs, emb


def _queries(emb: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _unit(emb[rng.integers(0, len(emb), n)] + 0.5 * _unit(rng.standard_normal((n, DIM))))


def _brute(jobs: pd.DataFrame, emb: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray):
    rows = np.flatnonzero(allowed)
    scores = emb[rows] @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return jobs["job_id"].to_numpy()[rows[order]], scores[order]


def _allowed(jobs: pd.DataFrame, f: IndexFilter) -> np.ndarray:
    """The filters written out the slow, obvious way."""
    ok = jobs["expires_at"].to_numpy() > f.now
    ok &= jobs["job_zone"].between(f.min_zone, f.max_zone).to_numpy()
    remote = jobs["remote"].to_numpy()
    ok &= {"only": remote, "exclude": ~remote, "acceptable": np.ones_like(remote)}[f.remote]
    if f.radius_km is not None:
        dist = haversine_km(
            f.center[0],
            f.center[1],
            jobs["lat"].to_numpy(np.float64),
            jobs["lon"].to_numpy(np.float64),
        )
        ok &= (dist <= f.radius_km) | (remote & (f.remote != "exclude"))
    if f.exclude_ids is not None:
        ok &= ~jobs["job_id"].isin(f.exclude_ids).to_numpy()
    return ok


@pytest.fixture(scope="module")
def catalog() -> tuple[pd.DataFrame, np.ndarray]:
    return _catalog(N, seed=1)


@pytest.fixture(scope="module")
def flat(catalog) -> JobIndex:
    return JobIndex.from_catalog(*catalog, fingerprint="enc-a", kind="flat")


@pytest.fixture(scope="module")
def ivf(catalog) -> JobIndex:
    return JobIndex.from_catalog(*catalog, fingerprint="enc-a", kind="ivf")


def test_auto_kind_follows_catalog_size(catalog) -> None:
    jobs, emb = catalog
    assert JobIndex.from_catalog(jobs, emb, "enc-a").kind == "flat"
    small = IndexConfig(exact_below=1_000)
    assert JobIndex.from_catalog(jobs, emb, "enc-a", config=small).kind == "ivf_sq8"


def test_flat_matches_brute_force(catalog, flat) -> None:
    jobs, emb = catalog
    everything = IndexFilter(now=NOW - np.timedelta64(3650, "D"))
    for q in _queries(emb, 5, seed=2):
        ids, scores = flat.search(q, 200, everything)
        want_ids, want_scores = _brute(jobs, emb, q, 200, np.ones(N, bool))
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
        assert ids.dtype == np.int64 and scores.dtype == np.float32


def test_ivf_recall_against_exact(catalog, ivf) -> None:
    jobs, emb = catalog
    f = IndexFilter(now=NOW - np.timedelta64(3650, "D"))
    k = 500
    recalls = []
    for q in _queries(emb, 10, seed=3):
        ids, scores = ivf.search(q, k, f)
        want, _ = _brute(jobs, emb, q, k, np.ones(N, bool))
        assert len(ids) == k and np.all(np.diff(scores) <= 1e-6)
        recalls.append(len(np.intersect1d(ids, want)) / k)
    assert np.mean(recalls) >= 0.95


FILTERS = {
    "radius": IndexFilter(center=(40.71, -74.01), radius_km=50, now=NOW),
    "radius_no_remote": IndexFilter(
        center=(41.88, -87.63), radius_km=80, remote="exclude", now=NOW
    ),
    "remote_only": IndexFilter(remote="only", now=NOW),
    "zones": IndexFilter(min_zone=2, max_zone=3, now=NOW),
    "expired": IndexFilter(now=NOW + np.timedelta64(20, "D")),
    "everything": IndexFilter(
        center=(34.05, -118.24),
        radius_km=120,
        min_zone=3,
        max_zone=5,
        now=NOW,
        exclude_ids=np.arange(1_000, 30_000),
    ),
}


@pytest.mark.parametrize("index_name", ["flat", "ivf"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_inside_search(request, catalog, index_name: str, name: str) -> None:
    jobs, emb = catalog
    index: JobIndex = request.getfixturevalue(index_name)
    f = FILTERS[name]
    allowed = _allowed(jobs, f)
    assert 0 < allowed.sum() < N
    by_id = jobs.set_index("job_id")
    for k in (50, 3_000):  # 3,000 is more than most filters allow: every allowed job comes back
        q = _queries(emb, 1, seed=k)[0]
        ids, scores = index.search(q, k, f)
        want_ids, _ = _brute(jobs, emb, q, k, allowed)
        assert len(ids) == min(k, allowed.sum()) == len(want_ids)
        assert len(np.unique(ids)) == len(ids)
        assert by_id.index.isin(ids).sum() == len(ids)
        assert allowed[jobs["job_id"].isin(ids).to_numpy()].all()
        recall = len(np.intersect1d(ids, want_ids)) / len(want_ids)
        assert recall >= (1.0 if index_name == "flat" else 0.95)
        picked = by_id.loc[ids]
        if f.radius_km is not None:
            dist = haversine_km(
                f.center[0],
                f.center[1],
                picked["lat"].to_numpy(np.float64),
                picked["lon"].to_numpy(np.float64),
            )
            passes = (dist <= f.radius_km) | (picked["remote"].to_numpy() & (f.remote != "exclude"))
            assert passes.all()
        if f.remote == "only":
            assert picked["remote"].all()
        assert picked["job_zone"].between(f.min_zone, f.max_zone).all()
        assert (picked["expires_at"] > f.now).all()
        if f.exclude_ids is not None:
            assert not np.isin(ids, f.exclude_ids).any()


@pytest.mark.parametrize("index_name", ["flat", "ivf"])
@pytest.mark.parametrize("remote", ["acceptable", "exclude"])
def test_widened_search_answers_as_a_fresh_search(
    request, catalog, index_name: str, remote: str
) -> None:
    """One `filtered` search widened step by step answers, at every radius, what a fresh search
    at that radius answers (each row scored once), and its good-job count is that answer's."""
    jobs, emb = catalog
    index: JobIndex = request.getfixturevalue(index_name)
    q, other = _queries(emb, 2, seed=8)
    f = IndexFilter(center=(41.88, -87.63), radius_km=30, remote=remote, now=NOW)
    with index.filtered(q, f) as search:
        for radius in (30.0, 90.0, 270.0, 810.0):
            assert search.radius_km == pytest.approx(radius)
            at = IndexFilter(center=f.center, radius_km=radius, remote=remote, now=NOW)
            for k in (40, 1_500):
                ids, scores = search.search(k)
                fresh_ids, fresh_scores = index.search(q, k, at)
                np.testing.assert_array_equal(ids, fresh_ids)
                np.testing.assert_allclose(scores, fresh_scores, rtol=1e-5, atol=1e-6)
                good = float(np.quantile(fresh_scores, 0.3))
                n_good = int(np.count_nonzero(fresh_scores >= good))  # all of them: 70% of k
                if index_name == "flat":  # exact counts; IVF's 8-bit scores may differ a hair
                    assert search.has_at_least(n_good, good)
                    assert not search.has_at_least(n_good + 1, good)
                n_allowed = int(_allowed(jobs, at).sum())
                assert search.has_at_least(min(k, n_allowed), -1.0)
                assert not search.has_at_least(n_allowed + 1, -1.0)
            np.testing.assert_array_equal(
                search.search(25, query=other)[0], index.search(other, 25, at)[0]
            )
            assert set(search.allowed_job_ids()) == set(jobs["job_id"][_allowed(jobs, at)])
            search.widen(3.0)


@pytest.mark.parametrize(
    "center", [(0.0, 179.9), (65.0, -179.5), (89.0, 0.0), (-80.0, 10.0), (40.7, -74.0)]
)
def test_radius_matches_the_haversine_everywhere_on_the_globe(center) -> None:
    """The radius mask's bounding box cuts nothing the haversine keeps: across the
    antimeridian, near the poles, and for radii up to a continent."""
    rng = np.random.default_rng(5)
    n = 20_000
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))  # uniform over the sphere
    lon = rng.uniform(-180, 180, n)
    near_center = rng.random(n) < 0.5  # half of them close to the center
    lat[near_center] = np.clip(center[0] + rng.normal(0, 4, near_center.sum()), -90, 90)
    lon[near_center] = (center[1] + rng.normal(0, 8, near_center.sum()) + 180) % 360 - 180
    jobs = pd.DataFrame(
        {
            "job_id": np.arange(n, dtype=np.int64),
            "lat": lat.astype(np.float32),
            "lon": lon.astype(np.float32),
            "remote": np.zeros(n, bool),
            "job_zone": np.full(n, 3, np.int8),
            "expires_at": np.full(n, NOW + np.timedelta64(30, "D")),
        }
    )
    index = JobIndex.from_catalog(jobs, _unit(rng.standard_normal((n, DIM))), "enc-a", "flat")
    for radius in (50.0, 500.0, 3_000.0):
        f = IndexFilter(center=center, radius_km=radius, now=NOW)
        got = index.allowed_mask(f)
        assert got.sum() > 0
        np.testing.assert_array_equal(got, _allowed(jobs, f))


def test_nothing_allowed_gives_empty_answer(flat, catalog) -> None:
    q = _queries(catalog[1], 1, seed=4)[0]
    ids, scores = flat.search(q, 10, IndexFilter(now=NOW + np.timedelta64(999, "D")))
    assert ids.shape == (0,) and scores.shape == (0,)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_add_and_remove_without_rebuild(catalog, kind: str) -> None:
    jobs, emb = catalog
    index = JobIndex.from_catalog(jobs, emb, "enc-a", kind=kind)
    f = IndexFilter(now=NOW - np.timedelta64(3650, "D"))
    q = _queries(emb, 1, seed=5)[0]
    top, _ = index.search(q, 20, f)
    assert index.remove(top[:5]) == 5
    assert len(index) == N - 5
    after, _ = index.search(q, 2_000, f)
    assert not np.isin(top[:5], after).any()
    np.testing.assert_array_equal(after[:15], top[5:])
    # a new posting that is exactly the query comes first
    new = dict(lat=[40.7], lon=[-74.0], remote=[False], job_zone=[3], expires_at=[NOW])
    index.add(np.array([7]), q[None, :], **new)
    ids, scores = index.search(q, 3, f)
    assert ids[0] == 7 and scores[0] == pytest.approx(1.0, abs=1e-5)
    # re-adding id 7 replaces it: the old vector is gone, the id appears once
    index.add(np.array([7]), -q[None, :], **new)
    ids, _ = index.search(q, N, f)
    assert len(index) == N - 4 and np.count_nonzero(ids == 7) == 1 and ids[-1] == 7
    # removing a quarter of the catalog compacts it; answers stay the same
    index.remove(jobs["job_id"].to_numpy()[: N // 3])
    assert (
        len(index)
        == len(index.job_ids)
        == N - 4 - len(np.setdiff1d(jobs["job_id"][: N // 3], top[:5]))
    )
    ids, _ = index.search(q, 100, f)
    assert not np.isin(ids, jobs["job_id"].to_numpy()[: N // 3]).any()


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_save_load_round_trip(catalog, tmp_path: Path, kind: str) -> None:
    jobs, emb = catalog
    index = JobIndex.from_catalog(jobs, emb, "enc-a", kind=kind)
    index.remove(jobs["job_id"].to_numpy()[:10])
    index.save(tmp_path / "idx")
    loaded = JobIndex.load(tmp_path / "idx", expected_fingerprint="enc-a")
    assert (loaded.kind, loaded.fingerprint, len(loaded)) == (kind, "enc-a", N - 10)
    for name, f in FILTERS.items():
        q = _queries(emb, 1, seed=len(name))[0]
        for a, b in zip(index.search(q, 500, f), loaded.search(q, 500, f)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(JobIndexError, match="recsys index build"):
        JobIndex.load(tmp_path / "idx", expected_fingerprint="enc-b")
    with pytest.raises(JobIndexError, match="no job index"):
        JobIndex.load(tmp_path / "missing")


def test_gpu_branch_masks_and_falls_back(catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: a CPU clone stands in for the replica, to check the masking logic."""
    jobs, emb = catalog
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", faiss.clone_index)
    index = JobIndex.from_catalog(jobs, emb, "enc-a", kind="flat")
    assert index.on_gpu
    for f in (FILTERS["zones"], FILTERS["radius"]):
        allowed = _allowed(jobs, f)
        q = _queries(emb, 1, seed=6)[0]
        for k in (100, 5_000):
            ids, _ = index.search(q, k, f)
            want, _ = _brute(jobs, emb, q, k, allowed)
            np.testing.assert_array_equal(ids, want)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.search(np.ones(10, np.float32), 5), "shape"),
        (lambda ix: ix.search(np.ones(DIM, np.float32), 0), "positive"),
        (lambda ix: IndexFilter(remote="sometimes"), "remote"),
        (lambda ix: IndexFilter(radius_km=50), "center"),
        (lambda ix: IndexFilter(min_zone=4, max_zone=2), "min_zone"),
        (lambda ix: IndexFilter(center=(123.0, 0.0), radius_km=5), "lat"),
        (lambda ix: ix.add(np.array([1]), np.ones((1, 10)), [0], [0], [0], [1], [NOW]), "shape"),
        (
            lambda ix: ix.add(np.array([1, 2]), np.ones((2, DIM)), [0], [0], [0], [1], [NOW]),
            "one value per",
        ),
    ],
)
def test_bad_inputs_raise_value_error(flat, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(flat)


def test_short_ivf_answer_falls_back_to_exact(catalog) -> None:
    """Too few lists probed for a selective filter: the answer still holds min(k, allowed)."""
    jobs, emb = catalog
    tiny = IndexConfig(probe_factor=0.001, min_nprobe=1)
    index = JobIndex.from_catalog(jobs, emb, "enc-a", kind="ivf", config=tiny)
    f = FILTERS["zones"]
    allowed = _allowed(jobs, f)
    q = _queries(emb, 1, seed=8)[0]
    ids, _ = index.search(q, 1_000, f)
    want, _ = _brute(jobs, emb, q, 1_000, allowed)
    assert len(ids) == min(1_000, allowed.sum())
    assert allowed[jobs["job_id"].isin(ids).to_numpy()].all()
    assert len(np.intersect1d(ids, want)) / len(want) >= 0.95


def test_readers_overlap_and_writers_run_alone() -> None:
    import threading
    import time

    from recsys.recall.rwlock import ReadWriteLock

    lock = ReadWriteLock()
    inside: list[int] = []
    peak = {"readers": 0, "mixed": False}
    writing = threading.Event()

    def reader() -> None:
        with lock.reading():
            inside.append(1)
            peak["readers"] = max(peak["readers"], len(inside))
            peak["mixed"] |= writing.is_set()
            time.sleep(0.05)
            inside.pop()

    def writer() -> None:
        with lock.writing(), lock.writing():  # re-entrant for the writing thread
            writing.set()
            peak["mixed"] |= bool(inside)
            time.sleep(0.05)
            writing.clear()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads.insert(2, threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert peak["readers"] >= 2
    assert not peak["mixed"]
