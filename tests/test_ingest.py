"""Imports of a board's files: validation with line numbers, upserts, re-imports, feeds."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from recsys.catalog_db import CatalogStore
from recsys.ingest.mapping import Mapping, mapping_for, parse_map
from recsys.ingest.runner import import_postings, import_seekers

NOW = datetime(2026, 12, 2, 9, 0)


@pytest.fixture
def store(tmp_path: Path) -> CatalogStore:
    return CatalogStore.open(f"sqlite:///{tmp_path / 'catalog.sqlite'}", migrate=True)


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


BOARD = [
    {
        "id": "m-1",
        "job_title": "Cashiers & Valets Needed!",
        "employer": "Macy's",
        "where": "Garden City, NY",
        "wfh": "no",
    },
    {
        "id": "m-2",
        "job_title": "Seasonal Retail Fragrance Cashier",
        "employer": "Macy's",
        "where": "Roosevelt Field, NY",
        "wfh": "0",
    },
    {"id": "m-3", "job_title": "", "employer": "Macy's", "where": "Austin, TX", "wfh": "no"},
    {"id": "m-4", "job_title": "Barista", "employer": "Cafe", "where": "", "wfh": "maybe"},
    {"id": "m-1", "job_title": "Cashier (dup)", "employer": "Macy's", "where": "NY", "wfh": "no"},
    {
        "id": "m-5",
        "job_title": "Remote Customer Care",
        "employer": "Acme",
        "where": "",
        "wfh": "yes",
    },
]
BOARD_MAP = "external_id=id,title=job_title,company=employer,location=where,remote=wfh"


def test_bad_rows_go_to_the_rejects_file_with_line_and_reason(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "board.csv", BOARD)
    rejects = tmp_path / "rejects.csv"
    summary = import_postings(
        store, path, mapping_for(None, BOARD_MAP), source="board", now=NOW, rejects_path=rejects
    )
    assert (summary.read, summary.inserted, summary.rejected) == (6, 3, 3)
    bad = pd.read_csv(rejects)
    assert bad["line"].tolist() == [4, 5, 6]
    assert "title" in bad["reason"][0]
    assert "yes/no" in bad["reason"][1]
    assert "repeats line 2" in bad["reason"][2]
    frame = store.postings.frame().set_index("external_id")
    assert frame.loc["m-1", "state"] == "NY" and abs(frame.loc["m-1", "lat"] - 40.7) < 0.3
    assert bool(frame.loc["m-5", "remote"]) is True


def test_reimport_changes_nothing_and_close_missing_closes_the_rest(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "board.csv", BOARD)
    mapping = mapping_for(None, BOARD_MAP)
    kw = {"source": "board", "rejects_path": tmp_path / "r.csv"}
    import_postings(store, path, mapping, now=NOW, **kw)  # type: ignore[arg-type]
    seq = store.postings.max_seq()
    again = import_postings(store, path, mapping, now=NOW, **kw)  # type: ignore[arg-type]
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert store.postings.max_seq() == seq
    shorter = write_csv(tmp_path / "board2.csv", [BOARD[0]])
    feed = import_postings(
        store,
        shorter,
        mapping,
        now=NOW,
        close_missing=True,
        **kw,  # type: ignore[arg-type]
    )
    assert feed.closed == 2
    assert store.postings.count("open") == 1


def test_jsonl_and_parquet_read_the_same_postings(store: CatalogStore, tmp_path: Path) -> None:
    good = {
        "external_id": "j1",
        "title": "Dishwasher",
        "company": "Diner",
        "city": "Austin",
        "state": "TX",
        "skills": "Cleaning|Food safety",
    }
    jsonl = tmp_path / "feed.jsonl"
    jsonl.write_text(json.dumps(good) + "\n{broken\n" + json.dumps({**good, "external_id": "j2"}))
    summary = import_postings(
        store, jsonl, Mapping(), source="j", now=NOW, rejects_path=tmp_path / "r.csv"
    )
    assert (summary.inserted, summary.rejected) == (2, 1)
    assert "line 2" in summary.first_rejects[0]
    parquet = tmp_path / "feed.parquet"
    pd.DataFrame([{**good, "external_id": "p1"}]).to_parquet(parquet)
    import_postings(store, parquet, Mapping(), source="p", now=NOW, rejects_path=tmp_path / "r")
    row = store.postings.frame().set_index("external_id").loc["p1"]
    assert row["skills"] == ["Cleaning", "Food safety"] and row["title"] == "Dishwasher"


def test_a_wrong_mapping_fails_before_anything_is_written(
    store: CatalogStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "board.csv", BOARD)
    with pytest.raises(ValueError, match="lacks"):
        import_postings(
            store,
            path,
            mapping_for(None, "title=nope"),
            source="b",
            now=NOW,
            rejects_path=tmp_path / "r.csv",
        )
    with pytest.raises(ValueError, match="unknown fields"):
        import_postings(
            store,
            path,
            mapping_for(None, "colour=id"),
            source="b",
            now=NOW,
            rejects_path=tmp_path / "r.csv",
        )
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_map("title")
    assert store.postings.count() == 0


def test_linkedin_preset_joins_skills_and_pay(
    store: CatalogStore, tmp_path: Path, data_dir: Path
) -> None:
    base = data_dir / "linkedin_2023_arshkon"
    dump = tmp_path / "linkedin"
    dump.mkdir()
    for name in ("skills.csv", "job_skills.csv", "salaries.csv"):
        shutil.copy(base / name, dump / name)
    head = pd.read_csv(base / "job_postings.csv", nrows=300)
    head.to_csv(dump / "job_postings.csv", index=False)
    summary = import_postings(
        store,
        dump / "job_postings.csv",
        mapping_for("linkedin-2023", None),
        source="linkedin",
        now=NOW,
        rejects_path=tmp_path / "r.csv",
    )
    assert summary.inserted + summary.rejected == 300 and summary.inserted > 250
    rows = store.postings.frame()
    assert (rows["skills"].map(len) > 0).mean() > 0.9
    assert rows["salary_min"].notna().sum() > 20
    assert rows["company"].str.startswith("company ").all()


def test_users_import(store: CatalogStore, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "users.csv",
        [
            {"user_id": "u1", "title": "Cashier", "location": "Queens, NY", "discoverable": "yes"},
            {"user_id": "u2", "title": "", "location": "Austin, TX", "discoverable": "no"},
        ],
    )
    summary = import_seekers(
        store, path, Mapping(), source="board", now=NOW, rejects_path=tmp_path / "r.csv"
    )
    assert (summary.inserted, summary.rejected) == (1, 1)
    row = store.seekers.get("u1")
    assert row is not None and row["discoverable"] is True and row["lat"] is not None
