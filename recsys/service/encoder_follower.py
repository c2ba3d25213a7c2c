"""Follow the registry's title-encoder champion: a promoted encoder reaches a running service
together with the index over its vectors, without a restart.

The query vector and the job index must come from one encoder (vectors of two encoders are not
comparable), so the encoder is never swapped alone. When the `title-encoder` champion moves, the
follower downloads the encoder (and the job index released with it, when its run logged one),
loads it, and builds everything that depends on it off the request path
(`serving_pipeline`): occupation centroids, the catalog's embeddings (read back from the catalog
database when this encoder made them, else embedded in bulk and stored there), the job index
(the released one when it holds exactly the open postings, else built). The service then swaps
the new pipeline in with one assignment after catching it up with the catalog changes committed
during the build (`RecommendationService.swap_encoder`). A champion that does not load leaves the
current pair serving and is logged; the next poll tries it again.
"""

from __future__ import annotations

from typing import Final

from recsys.recall.encoder import EncoderError, TitleEncoder
from recsys.registry.mlflow_registry import ENCODER_MODEL, ModelRegistry, Version
from recsys.service.champion import AliasFollower
from recsys.service.service import RecommendationService
from recsys.service.serving_pipeline import encoder_label, serving_pipeline
from recsys.settings import Settings

#: where `register_encoder` logs the job index built with the encoder, beside the model
INDEX_ARTIFACT: Final[str] = "index"


class EncoderFollower(AliasFollower):
    """A thread that swaps a new title-encoder champion, with its index, into a running
    service (module docstring)."""

    model_name = ENCODER_MODEL
    what = "encoder"
    # JobIndexError is a RuntimeError; onnxruntime raises its own RuntimeErrors on a bad graph
    load_errors = (ValueError, OSError, RuntimeError, EncoderError)

    def __init__(
        self,
        service: RecommendationService,
        registry: ModelRegistry,
        settings: Settings,
        loaded_version: str | None,
    ):
        self.service = service
        self.settings = settings
        super().__init__(registry, settings.model_poll_s, loaded_version)

    def adopt(self, version: Version) -> str:
        encoder = TitleEncoder.load(self.registry.download(version))
        label = f"{encoder_label(encoder)} ({ENCODER_MODEL} v{version.version})"
        if encoder.fingerprint == self.service.recommender.encoder.fingerprint:
            return label  # the champion is the encoder serving: nothing to rebuild
        released = self.registry.download_run_artifact(version, INDEX_ARTIFACT)
        feed = self.service.postings.feed
        recommender, rows = serving_pipeline(
            self.settings,
            feed.store,
            encoder,
            feed.taxonomy,
            self.service.clock,
            released_index=released,
        )
        self.service.swap_encoder(recommender, rows.seq)
        return label
