"""The job index's storage: row-aligned embeddings and filter columns, alive flags, id -> row.

`FilterColumns` is the one definition of the six per-job values the hard filters read (their
names, order and dtypes); the catalog, `JobIndex.add` and the saved `columns.npz` all go
through it. `IndexStorage` holds them row by row, with room to grow, so that a filter is one
vectorised mask over rows and FAISS can store the row number as its id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.core.growable import capacity_for


def _column(dtype: type, catalog: str | None = None) -> Any:
    """A filter column stored as `dtype`; `catalog` is the dtype it is read as from a catalog
    frame when that differs (expiry: datetime64[s] there, int64 seconds here)."""
    return field(metadata={"dtype": np.dtype(dtype), "catalog": np.dtype(catalog or dtype)})


@dataclass(frozen=True, eq=False)
class FilterColumns:
    """The filter columns of a batch of jobs: typed 1-d arrays of one length, row-aligned.

    Any array-likes are accepted and converted (`expires_at` may be datetime64 of any unit or
    int64 seconds since the epoch); `FilterColumns.from_catalog(jobs)` reads a catalog frame.
    """

    job_id: np.ndarray = _column(np.int64)
    lat: np.ndarray = _column(np.float32)
    lon: np.ndarray = _column(np.float32)
    remote: np.ndarray = _column(bool)
    job_zone: np.ndarray = _column(np.int8)
    expires_at: np.ndarray = _column(np.int64, catalog="datetime64[s]")  # seconds since epoch

    def __post_init__(self) -> None:
        for f in fields(self):
            value = np.asarray(getattr(self, f.name))
            if value.dtype.kind == "M":
                value = value.astype("datetime64[s]").astype(np.int64)
            object.__setattr__(self, f.name, np.asarray(value, f.metadata["dtype"]).ravel())

    @classmethod
    def from_catalog(cls, jobs: pd.DataFrame) -> FilterColumns:
        """The filter columns of a catalog frame (one row per job)."""
        missing = [c for c in FILTER_COLUMNS if c not in jobs.columns]
        if missing:
            expected = list(FILTER_COLUMNS)
            raise ValueError(f"job catalog lacks columns {missing}; expected {expected}")
        return cls(**{f.name: jobs[f.name].to_numpy(f.metadata["catalog"]) for f in fields(cls)})

    @classmethod
    def empty(cls, n: int) -> FilterColumns:
        """Zeroed columns for `n` rows (storage to fill)."""
        return cls(**{f.name: np.zeros(n, f.metadata["dtype"]) for f in fields(cls)})

    def items(self) -> list[tuple[str, np.ndarray]]:
        """(name, array) of every column, in `FILTER_COLUMNS` order."""
        return [(name, getattr(self, name)) for name in FILTER_COLUMNS]

    def check_rows(self, n: int) -> None:
        """Raise unless every column has `n` values (one per embedding row)."""
        wrong = {name: len(col) for name, col in self.items() if len(col) != n}
        if wrong:
            raise ValueError(f"columns must have one value per embedding row ({n}); got {wrong}")


#: the filter columns' names, in order: the catalog columns the index needs and saves
FILTER_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FilterColumns))


class IndexStorage:
    """Rows in use (alive or dead) of embeddings and filter columns, and the id -> row map.

    Rows are appended at the end; removing a job clears its alive flag and forgets its id, and
    `compact` drops dead rows (renumbering the rest). Not thread-safe: the index locks.
    """

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self.n = 0  # rows in use
        self.emb = np.zeros((0, self.dim), np.float32)
        self.cols = FilterColumns.empty(0)
        self.alive = np.zeros(0, bool)
        self.row_of: dict[int, int] = {}
        #: bumped whenever rows are renumbered (`compact`): with `n`, what a row means
        self.layout = 0

    def __len__(self) -> int:
        """Alive jobs."""
        return len(self.row_of)

    @property
    def job_ids(self) -> np.ndarray:
        """Ids of the alive jobs, in row order."""
        return self.cols.job_id[: self.n][self.alive[: self.n]].copy()

    @property
    def nbytes(self) -> int:
        """Bytes of the embeddings and filter columns of the rows in use."""
        n = self.n
        return self.emb[:n].nbytes + sum(col[:n].nbytes for _, col in self.cols.items())

    def rows(self, job_ids: np.ndarray) -> np.ndarray:
        """Rows of the alive jobs among `job_ids` (unknown ids are skipped)."""
        ids = np.asarray(job_ids, np.int64).ravel().tolist()
        rows = np.fromiter((self.row_of.get(i, -1) for i in ids), np.int64, len(ids))
        return rows[rows >= 0]

    def append(self, columns: FilterColumns, emb: np.ndarray) -> tuple[int, int]:
        """Store new rows (ids not already alive here); returns their (start, stop)."""
        ids = columns.job_id
        start, stop = self.n, self.n + len(ids)
        self._reserve(stop)
        self.emb[start:stop] = emb
        for name, values in columns.items():
            getattr(self.cols, name)[start:stop] = values
        self.alive[start:stop] = True
        self.row_of.update(zip(ids.tolist(), range(start, stop), strict=True))
        self.n = stop
        return start, stop

    def kill(self, job_ids: np.ndarray) -> np.ndarray:
        """Mark the jobs dead and forget their ids; returns the rows that were alive."""
        rows = np.fromiter(
            (r for r in (self.row_of.pop(int(i), -1) for i in np.asarray(job_ids).ravel())),
            np.int64,
        )
        rows = rows[rows >= 0]
        self.alive[rows] = False
        return rows

    def compact(self) -> None:
        """Drop dead rows, renumbering the alive ones in order."""
        keep = np.flatnonzero(self.alive[: self.n])
        self.emb = self.emb[keep].copy()
        self.cols = FilterColumns(**{name: col[keep] for name, col in self.cols.items()})
        self.alive = np.ones(len(keep), bool)
        self.n = len(keep)
        self.row_of = dict(zip(self.cols.job_id.tolist(), range(self.n), strict=True))
        self.layout += 1
        self._grow_to(capacity_for(self.n))

    def _reserve(self, rows: int) -> None:
        if rows <= len(self.alive):
            return
        self._grow_to(max(capacity_for(rows), int(len(self.alive) * 1.5)))

    def _grow_to(self, cap: int) -> None:
        """Room for `cap` rows; the spare ones cost nothing until written (`core.growable`)."""
        emb = np.zeros((cap, self.dim), np.float32)
        emb[: self.n] = self.emb[: self.n]
        self.emb = emb
        grown = FilterColumns.empty(cap)
        for name, col in self.cols.items():
            getattr(grown, name)[: self.n] = col[: self.n]
        self.cols = grown
        alive = np.zeros(cap, bool)
        alive[: self.n] = self.alive[: self.n]
        self.alive = alive

    # ----------------------------------------------------------------------------- files
    def save(self, folder: Path) -> None:
        """`embeddings.npy` and `columns.npz` (the filter columns and the alive flags)."""
        n = self.n
        np.save(folder / "embeddings.npy", self.emb[:n])
        columns: dict[str, Any] = {name: col[:n] for name, col in self.cols.items()}
        np.savez(folder / "columns.npz", alive=self.alive[:n], **columns)

    @classmethod
    def load(cls, folder: Path, dim: int) -> IndexStorage:
        """Read what `save` wrote."""
        store = cls(dim)
        store.emb = np.load(folder / "embeddings.npy")
        with np.load(folder / "columns.npz") as cols:
            store.alive = cols["alive"].copy()
            store.cols = FilterColumns(**{name: cols[name].copy() for name in FILTER_COLUMNS})
        store.n = len(store.alive)
        alive_rows = np.flatnonzero(store.alive)
        store.row_of = dict(
            zip(store.cols.job_id[alive_rows].tolist(), alive_rows.tolist(), strict=True)
        )
        store._grow_to(capacity_for(store.n))  # the next append writes in place
        return store
