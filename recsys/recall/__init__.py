"""Recall: the taxonomy-tuned title encoder and the vector index over the job catalog."""
