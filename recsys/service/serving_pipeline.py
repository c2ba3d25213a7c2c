"""The pipeline one title encoder serves over the catalog database: its occupation centroids, the
postings' derived data (read back when this encoder made it, else embedded in bulk and stored),
the Recommender, and the postings already closed taken out of its index.

The loader builds it once at start; the encoder follower builds another off the request path
when a new encoder becomes champion, and may bring the job index released with that encoder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from recsys.catalog_db import CatalogStore
from recsys.data.taxonomy import Taxonomy
from recsys.pipeline.build import build_recommender
from recsys.pipeline.recommender import Recommender
from recsys.ranking.fine import ApplyRateModel
from recsys.recall.encoder import TitleEncoder
from recsys.recall.index_columns import FilterColumns
from recsys.recall.job_index import JobIndex, JobIndexError
from recsys.recall.occupations import OccupationIndex
from recsys.service.catalog_source import CatalogRows, load_rows
from recsys.service.clock import Clock
from recsys.settings import Settings

log = logging.getLogger(__name__)


def encoder_label(encoder: TitleEncoder) -> str:
    """The encoder's entry in the responses' model versions."""
    return f"{encoder.name}:{encoder.fingerprint[:12]}"


def serving_pipeline(
    settings: Settings,
    catalog_store: CatalogStore,
    encoder: TitleEncoder,
    taxonomy: Taxonomy,
    clock: Clock,
    *,
    ranker: ApplyRateModel | None = None,
    released_index: Path | None = None,
) -> tuple[Recommender, CatalogRows]:
    """The Recommender over every posting of the catalog database, and the rows it was built
    from (their `seq` is where the change feed goes on); `released_index` is a saved job index
    to use when it holds exactly the open postings (see `reuse_index`)."""
    occupations = OccupationIndex.load_or_build(encoder, taxonomy, settings.artifacts_dir)
    rows = load_rows(catalog_store, encoder, occupations, taxonomy)
    if len(rows.jobs) == 0:
        raise FileNotFoundError(
            "the catalog database holds no postings: import some with `recsys catalog import "
            "FILE`, or run `make demo`"
        )
    is_open = rows.jobs["expires_at"].to_numpy("datetime64[s]") > clock()
    index = None if released_index is None else reuse_index(released_index, encoder, rows, is_open)
    recommender = build_recommender(
        rows.jobs,
        taxonomy,
        encoder,
        ranker=ranker,
        settings=settings,
        occupations=occupations,
        derived=(rows.embeddings, rows.occupation),
        index=index,
    )
    closed = rows.jobs["job_id"].to_numpy(np.int64)[~is_open]
    recommender.index.remove(closed)  # closed or lapsed
    return recommender, rows


def reuse_index(
    folder: Path, encoder: TitleEncoder, rows: CatalogRows, is_open: np.ndarray
) -> JobIndex | None:
    """The saved index at `folder` when this encoder built it over exactly the open postings of
    `rows`, else None (it is built from the rows instead).

    What is reused is the trained structure (IVF centroids, the slow part on a large catalog):
    every open posting's row is written again from `rows`, so a posting that changed after the
    index was saved is searched as it is now.
    """
    try:
        index = JobIndex.load(folder, expected_fingerprint=encoder.fingerprint)
    except (JobIndexError, OSError, ValueError) as exc:
        log.warning("not using the released job index: %s", exc)
        return None
    open_ids = rows.jobs["job_id"].to_numpy(np.int64)[is_open]
    if len(index) != len(open_ids) or not np.isin(index.job_ids, open_ids).all():
        log.info(
            "the released job index holds %d postings, the catalog %d open ones; building one",
            len(index),
            len(open_ids),
        )
        return None
    fresh = rows.jobs[is_open].reset_index(drop=True)
    index.add_columns(FilterColumns.from_catalog(fresh), rows.embeddings[is_open])
    return index
