"""`recsys index build`: embed, classify and index a catalog ahead of serving."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from recsys.cli.console import console, kv_table, progress, progress_callback

app = typer.Typer(help="The FAISS job index.", no_args_is_help=True)


@app.command()
def build(
    market: Path = typer.Option(..., "--market", help="a market folder (its jobs.parquet)"),
    encoder: str | None = typer.Option(None, "--encoder", help="'base' or an encoder folder"),
    out: Path | None = typer.Option(None, "--out", help="also save the index here"),
) -> None:
    """Build the index the service loads for this catalog and encoder (into the catalog cache)."""
    from recsys.data.taxonomy import load_taxonomy
    from recsys.jobs import load_catalog
    from recsys.pipeline.build import catalog_vectors
    from recsys.recall.encoder import TitleEncoder
    from recsys.recall.occupations import OccupationIndex
    from recsys.settings import get_settings

    settings = get_settings()
    jobs = load_catalog(market / "jobs.parquet")
    taxonomy = load_taxonomy(settings.data_dir)
    title_encoder = TitleEncoder.load(encoder or settings.encoder_model)
    t0 = time.perf_counter()
    console.print(f"embedding and indexing {len(jobs):,} jobs")
    with progress() as bar:
        occupations = OccupationIndex.load_or_build(
            title_encoder,
            taxonomy,
            settings.artifacts_dir,
            progress_callback(bar, "O*NET titles"),
        )
        vectors = catalog_vectors(
            jobs,
            taxonomy,
            title_encoder,
            occupations,
            settings.artifacts_dir / "catalog_cache",
            on_progress=progress_callback(bar, "job titles"),
        )
    seconds = time.perf_counter() - t0
    if out is not None:
        vectors.index.save(out)
    console.print(
        kv_table(
            "job index",
            {
                "jobs": len(vectors.index),
                "kind": vectors.index.kind,
                "encoder": title_encoder.name,
                "fingerprint": title_encoder.fingerprint,
                "seconds (cache-aware)": round(seconds, 1),
                "saved to": str(out) if out else "catalog cache only",
            },
        )
    )
