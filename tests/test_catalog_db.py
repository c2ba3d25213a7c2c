"""One contract for the catalog database: the same tests on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from postgres_service import throwaway_database

from recsys.catalog_db import CatalogNotMigratedError, CatalogStore
from recsys.catalog_db.engine import check_migrated, open_engine, upgrade
from recsys.catalog_db.ids import job_id_for

NOW = datetime(2026, 12, 2, 9, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    else:
        with throwaway_database() as url:
            yield url


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    s = CatalogStore.open(catalog_url, migrate=True)
    yield s
    s.close()


def posting(external_id: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "external_id": external_id,
        "source": "feed",
        "title": "Cashier",
        "company": "Macy's",
        "company_id": 7,
        "employer_id": "e1",
        "city": "Garden City",
        "state": "NY",
        "country": "US",
        "lat": 40.72,
        "lon": -73.63,
        "remote": False,
        "seniority": 1,
        "job_zone": -1,
        "skills": ["Customer service"],
        "salary_min": None,
        "salary_max": None,
        "employer_rating": None,
        "posted_at": None,
        "expires_at": None,
        "status": "open",
    }
    row.update(over)
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_unmigrated_database_is_refused_with_the_fix(catalog_url: str) -> None:
    with pytest.raises(CatalogNotMigratedError, match="recsys db upgrade"):
        CatalogStore.open(catalog_url)
    engine = open_engine(catalog_url)
    assert upgrade(engine) == "0002"
    check_migrated(engine)  # no error once at head
    assert upgrade(engine) == "0002"  # running it again is harmless
    engine.dispose()


def test_upsert_is_idempotent_and_counts_changes(store: CatalogStore) -> None:
    first = store.postings.upsert(frame(posting("a"), posting("b", title="Valet")), NOW)
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    seq = store.postings.max_seq()
    again = store.postings.upsert(frame(posting("a"), posting("b", title="Valet")), NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert store.postings.max_seq() == seq  # nothing written, no change-feed entry
    later = NOW + timedelta(days=1)
    changed = store.postings.upsert(frame(posting("a", title="Head Cashier")), later)
    assert (changed.inserted, changed.updated) == (0, 1)
    row = store.postings.get(changed.job_ids[0])
    assert row is not None
    assert row["title"] == "Head Cashier"
    assert row["posted_at"] == NOW  # a feed without dates keeps the first-seen time
    assert row["expires_at"] == NOW + timedelta(days=30)
    assert row["updated_at"] == later


def test_job_ids_keep_numeric_board_ids_and_hash_the_rest() -> None:
    assert job_id_for("3757940104") == 3757940104
    hashed = job_id_for("macys-1234")
    assert hashed == job_id_for("macys-1234") and 0 < hashed < 2**62
    assert hashed != job_id_for("macys-1235")


def test_change_feed_follows_every_write(store: CatalogStore) -> None:
    store.postings.upsert(frame(posting("a"), posting("b")), NOW)
    seen = store.postings.max_seq()
    store.postings.upsert(frame(posting("b", title="Valet")), NOW)
    job_b = job_id_for("b")
    assert store.postings.close([job_b], NOW + timedelta(hours=1)) == 1
    assert store.postings.close([job_b], NOW + timedelta(hours=2)) == 0  # already closed
    changes = store.postings.frame(since_seq=seen)
    assert changes["job_id"].tolist() == [job_b]  # the feed holds each posting's latest state
    last = changes.iloc[-1]
    assert last["status"] == "closed"
    assert last["expires_at"] == NOW + timedelta(hours=1)
    assert store.postings.frame(since_seq=int(changes["seq"].max())).empty


def test_close_missing_closes_only_that_source(store: CatalogStore) -> None:
    store.postings.upsert(frame(posting("a"), posting("b"), posting("c", source="api")), NOW)
    assert store.postings.close_missing("feed", ["a"], NOW) == 1
    status = store.postings.frame().set_index("external_id")["status"].to_dict()
    assert status == {"a": "open", "b": "closed", "c": "open"}


def test_derived_data_is_kept_until_the_title_changes(store: CatalogStore) -> None:
    store.postings.upsert(frame(posting("a"), posting("b")), NOW)
    ids = [job_id_for("a"), job_id_for("b")]
    emb = np.arange(8, dtype=np.float32).reshape(2, 4)
    store.postings.set_derived(ids, ["41-2011.00", "41-2011.00"], emb, "fp1")
    store.postings.upsert(frame(posting("a", salary_min=30000.0)), NOW)  # title unchanged
    store.postings.upsert(frame(posting("b", title="Valet")), NOW)
    rows = store.postings.frame().set_index("external_id")
    assert np.frombuffer(rows.loc["a", "embedding"], np.float32).tolist() == [0, 1, 2, 3]
    assert rows.loc["a", "encoder_fingerprint"] == "fp1"
    assert rows.loc["b", "embedding"] is None and pd.isna(rows.loc["b", "encoder_fingerprint"])


def test_concurrent_writers_get_distinct_ordered_sequence_numbers(store: CatalogStore) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                store.postings.upsert(frame(posting(f"w{worker}-{i}")), NOW)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = store.postings.frame()["seq"].tolist()
    assert sorted(seqs) == list(range(1, 31))


def test_seekers_put_get_delete_leaves_a_tombstone(store: CatalogStore) -> None:
    profile = {"title": "Line Cook", "skills": ["Cooking"], "location": "Austin, TX"}
    assert store.seekers.put("u1", profile, NOW) is True
    assert store.seekers.put("u1", profile, NOW) is False
    row = store.seekers.get("u1")
    assert row is not None and row["title"] == "Line Cook" and row["created_at"] == NOW
    assert store.seekers.delete("u1", NOW) is True
    assert store.seekers.get("u1") is None
    assert store.seekers.deleted()["user_id"].tolist() == ["u1"]
    assert store.seekers.delete("u1", NOW) is False  # gone already; the tombstone stays one


def test_seekers_are_discoverable_unless_they_opt_out(store: CatalogStore) -> None:
    store.seekers.put("open", {"title": "Nurse", "skills": []}, NOW)
    store.seekers.put("hidden", {"title": "Nurse", "skills": [], "discoverable": False}, NOW)
    store.seekers.put("mover", {"title": "Nurse", "skills": [], "relocate": True}, NOW)
    rows = store.seekers.frame().set_index("user_id")
    assert rows["discoverable"].to_dict() == {"hidden": False, "mover": True, "open": True}
    assert rows["relocate"].to_dict() == {"hidden": False, "mover": True, "open": False}
    values = {"user_id": "raw", "title": "Nurse", "skills": "[]", "location": "", "source": "sql"}
    values |= {"wants_remote": False, "relocate": False, "content_hash": "x"}
    bare = sa.table("seekers", *(sa.column(n) for n in (*values, "created_at", "updated_at")))
    with store.engine.begin() as conn:  # a writer that names no flag gets the server default
        conn.execute(bare.insert().values(**values, created_at=NOW, updated_at=NOW))
    assert store.seekers.get("raw")["discoverable"] is True  # type: ignore[index]


def test_employer_keys_verify_until_revoked(store: CatalogStore) -> None:
    made = store.keys.create("e1", NOW, label="ci")
    other = store.keys.create("e2", NOW)
    assert made.key.startswith("rk_") and len(made.key) > 40 and made.key != other.key
    assert store.keys.verify(made.key) == "e1" and store.keys.verify(other.key) == "e2"
    assert store.keys.verify(made.key + "x") is None and store.keys.verify("") is None
    listed = store.keys.frame("e1")
    assert listed["key_id"].tolist() == [made.key_id] and listed["label"].tolist() == ["ci"]
    assert "key_hash" not in listed.columns
    with store.engine.connect() as conn:  # only the hash is stored
        stored = conn.exec_driver_sql("SELECT key_hash FROM employer_keys").scalars().all()
    assert made.key not in stored and len(stored[0]) == 64
    assert store.keys.revoke(made.key_id, NOW) is True
    assert store.keys.verify(made.key) is None and store.keys.verify(other.key) == "e2"
    assert store.keys.revoke(made.key_id, NOW) is False
    revoked = store.keys.frame().set_index("key_id")["revoked_at"].notna().to_dict()
    assert revoked == {made.key_id: True, other.key_id: False}
    with pytest.raises(ValueError, match="employer id"):
        store.keys.create(" ", NOW)


def test_posting_employers_are_read_in_bulk(store: CatalogStore) -> None:
    result = store.postings.upsert(
        frame(posting("a1"), posting("a2", employer_id=None), posting("a3", employer_id="e2")),
        NOW,
    )
    a1, a2, a3 = result.job_ids
    owners = store.postings.employers([a1, a2, a3, 999_999])
    assert owners == {a1: "e1", a2: None, a3: "e2"}


def test_sqlite_schema_matches_the_migration(tmp_path: Path) -> None:
    """The Core tables and the migration describe the same schema (no autogenerate drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from recsys.catalog_db.schema import metadata

    engine = open_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
