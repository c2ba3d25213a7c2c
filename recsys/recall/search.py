"""The job index's search strategies (exact numpy, filtered IVF, GPU) and the choice between them.

Each strategy answers "the best `want` allowed rows for one query" from the index storage and
the allowed mask; the IVF and GPU ones return None when they found fewer, and `search_rows`
then falls back to the exact one. Why (figures on the 2-core dev box, dim 384, k = 10,000; see
`benchmarks/recall_latency.py`):

- **Exact search is numpy, not `IndexFlatIP`.** For k = 10,000 FAISS's flat search spends most of
  its time in a 10,000-entry heap: ~55-80 ms at 100k jobs against ~25 ms for one matrix-vector
  product plus `argpartition`. So the "flat" kind is the embedding matrix itself; FAISS is used
  for the approximate kinds (and for a flat index on a GPU).
- **IVF-SQ8 for large catalogs** (`IndexConfig.exact_below`, default 50,000 rows). HNSW needs
  efSearch >= k, hopeless at k = 10,000. At 100k jobs (nlist 512, probe_factor 4.5) on a quiet
  2-core box: IVF-SQ8 5.9 ms p50 / 7.9 ms p99 with recall@10,000 0.973 against exact search,
  IVF-Flat 7.2 / 8.8 ms at the same recall and 1.6x the memory (297 vs 187 MB), numpy brute
  force 7.3 / 11.2 ms. nprobe is chosen per query: the lists probed must hold about
  `probe_factor * k` allowed vectors, i.e. nprobe = max(min_nprobe, nlist * probe_factor * k / n)
  divided by the fraction of jobs the filters allow (probe_factor 3.5 gave recall 0.944).
- **Hard filters inside the search, never after it.** A query first computes the allowed mask
  (alive, not expired, job zone range, remote mode, radius, excluded ids; the radius runs the
  haversine only on rows inside a latitude band). Then, with `a` allowed rows among `n` alive:
  if `a <= exact_factor * k` (default 1: the answer is then nearly every allowed row) the search
  is exact over the allowed rows; otherwise IVF searches with the bitmap selector and a
  proportionally larger nprobe. The exact path gathers float32 rows and is bound by memory
  bandwidth, while IVF-SQ8 scans int8 codes: on 150 seekers' real filters (80 km radius, remote
  allowed; 100k jobs, k = 10,000, one thread) IVF for every filtered query took 4.6 ms p50 /
  6.6 ms p99 against 9.2 / 14.7 ms for the earlier rule (exact below sqrt(probe_factor * k * n)
  = 67k allowed rows), returning 99.9% of the same jobs. An IVF
  answer shorter than `min(k, a)` falls back to the exact path, so filtering never collapses
  recall: the answer always holds `min(k, a)` jobs, all of them allowed.
- **GPU.** With `faiss.get_num_gpus() > 0` a replica is made with `faiss.index_cpu_to_all_gpus`.
  FAISS GPU indexes take no `IDSelector` and return at most 2,048 neighbours, so the GPU path
  searches `k' = k * n / a` (times 2, for slack) neighbours, masks them with the allowed mask, and
  keeps the answer only when it holds `min(k, a)` jobs; otherwise (and whenever k' > 2,048, which
  includes the usual k = 10,000) the CPU path answers. The replica is rebuilt lazily after adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import faiss
import numpy as np

from recsys.recall.index_columns import IndexStorage

IndexKind = Literal["flat", "ivf", "ivf_sq8"]
#: the index kinds (the values of `IndexKind`); "flat" is exact search
KINDS: Final[tuple[str, ...]] = get_args(IndexKind)
#: FAISS GPU k-selection limit (warp select); larger k must be answered on the CPU.
GPU_MAX_K: Final[int] = 2048

Hit = tuple[np.ndarray, np.ndarray]  # (rows, scores), best first


@dataclass(frozen=True)
class IndexConfig:
    """Tuning knobs; the defaults are the measured choices of the module docstring."""

    exact_below: int = 50_000  # kind="auto": exact below this many jobs, IVF-SQ8 above
    nlist: int | None = None  # IVF lists; None: ~2 * sqrt(n), a power of two in [64, 4096]
    probe_factor: float = 4.5  # probed lists hold ~probe_factor * k allowed vectors
    exact_factor: float = 1.0  # filtered queries go exact only below exact_factor * k allowed
    min_nprobe: int = 16
    train_per_list: int = 40  # k-means training points per list
    compact_dead_fraction: float = 0.25


def default_nlist(n: int) -> int:
    """~2 * sqrt(n) IVF lists, a power of two in [64, 4096]."""
    return int(min(4096, max(64, 2 ** round(math.log2(max(2.0 * math.sqrt(n), 1.0))))))


def train_ivf(emb: np.ndarray, kind: IndexKind, config: IndexConfig) -> faiss.IndexIVF:
    """An empty IVF index ("ivf": flat lists, "ivf_sq8": 8-bit codes) trained on `emb`."""
    dim = emb.shape[1]
    nlist = config.nlist or default_nlist(len(emb))
    if len(emb) < nlist:
        raise ValueError(f"an IVF index needs >= nlist={nlist} jobs to train, got {len(emb)}")
    quantizer = faiss.IndexFlatIP(dim)
    ivf: faiss.IndexIVF
    if kind == "ivf_sq8":
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer,
            dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
    else:
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10
    rng = np.random.default_rng(0)
    n_train = min(len(emb), nlist * config.train_per_list)
    ivf.train(emb[np.sort(rng.choice(len(emb), n_train, replace=False))])
    return ivf


def search_rows(
    store: IndexStorage,
    ivf: faiss.IndexIVF | None,
    gpu: GpuReplica | None,
    config: IndexConfig,
    q: np.ndarray,
    want: int,
    mask: np.ndarray,
    n_allowed: int,
    scores: RowScores | None = None,
) -> Hit:
    """The best `want` allowed rows: GPU when it can answer, else IVF when the allowed set is
    large (above `exact_factor * want`), else (or when those fall short) exact search, reusing
    `scores` (the exact scores of this query computed so far) when given."""
    if gpu is not None and tries_gpu(gpu, want):
        hit = search_gpu(gpu.index(store, ivf), store.n, q, want, mask, n_allowed)
        if hit is not None:
            return hit
    if ivf is not None and tries_ivf(ivf, config, want, n_allowed):
        hit = search_ivf(ivf, len(store), config, q, want, mask, n_allowed)
        if hit is not None:
            return hit
    return search_exact(store, q, want, mask, scores)


def tries_gpu(gpu: GpuReplica | None, want: int) -> bool:
    """Whether `search_rows` asks the GPU replica first for `want` rows."""
    return gpu is not None and want <= GPU_MAX_K


def tries_ivf(ivf: faiss.IndexIVF | None, config: IndexConfig, want: int, n_allowed: int) -> bool:
    """Whether `search_rows` asks the IVF index (before exact search) for `want` rows among
    `n_allowed`."""
    return ivf is not None and n_allowed > config.exact_factor * want


class RowScores:
    """One query's exact scores over the index rows, each row scored at most once.

    A widened radius asks the same query again over a superset of the rows it scored at the
    last radius: with this, only the new rows are gathered and multiplied. Row numbers are the
    storage's, so the object lives only while the index's read lock is held."""

    def __init__(self, store: IndexStorage, q: np.ndarray):
        self._emb, self._n, self._q = store.emb, store.n, q
        self._n_done = 0
        # allocated by the first `over`: a request the IVF index answers never scores exactly
        self.values = np.empty(0, np.float32)
        self._done = np.zeros(0, bool)

    def over(self, mask: np.ndarray) -> np.ndarray:
        """`values`, valid at least on the rows of `mask` (scored now where they were not)."""
        n = self._n
        if self._n_done == n:
            return self.values
        if len(self._done) < n:
            self.values, self._done = np.empty(n, np.float32), np.zeros(n, bool)
        need = mask & ~self._done
        n_need = int(np.count_nonzero(need))
        if n_need == 0:
            return self.values
        # A gathered subset goes through einsum: on 2 shared cores OpenBLAS threads made sgemv
        # over a fresh copy 6x slower. The whole matrix goes through BLAS, which measured 1.4x
        # faster than einsum there (8.6 vs 12.3 ms p50 at 100k). `np.take` gathers 1.25x faster
        # than fancy indexing (20k x 384, one BLAS thread as the server runs). Gathering more
        # than a third of the rows measured slower than the whole product in isolation (45%:
        # 4.5 vs 3.7 ms), but moving the cut to a third changed nothing measurable in the
        # served request (`benchmarks.request_profile`, 20k jobs: recall 16.4 vs 16.8 ms
        # median), so it stays at a half.
        if (self._n_done + n_need) * 2 < n:
            rows = np.flatnonzero(need)
            self.values[rows] = np.einsum("ij,j->i", np.take(self._emb, rows, axis=0), self._q)
            self._done[rows] = True
            self._n_done += n_need
        else:
            np.matmul(self._emb[:n], self._q, out=self.values)
            self._done[:] = True
            self._n_done = n
        return self.values


def search_exact(
    store: IndexStorage,
    q: np.ndarray,
    want: int,
    mask: np.ndarray,
    scores: RowScores | None = None,
) -> Hit:
    """Exact top-`want` over the allowed rows: the rows' scores (see `RowScores`) + argpartition."""
    values = (scores or RowScores(store, q)).over(mask)
    rows = np.flatnonzero(mask)
    allowed = values[rows]
    best = top(allowed, want)
    return rows[best], allowed[best]


def count_at_least(scores: RowScores, mask: np.ndarray, threshold: float) -> int:
    """How many allowed rows score at least `threshold` (exactly; nothing is sorted)."""
    return int(np.count_nonzero(scores.over(mask)[mask] >= threshold))


def search_ivf(
    ivf: faiss.IndexIVF,
    n_alive: int,
    config: IndexConfig,
    q: np.ndarray,
    want: int,
    mask: np.ndarray,
    n_allowed: int,
) -> Hit | None:
    """IVF search with the mask as a bitmap selector; None when it found fewer than `want`."""
    nlist, frac = ivf.nlist, n_allowed / max(n_alive, 1)
    base = max(config.min_nprobe, nlist * config.probe_factor * want / n_alive)
    params = faiss.SearchParametersIVF(nprobe=min(nlist, math.ceil(base / frac)))  # type: ignore[call-arg]  # SWIG stubs omit kwargs
    if n_allowed < n_alive:  # the IVF lists hold exactly the alive rows
        params.sel = faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))  # type: ignore[call-arg, arg-type]
    scores, rows = ivf.search(q[None, :], want, params=params)
    keep = rows[0] >= 0
    if np.count_nonzero(keep) < want:
        return None
    return rows[0][keep], scores[0][keep]


def search_gpu(
    gpu: Any, n_rows: int, q: np.ndarray, want: int, mask: np.ndarray, n_allowed: int
) -> Hit | None:
    """GPU search for more than `want`, then the mask; None when that was not enough."""
    slack = 1 if n_allowed == n_rows else 2
    k_gpu = min(n_rows, math.ceil(slack * want * n_rows / n_allowed))
    if k_gpu > GPU_MAX_K:
        return None
    scores, rows = gpu.search(q[None, :], k_gpu)
    rows, scores = rows[0], scores[0]
    ok = rows >= 0
    ok[ok] = mask[rows[ok]]
    if np.count_nonzero(ok) < want:
        return None
    return rows[ok][:want], scores[ok][:want]


class GpuReplica:
    """A replica of the index on every GPU, rebuilt lazily after the storage changed."""

    def __init__(self) -> None:
        self._index: Any = None
        self._stale = True

    def mark_stale(self) -> None:
        self._stale = True

    def index(self, store: IndexStorage, ivf: faiss.IndexIVF | None) -> Any:
        """The replica, rebuilt first when the storage changed since the last one."""
        if self._index is None or self._stale:
            if ivf is not None:
                cpu: faiss.Index = ivf
            else:
                cpu = faiss.IndexFlatIP(store.dim)
                cpu.add(store.emb[: store.n])
            self._index = faiss.index_cpu_to_all_gpus(cpu)
            if ivf is not None:
                nprobe = min(GPU_MAX_K, ivf.nlist)
                faiss.GpuParameterSpace().set_index_parameter(self._index, "nprobe", nprobe)
            self._stale = False
        return self._index


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first."""
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]
