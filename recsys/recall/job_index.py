"""The vector index over job title embeddings: top-N recall with the hard filters inside the search.

Why it looks like this (the search figures are in `recsys.recall.search`; the script is
`benchmarks/recall_latency.py`):

- **Rows, not ids, inside FAISS.** Every job lives in one row of row-aligned numpy columns (the
  embedding, the `FILTER_COLUMNS`: job id, lat, lon, remote, job zone, expiry as int64 seconds,
  and an alive flag). FAISS stores the row number as its id; the stable int64 job id is mapped
  back only for the answer. Filters are then one vectorised boolean mask over rows, and that mask
  is both a FAISS `IDSelectorBitmap` and a numpy row selection.
- **Search strategies** (exact numpy, filtered IVF-SQ8, GPU) and the rule that picks one: see
  `recsys.recall.search`.
- **Incremental updates.** `add` appends rows (and vectors to the trained IVF lists); `remove`
  clears the alive flag (visible to the very next search through the mask) and removes the
  vectors from the IVF lists; re-adding an id removes its old row first. When more than a quarter
  of the rows are dead the storage is compacted (IVF lists refilled, no retraining).
- **Thread-safe.** The API answers requests on a thread pool while postings are added and
  expired; a readers-writer lock lets searches run side by side and keeps updates apart from
  them (FAISS must not search an IVF list it is appending to).
- **The encoder fingerprint travels with the index** and `load` refuses another encoder's index:
  embeddings of two encoders are not comparable, and a silent mismatch ranks garbage.

The parts: `index_columns` (the filter columns, defined once, and the row storage),
`index_filter` (`IndexFilter` and the vectorised mask), `search` (the strategies and their
knobs), `filtered_search` (one request's searches under one set of filters, its radius
widening); this module holds `JobIndex`: building, updates under the lock, search, persistence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Final, Literal

import faiss
import numpy as np
import pandas as pd

from recsys.recall.filtered_search import FilteredSearch
from recsys.recall.index_columns import FILTER_COLUMNS, FilterColumns, IndexStorage
from recsys.recall.index_filter import REMOTE_MODES, IndexFilter, RemoteMode, allowed_mask
from recsys.recall.rwlock import ReadWriteLock, holding
from recsys.recall.search import (
    GPU_MAX_K,
    KINDS,
    GpuReplica,
    IndexConfig,
    IndexKind,
    train_ivf,
)

__all__ = [
    "FILTER_COLUMNS",
    "FORMAT_VERSION",
    "GPU_MAX_K",
    "KINDS",
    "REMOTE_MODES",
    "FilterColumns",
    "IndexConfig",
    "IndexFilter",
    "IndexKind",
    "JobIndex",
    "JobIndexError",
    "RemoteMode",
]

FORMAT_VERSION: Final[int] = 1


class JobIndexError(RuntimeError):
    """The index on disk cannot be used (missing, another encoder, another format)."""


class JobIndex:
    """Top-k inner-product search over job embeddings with hard filters; see the module docstring.

    Build it with `JobIndex.from_catalog`, `JobIndex.from_columns` or `JobIndex.build`, query it
    with `search`, keep it fresh with `add_columns` / `add` / `remove`, persist it with `save` /
    `JobIndex.load`.
    """

    def __init__(
        self,
        dim: int,
        fingerprint: str,
        kind: IndexKind = "flat",
        config: IndexConfig | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is unknown; use one of {KINDS} or 'auto' in build")
        self.dim = int(dim)
        self._fingerprint = str(fingerprint)
        self._kind: IndexKind = kind
        self.config = config or IndexConfig()
        self._store = IndexStorage(self.dim)
        self._ivf: faiss.IndexIVF | None = None
        self._gpu = GpuReplica()
        self._lock = ReadWriteLock()

    # ----------------------------------------------------------------------------- building
    @classmethod
    def from_columns(
        cls,
        columns: FilterColumns,
        embeddings: np.ndarray,
        fingerprint: str,
        kind: IndexKind | Literal["auto"] = "auto",
        config: IndexConfig | None = None,
    ) -> JobIndex:
        """Index jobs. `kind="auto"`: exact below `config.exact_below` jobs, IVF-SQ8 above."""
        config = config or IndexConfig()
        emb = _check_embeddings(embeddings, None)
        if kind == "auto":
            kind = "flat" if len(emb) < config.exact_below else "ivf_sq8"
        index = cls(emb.shape[1], fingerprint, kind, config)
        if kind != "flat":
            index._ivf = train_ivf(emb, kind, config)
        index.add_columns(columns, emb)
        return index

    @classmethod
    def from_catalog(
        cls,
        jobs: pd.DataFrame,
        embeddings: np.ndarray,
        fingerprint: str,
        kind: IndexKind | Literal["auto"] = "auto",
        config: IndexConfig | None = None,
    ) -> JobIndex:
        """Index a catalog DataFrame (the `FILTER_COLUMNS`: job_id, lat, lon, remote, job_zone,
        expires_at); `embeddings` are row-aligned with `jobs`."""
        columns = FilterColumns.from_catalog(jobs)
        return cls.from_columns(columns, embeddings, fingerprint, kind, config)

    @classmethod
    def build(
        cls,
        job_ids: np.ndarray,
        embeddings: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        remote: np.ndarray,
        job_zone: np.ndarray,
        expires_at: np.ndarray,
        fingerprint: str,
        kind: IndexKind | Literal["auto"] = "auto",
        config: IndexConfig | None = None,
    ) -> JobIndex:
        """`from_columns` with each filter column passed as an argument."""
        columns = FilterColumns(job_ids, lat, lon, remote, job_zone, expires_at)
        return cls.from_columns(columns, embeddings, fingerprint, kind, config)

    # ----------------------------------------------------------------------------- updates
    @holding("writing")
    def add_columns(self, columns: FilterColumns, embeddings: np.ndarray) -> None:
        """Add jobs without a rebuild; an id already indexed is replaced by the new row."""
        emb = _check_embeddings(embeddings, self.dim)
        columns.check_rows(len(emb))
        ids = columns.job_id
        if len(np.unique(ids)) != len(ids):
            raise ValueError("job_ids passed to add must be unique")
        self.remove(ids[np.fromiter((int(i) in self._store.row_of for i in ids), bool, len(ids))])
        start, stop = self._store.append(columns, emb)
        if self._ivf is not None:
            self._ivf.add_with_ids(emb, np.arange(start, stop, dtype=np.int64))
        self._gpu.mark_stale()

    def add(
        self,
        job_ids: np.ndarray,
        embeddings: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        remote: np.ndarray,
        job_zone: np.ndarray,
        expires_at: np.ndarray,
    ) -> None:
        """`add_columns` with each filter column passed as an argument."""
        columns = FilterColumns(job_ids, lat, lon, remote, job_zone, expires_at)
        self.add_columns(columns, embeddings)

    @holding("writing")
    def remove(self, job_ids: np.ndarray) -> int:
        """Remove jobs (unknown ids are ignored); visible to the next search. Returns the count."""
        rows = self._store.kill(job_ids)
        if len(rows) == 0:
            return 0
        if self._ivf is not None:
            self._ivf.remove_ids(faiss.IDSelectorBatch(rows))
        if self._store.n - len(self) > self.config.compact_dead_fraction * self._store.n:
            self.compact()
        return len(rows)

    @holding("writing")
    def compact(self) -> None:
        """Drop dead rows from storage (renumbering rows; IVF lists refilled, not retrained)."""
        store = self._store
        store.compact()
        if self._ivf is not None:
            self._ivf.reset()
            self._ivf.add_with_ids(store.emb[: store.n], np.arange(store.n, dtype=np.int64))
        self._gpu.mark_stale()

    # ----------------------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, int | np.integer) and int(job_id) in self._store.row_of

    @property
    def job_ids(self) -> np.ndarray:
        """Ids of the indexed (alive) jobs, in row order."""
        return self._store.job_ids

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the encoder that produced the embeddings."""
        return self._fingerprint

    @property
    def kind(self) -> str:
        """ "flat" (exact), "ivf" or "ivf_sq8"."""
        return self._kind

    @property
    def on_gpu(self) -> bool:
        """Whether a GPU replica answers the searches it can (see the module docstring)."""
        return faiss.get_num_gpus() > 0

    def memory_mb(self) -> float:
        """Embeddings and filter columns held, plus the serialised FAISS index, in MiB."""
        ivf = 0 if self._ivf is None else faiss.serialize_index(self._ivf).nbytes
        return (self._store.nbytes + ivf) / 2**20

    def __repr__(self) -> str:
        where = "gpu" if self.on_gpu else "cpu"
        return f"JobIndex(kind={self._kind!r}, {where}, jobs={len(self)}, dim={self.dim})"

    # ----------------------------------------------------------------------------- search
    @holding("reading")
    def search(
        self, query: np.ndarray, k: int, filters: IndexFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `min(k, allowed)` jobs for one query: (job ids int64, scores float32), best
        first, every one passing `filters`; no padding."""
        _check_k(k)
        return self._filtered_search(query, filters).search(k)

    @contextmanager
    def filtered(
        self, query: np.ndarray, filters: IndexFilter | None = None
    ) -> Iterator[FilteredSearch]:
        """Several searches of `query` under `filters` (a widening radius, other queries under
        the same mask; see `recsys.recall.filtered_search`), with no update in between."""
        with self._lock.reading():
            yield self._filtered_search(query, filters)

    def _filtered_search(self, query: np.ndarray, filters: IndexFilter | None) -> FilteredSearch:
        gpu = self._gpu if self.on_gpu else None
        q = self._check_query(query)
        return FilteredSearch(self._store, self._ivf, gpu, self.config, q, filters)

    def search_batch(
        self, queries: np.ndarray, k: int, filters: IndexFilter | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`search` for each row of `queries` (n, dim), sharing the filters."""
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        return [self.search(q, k, filters) for q in queries]

    def allowed_mask(self, filters: IndexFilter | None = None) -> np.ndarray:
        """Boolean mask over rows in use: alive and passing every hard filter."""
        return allowed_mask(self._store, filters)

    @holding("reading")
    def allowed_job_ids(self, filters: IndexFilter | None = None) -> np.ndarray:
        """Ids of every job passing `filters` (the non-vector candidate sources start here)."""
        mask = self.allowed_mask(filters)
        return self._store.cols.job_id[: len(mask)][mask]

    def _check_query(self, query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float32)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self.dim,):
            raise ValueError(
                f"query must have shape ({self.dim},) or (1, {self.dim}), got {np.shape(query)}; "
                "embed it with the encoder that built this index"
            )
        return np.ascontiguousarray(q)

    # ----------------------------------------------------------------------------- persistence
    @holding("reading")
    def save(self, folder: str | Path) -> Path:
        """Write the index, its id map and filter columns, and the encoder fingerprint."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._store.save(folder)
        if self._ivf is not None:
            faiss.write_index(self._ivf, str(folder / "ivf.faiss"))
        meta = {
            "format_version": FORMAT_VERSION,
            "fingerprint": self._fingerprint,
            "kind": self._kind,
            "dim": self.dim,
            "rows": self._store.n,
            "jobs": len(self),
            "config": asdict(self.config),
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, expected_fingerprint: str | None = None) -> JobIndex:
        """Read an index saved by `save`; refuse one built by another encoder."""
        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise JobIndexError(f"no job index at {folder}; build one with `recsys index build`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise JobIndexError(
                f"job index at {folder} has format {meta.get('format_version')}, this code reads "
                f"{FORMAT_VERSION}; rebuild it with `recsys index build`"
            )
        if expected_fingerprint is not None and meta["fingerprint"] != expected_fingerprint:
            raise JobIndexError(
                f"job index at {folder} was built by encoder {meta['fingerprint']!r}, but the "
                f"current encoder is {expected_fingerprint!r}; its vectors are not comparable. "
                "Rebuild it with `recsys index build`"
            )
        index = cls(meta["dim"], meta["fingerprint"], meta["kind"], IndexConfig(**meta["config"]))
        index._store = IndexStorage.load(folder, index.dim)
        if index._kind != "flat":
            index._ivf = faiss.read_index(str(folder / "ivf.faiss"))  # type: ignore[assignment]
        return index


def _check_k(k: object) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def _check_embeddings(embeddings: np.ndarray, dim: int | None) -> np.ndarray:
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or (dim is not None and emb.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, dim)"
        raise ValueError(f"embeddings must have shape {want}, got {np.shape(embeddings)}")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings contain NaN or inf; re-encode those jobs")
    return emb
