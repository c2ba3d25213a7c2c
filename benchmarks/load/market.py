"""The simulated market the load benchmark serves: built once per config, copied per run."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.load.console import console
from benchmarks.load.server import recsys_command
from recsys.catalog_db import CatalogStore
from recsys.data.taxonomy import Taxonomy
from recsys.market.market import Market
from recsys.market.publish import posting_dates_now, publish_postings, publish_seekers


def prepare_market(bench_dir: Path, jobs: int, seekers: int, days: int, seed: int) -> Path:
    """The market folder for this config: built once with `recsys simulate`, then reused."""
    folder = bench_dir / f"market_j{jobs}_s{seekers}_d{days}_seed{seed}"
    if (folder / "market.json").is_file():
        console.print(f"market: reusing {folder}")
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    console.print(f"market: simulating {jobs:,} jobs, {seekers:,} seekers, {days} days")
    cmd = [*recsys_command(), "simulate", "--jobs", str(jobs), "--seekers", str(seekers)]
    cmd += ["--days", str(days), "--seed", str(seed), "--out", str(tmp), "--no-publish"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def publish_catalog(market: Path, taxonomy: Taxonomy, database: Path) -> str:
    """A fresh SQLite catalog database holding the market's postings and seekers, published at
    the wall clock's now (the server serves from the database, on the wall clock); its URL.
    The postings' dates move by `posting_dates_now`: a market simulated months ago would
    otherwise serve with every posting lapsed, and the load would measure empty lists."""
    database.unlink(missing_ok=True)
    url = f"sqlite:///{database.resolve()}"
    store = CatalogStore.open(url, migrate=True)
    try:
        loaded = Market.load(market, taxonomy)
        now = datetime.now(UTC).replace(tzinfo=None)
        publish_postings(store, posting_dates_now(loaded.jobs, now), now)
        publish_seekers(store, loaded.seekers, now)
    finally:
        store.close()
    return url


def fresh_copy(market: Path, dest: Path) -> Path:
    """A copy the server may write into (it drains events and logs features into the folder)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(market, dest)
    return dest


def link_shared_caches(shared: Path, artifacts: Path) -> list[str]:
    """Point the dedicated artifacts folder at the encoder's ONNX export and occupation-title
    vectors already built in the shared one (both keyed by the encoder's fingerprint)."""
    artifacts.mkdir(parents=True, exist_ok=True)
    linked: list[str] = []
    if shared.resolve() == artifacts.resolve():
        return linked
    for source in [shared / "encoder_cache", *sorted(shared.glob("occupation_titles_*.npz"))]:
        target = artifacts / source.name
        if source.exists() and not target.exists() and not target.is_symlink():
            target.symlink_to(source.resolve())
            linked.append(source.name)
    return linked
