"""Assemble a Recommender from a job catalog, an encoder and (optionally) a trained ranker.

The expensive parts are cached on disk under the artifacts folder, keyed by what decides them:
catalog embeddings and the job index by (encoder fingerprint, catalog content), occupation
centroids by encoder fingerprint. A second start over the same catalog and encoder loads them
instead of re-encoding 100k titles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.core.candidates import Stage
from recsys.core.catalog import ServingCatalog
from recsys.core.popularity import Popularity
from recsys.data.taxonomy import Taxonomy
from recsys.jobs import check_catalog
from recsys.pipeline.recommender import Recommender
from recsys.ranking.balance import CongestionBalance
from recsys.ranking.coarse import CoarseStage, CoarseWeights
from recsys.ranking.fine import ApplyRateModel, FineStage
from recsys.ranking.rerank import RerankPolicy, RerankStage
from recsys.recall.encoder import METADATA_FILE, ProgressCallback, TitleEncoder
from recsys.recall.job_index import JobIndex, JobIndexError
from recsys.recall.occupations import CANDIDATES, CODER_VERSION, SKILL_WEIGHT, OccupationIndex
from recsys.recall.sources import SourceQuotas
from recsys.recall.stage import RadiusWidening, RecallStage
from recsys.settings import Settings, get_settings


def serving_encoder(settings: Settings) -> str:
    """The encoder to serve: the configured one (RECSYS_ENCODER_MODEL), else the demo's
    fine-tuned one when the demo has trained one, else the base model."""
    demo = settings.artifacts_dir / "demo" / "encoder"
    configured = "encoder_model" in settings.model_fields_set
    if not configured and (demo / METADATA_FILE).is_file():
        return str(demo)
    return settings.encoder_model


def embed_titles(
    encoder: TitleEncoder, titles: pd.Series, on_progress: ProgressCallback | None = None
) -> np.ndarray:
    """Embeddings of a title column (the encoder's bulk path: each distinct title once, batched
    by token count on every core)."""
    return encoder.encode(titles.astype(str).tolist(), on_progress=on_progress)


def catalog_digest(jobs: pd.DataFrame) -> str:
    """Hash of the columns the embeddings, occupations and the index depend on, and of the
    posting coder's settings (a cache made under other settings holds other occupations)."""
    cols = jobs[["job_id", "title", "lat", "lon", "remote", "job_zone", "expires_at"]].assign(
        skills=jobs["skills"].map(lambda s: "|".join(s) if s is not None else "")
    )
    hashed = pd.util.hash_pandas_object(cols, index=False).to_numpy()
    coder = f"{CANDIDATES}/{SKILL_WEIGHT}/{CODER_VERSION}".encode()
    return hashlib.sha256(hashed.tobytes() + coder).hexdigest()[:16]


@dataclass
class CatalogVectors:
    """A catalog's embeddings, inferred occupations and job index, for one encoder."""

    embeddings: np.ndarray
    occupation: np.ndarray
    index: JobIndex


def catalog_vectors(
    jobs: pd.DataFrame,
    taxonomy: Taxonomy,
    encoder: TitleEncoder,
    occupations: OccupationIndex,
    cache_dir: Path | None,
    *,
    on_progress: ProgressCallback | None = None,
) -> CatalogVectors:
    """Embed, classify (title and skills) and index the catalog, or load all three from
    `cache_dir`. `on_progress` follows the embedding (see `TitleEncoder.encode`)."""
    folder = None
    if cache_dir is not None:
        folder = Path(cache_dir) / f"{encoder.fingerprint[:16]}-{catalog_digest(jobs)}"
        try:
            index = JobIndex.load(folder / "index", expected_fingerprint=encoder.fingerprint)
            return CatalogVectors(
                np.load(folder / "embeddings.npy"), np.load(folder / "occupation.npy"), index
            )
        except (JobIndexError, FileNotFoundError, OSError):
            pass
    embeddings = embed_titles(encoder, jobs["title"], on_progress)
    occupation, _ = occupations.classify(embeddings, taxonomy.skill_matrix(jobs["skills"]))
    index = JobIndex.from_catalog(jobs, embeddings, encoder.fingerprint)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "embeddings.npy", embeddings)
        np.save(folder / "occupation.npy", occupation)
        index.save(folder / "index")
    return CatalogVectors(embeddings, occupation, index)


def build_recommender(
    jobs: pd.DataFrame,
    taxonomy: Taxonomy,
    encoder: TitleEncoder,
    *,
    ranker: ApplyRateModel | None = None,
    popularity: Popularity | None = None,
    settings: Settings | None = None,
    cache: bool = True,
    occupations: OccupationIndex | None = None,
    derived: tuple[np.ndarray, np.ndarray] | None = None,
    index: JobIndex | None = None,
) -> Recommender:
    """recall -> coarse -> fine -> rerank over `jobs`; coarse-only fine stage when no ranker.

    `derived` (embeddings, occupation indices) skips the encoding, when the catalog database
    already holds them for this encoder; the index is then built over them, unless `index` (one
    already built over them by this encoder, e.g. released with it) is given.
    """
    settings = settings or get_settings()
    jobs = check_catalog(jobs)
    cache_dir = settings.artifacts_dir / "catalog_cache" if cache else None
    if occupations is None:
        occupations = (
            OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
            if cache
            else OccupationIndex.build(encoder, taxonomy)
        )
    if derived is not None:
        embeddings, occupation = derived
        if index is None:
            index = JobIndex.from_catalog(jobs, embeddings, encoder.fingerprint)
        elif index.fingerprint != encoder.fingerprint:
            raise ValueError("the index given was built by another encoder")
        vectors = CatalogVectors(embeddings, occupation, index)
    else:
        vectors = catalog_vectors(jobs, taxonomy, encoder, occupations, cache_dir)
    catalog = ServingCatalog.build(
        jobs, taxonomy, vectors.embeddings, vectors.occupation, popularity
    )
    stages: list[Stage] = [
        RecallStage(
            vectors.index,
            catalog,
            settings.recall_k,
            RadiusWidening.from_settings(settings),
            SourceQuotas.from_settings(settings),
        ),
        CoarseStage(catalog, CoarseWeights.from_settings(settings), settings.coarse_k),
        FineStage(catalog, ranker),
        RerankStage(
            catalog,
            RerankPolicy.from_settings(settings),
            CongestionBalance.from_settings(settings) if settings.rerank_balance_strength else None,
        ),
    ]
    return Recommender(encoder, occupations, catalog, stages)
