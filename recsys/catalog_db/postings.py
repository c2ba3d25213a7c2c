"""Postings in the catalog database: upserts by the board's id, closes, patches, the change feed.

Writers bump `catalog_sequence` first in their transaction (see `schema`); readers follow
`changes_since(seq)`. Frames in and out carry the `postings` columns, datetimes as naive UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, func, select, update

from recsys.catalog_db.ids import content_hash, job_id_for
from recsys.catalog_db.schema import POSTING_FIELDS, catalog_sequence, postings

#: derived columns a writer may hand over with the postings (kept while title and skills stay).
DERIVED = ("occupation", "embedding", "encoder_fingerprint")
#: rows per statement: bounded memory and parameter counts on both backends.
CHUNK = 2_000


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did, row for row with its input (`job_ids`)."""

    inserted: int
    updated: int
    unchanged: int
    job_ids: list[int] = field(default_factory=list)


def next_seq(conn: Connection, n: int) -> int:
    """Reserve `n` sequence numbers; returns the first. Locks the counter until commit."""
    row = conn.execute(
        update(catalog_sequence)
        .where(catalog_sequence.c.name == "postings")
        .values(value=catalog_sequence.c.value + n)
        .returning(catalog_sequence.c.value)
    ).scalar_one()
    return int(row) - n + 1


def _py(value: Any) -> Any:
    """A frame cell as a value the driver takes (None for NaN/NaT, datetime, int, float)."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _py(value.item())
    return value


class PostingTable:
    """The postings table of one catalog database."""

    def __init__(self, engine: Engine, open_days: int = 30):
        self.engine = engine
        self.open_days = open_days

    # ------------------------------------------------------------------------------ writes
    def upsert(
        self, frame: pd.DataFrame, now: datetime, first_seen: datetime | None = None
    ) -> UpsertResult:
        """Insert new postings and update changed ones, matched by `external_id`.

        A row whose board-owned fields hash the same as the stored posting writes nothing. A
        missing `posted_at` keeps the stored one (else `first_seen`, else now); a missing
        `expires_at` keeps the stored one (else posted + open_days). Title or skill changes drop
        the derived data unless the frame brings new derived values.
        """
        records = [{k: _py(v) for k, v in r.items()} for r in frame.to_dict("records")]
        inserted = updated = unchanged = 0
        job_ids: list[int] = []
        with self.engine.begin() as conn:
            for start in range(0, len(records), CHUNK):
                chunk = records[start : start + CHUNK]
                existing = self._existing(conn, [str(r["external_id"]) for r in chunk])
                new_rows, changed_rows = [], []
                for rec in chunk:
                    old = existing.get(str(rec["external_id"]))
                    row = self._complete(rec, old, first_seen or now)
                    job_ids.append(int(row["job_id"]))
                    if old is None:
                        new_rows.append(row)
                    elif row["content_hash"] != old["content_hash"] or _derived_given(rec):
                        if old["title"] == row["title"] and old["skills"] == row["skills"]:
                            for col in DERIVED:
                                row.setdefault(col, old[col])
                        changed_rows.append(row)
                    else:
                        unchanged += 1
                n = len(new_rows) + len(changed_rows)
                if n == 0:
                    continue
                seq = next_seq(conn, n)
                for i, row in enumerate(new_rows + changed_rows):
                    row["seq"] = seq + i
                    row["updated_at"] = now
                if new_rows:
                    conn.execute(postings.insert(), [_with_derived(r) for r in new_rows])
                for row in changed_rows:
                    conn.execute(
                        update(postings)
                        .where(postings.c.job_id == row["job_id"])
                        .values(**_with_derived(row))
                    )
                inserted += len(new_rows)
                updated += len(changed_rows)
        return UpsertResult(inserted, updated, unchanged, job_ids)

    def _existing(self, conn: Connection, external_ids: list[str]) -> dict[str, dict[str, Any]]:
        cols = [postings.c.job_id, postings.c.content_hash, postings.c.posted_at]
        cols += [postings.c.expires_at, postings.c.title, postings.c.skills]
        cols += [postings.c[c] for c in DERIVED] + [postings.c.external_id]
        rows = conn.execute(select(*cols).where(postings.c.external_id.in_(external_ids)))
        return {r.external_id: dict(r._mapping) for r in rows}

    def _complete(
        self, rec: dict[str, Any], old: dict[str, Any] | None, first_seen: datetime
    ) -> dict[str, Any]:
        row: dict[str, Any] = {f: rec.get(f) for f in POSTING_FIELDS}
        row["external_id"] = str(row["external_id"])
        row["job_id"] = (
            old["job_id"] if old else rec.get("job_id") or job_id_for(row["external_id"])
        )
        row["job_id"] = int(row["job_id"])
        row["skills"] = list(row["skills"] or [])
        row["status"] = row["status"] or "open"
        row["source"] = row["source"] or "api"
        if row["posted_at"] is None:
            row["posted_at"] = old["posted_at"] if old else first_seen
        if row["expires_at"] is None:
            row["expires_at"] = (
                old["expires_at"] if old else row["posted_at"] + timedelta(days=self.open_days)
            )
        row["content_hash"] = content_hash(row, POSTING_FIELDS)
        for col in DERIVED:
            if rec.get(col) is not None:
                row[col] = rec[col]
        return row

    def close(self, job_ids: Iterable[int], now: datetime) -> int:
        """Close open postings now (they stay readable); returns how many were open."""
        ids = [int(i) for i in job_ids]
        with self.engine.begin() as conn:
            open_ids = (
                conn.execute(
                    select(postings.c.job_id).where(
                        postings.c.job_id.in_(ids), postings.c.status == "open"
                    )
                )
                .scalars()
                .all()
            )
            self._close(conn, list(open_ids), now)
        return len(open_ids)

    def close_missing(self, source: str, present: Iterable[str], now: datetime) -> int:
        """Close the open postings of `source` whose external id is not in `present`."""
        keep = set(map(str, present))
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(postings.c.job_id, postings.c.external_id).where(
                    postings.c.source == source, postings.c.status == "open"
                )
            ).all()
            gone = [r.job_id for r in rows if r.external_id not in keep]
            self._close(conn, gone, now)
        return len(gone)

    def _close(self, conn: Connection, job_ids: list[int], now: datetime) -> None:
        if not job_ids:
            return
        seq = next_seq(conn, len(job_ids))
        for i, job_id in enumerate(sorted(job_ids)):
            row = conn.execute(select(postings).where(postings.c.job_id == job_id)).one()
            values = dict(row._mapping)
            values.update(status="closed", expires_at=min(values["expires_at"], now))
            conn.execute(
                update(postings)
                .where(postings.c.job_id == job_id)
                .values(
                    status="closed",
                    expires_at=values["expires_at"],
                    content_hash=content_hash(values, POSTING_FIELDS),
                    updated_at=now,
                    seq=seq + i,
                )
            )

    # ------------------------------------------------------------------------------ reads
    def get(self, job_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(postings).where(postings.c.job_id == int(job_id))).first()
        return None if row is None else dict(row._mapping)

    def employers(self, job_ids: Iterable[int]) -> dict[int, str | None]:
        """The owning employer of each stored posting among `job_ids` (None: no employer);
        ids the database does not hold are left out. One query per 2,000 ids."""
        ids = sorted({int(j) for j in job_ids})
        out: dict[int, str | None] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                rows = conn.execute(
                    select(postings.c.job_id, postings.c.employer_id).where(
                        postings.c.job_id.in_(ids[start : start + CHUNK])
                    )
                ).all()
                out.update({int(job_id): employer for job_id, employer in rows})
        return out

    def by_external_id(self, external_ids: Sequence[str]) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return _frame(
                conn.execute(select(postings).where(postings.c.external_id.in_(list(external_ids))))
            )

    def frame(self, status: str | None = None, since_seq: int = 0) -> pd.DataFrame:
        """Postings (all, or of one status) with seq > since_seq, in sequence order."""
        query = select(postings).where(postings.c.seq > since_seq).order_by(postings.c.seq)
        if status is not None:
            query = query.where(postings.c.status == status)
        with self.engine.connect() as conn:
            return _frame(conn.execute(query))

    def max_seq(self) -> int:
        with self.engine.connect() as conn:
            seq = conn.execute(select(func.coalesce(func.max(postings.c.seq), 0))).scalar_one()
        return int(seq)

    def count(self, status: str | None = None) -> int:
        query = select(func.count()).select_from(postings)
        if status is not None:
            query = query.where(postings.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def count_derived(self, fingerprint: str) -> int:
        """Postings whose derived data this encoder made."""
        query = select(func.count()).where(postings.c.encoder_fingerprint == fingerprint)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def set_derived(
        self, job_ids: Sequence[int], occupation: Sequence[str], embeddings: np.ndarray, fp: str
    ) -> None:
        """Store what the encoder derived (no change-feed entry: the board's data is the same)."""
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        rows = [
            {"jid": int(j), "occupation": str(o), "embedding": emb[i].tobytes(), "fp": fp}
            for i, (j, o) in enumerate(zip(job_ids, occupation, strict=True))
        ]
        stmt = (
            update(postings)
            .where(postings.c.job_id == bindparam("jid"))
            .values(
                occupation=bindparam("occupation"),
                embedding=bindparam("embedding"),
                encoder_fingerprint=bindparam("fp"),
            )
        )
        with self.engine.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                conn.execute(stmt, rows[start : start + CHUNK])


def _derived_given(rec: dict[str, Any]) -> bool:
    return rec.get("embedding") is not None


def _with_derived(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for col in DERIVED:
        out.setdefault(col, None)
    return out


def _frame(result: Any) -> pd.DataFrame:
    return pd.DataFrame(result.mappings().all(), columns=[c.name for c in postings.columns])
