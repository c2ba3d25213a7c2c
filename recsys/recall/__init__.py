"""Recall: the taxonomy-tuned title encoder, the vector index over the job catalog, and the
retrieval evaluation the encoder is trained and released against."""
