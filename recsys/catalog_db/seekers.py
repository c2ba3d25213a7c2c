"""Seeker profiles in the catalog database, and the users who asked to be forgotten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, select, update

from recsys.catalog_db.ids import content_hash
from recsys.catalog_db.postings import CHUNK, UpsertResult, _py
from recsys.catalog_db.schema import SEEKER_FIELDS, deleted_users, seekers

#: a profile's flags when a feed leaves them out: discoverable is an opt-out
FLAG_DEFAULTS = {"wants_remote": False, "relocate": False, "discoverable": True}


class SeekerTable:
    """Profiles by user id; deleting one leaves a tombstone that training sets honour."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def upsert(self, frame: pd.DataFrame, now: datetime) -> UpsertResult:
        """Insert or update profiles by `user_id`; an unchanged profile writes nothing."""
        records = [{k: _py(v) for k, v in r.items()} for r in frame.to_dict("records")]
        inserted = updated = unchanged = 0
        with self.engine.begin() as conn:
            for start in range(0, len(records), CHUNK):
                chunk = records[start : start + CHUNK]
                ids = [str(r["user_id"]) for r in chunk]
                old = dict(
                    conn.execute(
                        select(seekers.c.user_id, seekers.c.content_hash).where(
                            seekers.c.user_id.in_(ids)
                        )
                    ).all()
                )
                new_rows = []
                for rec in chunk:
                    row = _row(rec)
                    if row["user_id"] not in old:
                        created = rec.get("created_at") or now  # a feed may know the signup
                        new_rows.append({**row, "created_at": created, "updated_at": now})
                    elif old[row["user_id"]] != row["content_hash"]:
                        conn.execute(
                            update(seekers)
                            .where(seekers.c.user_id == row["user_id"])
                            .values(**row, updated_at=now)
                        )
                        updated += 1
                    else:
                        unchanged += 1
                if new_rows:
                    conn.execute(seekers.insert(), new_rows)
                    inserted += len(new_rows)
        return UpsertResult(inserted, updated, unchanged)

    def put(self, user_id: str, profile: dict[str, Any], now: datetime) -> bool:
        """Store one profile; True when it was new."""
        result = self.upsert(pd.DataFrame([{**profile, "user_id": user_id}]), now)
        return result.inserted == 1

    def get(self, user_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(seekers).where(seekers.c.user_id == user_id)).first()
        return None if row is None else dict(row._mapping)

    def existing(self, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` have a stored profile (one query per 2,000 ids)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(user_ids), CHUNK):
                chunk = user_ids[start : start + CHUNK]
                found.update(
                    conn.execute(select(seekers.c.user_id).where(seekers.c.user_id.in_(chunk)))
                    .scalars()
                    .all()
                )
        return found

    def discoverable(self, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` have a stored profile that employers may see (one query per 2,000
        ids): the check a candidate list passes right before it is answered, so an opt-out or a
        deletion in any process takes effect at once."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(user_ids), CHUNK):
                chunk = user_ids[start : start + CHUNK]
                query = select(seekers.c.user_id).where(
                    seekers.c.user_id.in_(chunk), seekers.c.discoverable.is_(True)
                )
                found.update(conn.execute(query).scalars().all())
        return found

    def delete(self, user_id: str, now: datetime) -> bool:
        """Remove the profile and record the deletion; True when a profile existed."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(seekers).where(seekers.c.user_id == user_id)).rowcount
            conn.execute(delete(deleted_users).where(deleted_users.c.user_id == user_id))
            conn.execute(deleted_users.insert().values(user_id=user_id, deleted_at=now))
        return bool(gone)

    def deleted(self) -> pd.DataFrame:
        """(user_id, deleted_at) of every forgotten user."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deleted_users)).mappings().all()
        return pd.DataFrame(rows, columns=["user_id", "deleted_at"])

    def frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(select(seekers).order_by(seekers.c.user_id)).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in seekers.columns])

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(seekers)).scalar_one())


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    row = {f: rec.get(f) for f in SEEKER_FIELDS}
    row["user_id"] = str(rec["user_id"])
    row["skills"] = list(row["skills"] or [])
    row["location"] = row["location"] or ""
    for flag, default in FLAG_DEFAULTS.items():
        row[flag] = default if row[flag] is None else bool(row[flag])
    row["source"] = row["source"] or "api"
    row["content_hash"] = content_hash(row, SEEKER_FIELDS)
    return row
